"""The sale workflow without Slack: validation, fingerprints, tokens at rest, the states."""

from __future__ import annotations

import textwrap
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from bot.clock import ManualClock, SystemClock
from bot.config import ConfigurationError, Settings, load_locations
from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML, PAYMENT_TOKEN_KEY
from bot.vendor_clients import VendorClients
from bot.workflows.errors import Conflict, InvalidInput, SelfApproval
from bot.workflows.roles import (
    Actor,
    Role,
    Roles,
)
from bot.workflows.sales import (
    HOLDS_TOKENS,
    ApproveResult,
    PaymentInput,
    SaleDetails,
    SaleService,
    SaleStart,
    SaleStatus,
    SubmitResult,
    fingerprint,
    validate_start,
)
from bot.workflows.vault import TokenVault, VaultError
from storage.db import Database
from storage.models import AuditEvent, Sale
from vendors import Outcome, OutcomeKind

FRONT = Actor("T1", "UFRONT")
BOSS = Actor("T1", "UBOSS")
BOSS2 = Actor("T1", "UBOSS2")
TOKEN = "tok_profile_unit_5555"
MEMBER = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}


@pytest.fixture
def locations(tmp_path: Path) -> dict:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    return load_locations(path)


@pytest.fixture
def service(database_url: str, locations: dict, monkeypatch: pytest.MonkeyPatch) -> SaleService:
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)
    clock = ManualClock(datetime(2026, 11, 23, 15, tzinfo=UTC))
    roles = Roles(clock=clock)
    service = SaleService(
        db=Database(database_url),
        roles=roles,
        clients=VendorClients(Settings(database_url=database_url), locations),
        locations=locations,
        clock=clock,
        vault=TokenVault(PAYMENT_TOKEN_KEY),
        lease_seconds=30,
    )
    with service.db.session() as session:
        roles.grant(session, by="t", target=FRONT, role=Role.FRONT_DESK, location_id="downtown")
        for boss in (BOSS, BOSS2):
            roles.grant(session, by="t", target=boss, role=Role.MANAGER, location_id="downtown")
    return service


def draft(
    service: SaleService, *, package: str = "2001:3001", amount: str = "49.00", who: Actor = FRONT
) -> Sale:
    sale = service.start(
        who, SaleStart("downtown", package, start_date=date(2026, 11, 23), promo_code=None)
    )
    payments = (PaymentInput(amount=amount, token=TOKEN),) if amount else ()
    return service.add_details(who, sale.id, SaleDetails(member=MEMBER, payments=payments))


def test_start_date_follows_the_locations_time_zone(locations: dict) -> None:
    downtown = locations["downtown"]  # America/New_York
    raw = SaleStart("downtown", "2001:3001", start_date=date(2026, 11, 23))
    # 02:00 UTC on the 24th is still the 23rd in New York: "today" is allowed.
    with freeze_time("2026-11-24 02:00:00"):
        assert validate_start(downtown, raw, SystemClock().now()).package_id == 2001
    with freeze_time("2026-11-24 06:00:00"), pytest.raises(InvalidInput) as caught:
        validate_start(downtown, raw, SystemClock().now())
    assert "Tuesday, November 24" in caught.value.errors["start_date"]


def test_fingerprint_covers_every_part_of_the_sale() -> None:
    content = {"amount": "49.00", "member": dict(MEMBER), "promo_code": None}
    methods = [{"kind": "profile", "amount": "49.00", "token": TOKEN}]
    base = fingerprint(content, methods)
    assert base == fingerprint(dict(content), [dict(m) for m in methods])
    assert base != fingerprint({**content, "promo_code": "X"}, methods)
    assert base != fingerprint({**content, "member": {**MEMBER, "email": "b@x.io"}}, methods)
    assert base != fingerprint(content, [{**methods[0], "token": TOKEN + "0"}])
    assert base != fingerprint(content, [{**methods[0], "amount": "50.00"}])
    assert TOKEN not in base


def test_tokens_are_sealed_and_unreadable_without_the_key(service: SaleService) -> None:
    sale = draft(service)
    assert sale.sealed_tokens and TOKEN not in sale.sealed_tokens
    assert service.vault is not None
    assert service.vault.open(sale.sealed_tokens)[0]["token"] == TOKEN
    with pytest.raises(VaultError):
        TokenVault(TokenVault.new_key()).open(sale.sealed_tokens)
    rotated = TokenVault(f"{TokenVault.new_key()},{PAYMENT_TOKEN_KEY}")
    assert rotated.open(sale.sealed_tokens)[0]["token"] == TOKEN
    with pytest.raises(ConfigurationError):
        TokenVault("")
    assert sale.payments == [{"kind": "profile", "amount": "49.00", "last4": "5555"}]


def test_every_end_state_has_wiped_the_tokens(service: SaleService) -> None:
    rejected = draft(service)
    service.submit(FRONT, rejected.id, rejected.fingerprint)
    service.reject(BOSS, rejected.id, "no")
    withdrawn = draft(service)
    service.withdraw(FRONT, withdrawn.id)
    expired = draft(service)
    service.submit(FRONT, expired.id, expired.fingerprint)
    abandoned = draft(service)
    service.clock.advance(hours=25)  # type: ignore[attr-defined]
    assert [s.id for s in service.expire_due()] == [expired.id]
    with service.db.session() as session:
        for sale in session.query(Sale):
            held = SaleStatus(sale.status) in HOLDS_TOKENS
            assert (sale.sealed_tokens is not None) == held, sale.status
    assert service.get(abandoned.id).status == SaleStatus.CANCELLED


def test_self_approval_and_double_approval(service: SaleService) -> None:
    sale = draft(service, who=BOSS)
    assert service.submit(BOSS, sale.id, sale.fingerprint) is SubmitResult.PENDING_APPROVAL
    with pytest.raises(SelfApproval):
        service.approve(BOSS, sale.id, sale.fingerprint)
    assert service.approve(BOSS2, sale.id, sale.fingerprint) is ApproveResult.APPROVED
    assert service.approve(BOSS2, sale.id, sale.fingerprint) is ApproveResult.CLOSED


def test_above_the_limit_two_managers_approve(service: SaleService) -> None:
    sale = draft(service, package="2003:3003", amount="599.00")
    service.submit(FRONT, sale.id, sale.fingerprint)
    assert service.get(sale.id).required_approvals == 2
    assert service.approve(BOSS, sale.id, sale.fingerprint) is ApproveResult.RECORDED
    assert service.approve(BOSS, sale.id, sale.fingerprint) is ApproveResult.ALREADY_APPROVED_BY_YOU
    assert service.approve(BOSS2, sale.id, sale.fingerprint) is ApproveResult.APPROVED


def test_an_edit_voids_earlier_approvals(service: SaleService) -> None:
    sale = draft(service, package="2003:3003", amount="599.00")
    service.submit(FRONT, sale.id, sale.fingerprint)
    assert service.approve(BOSS, sale.id, sale.fingerprint) is ApproveResult.RECORDED
    # The cheaper package with the payment made to match (the token on file is kept).
    paid = SaleDetails(dict(MEMBER), (PaymentInput("49.00", None, "profile"),))
    edited, was_pending = service.edit(
        FRONT, sale.id, SaleStart("downtown", "2001:3001", date(2026, 11, 23), "SPRING"), paid
    )
    assert was_pending and edited.fingerprint != sale.fingerprint
    assert edited.required_approvals == 1 and edited.amount == "49.00"
    assert service.approve(BOSS2, sale.id, sale.fingerprint) is ApproveResult.CHANGED
    assert service.approvals(edited) == []  # the first approval was for the old sale
    assert service.approve(BOSS2, sale.id, edited.fingerprint) is ApproveResult.APPROVED
    with pytest.raises(Conflict):
        service.edit(FRONT, sale.id, SaleStart("downtown", "2001:3001", date(2026, 11, 24)))


def test_concurrent_approvals_queue_the_sale_once(service: SaleService) -> None:
    sale = draft(service)
    service.submit(FRONT, sale.id, sale.fingerprint)
    results: list[ApproveResult] = []
    barrier = threading.Barrier(10)

    def click(who: Actor) -> None:
        barrier.wait()
        results.append(service.approve(who, sale.id, sale.fingerprint))

    threads = [threading.Thread(target=click, args=([BOSS, BOSS2][n % 2],)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(ApproveResult.APPROVED) == 1
    claims = [service.claim_next(f"w{n}") for n in range(3)]
    assert sum(len(c) for c in claims) == 1


def test_a_late_answer_is_kept_beside_the_outcome_never_a_second_one(
    service: SaleService,
) -> None:
    """Issue 12, defect 2: the lease ran out, recovery settled the sale unknown; the
    vendor's answer arriving afterwards is recorded and visible, but the sale stays as
    it was settled (support reconciles it with the answer in view)."""
    sale = draft(service, who=BOSS)
    assert service.sell_now(BOSS, sale.id, sale.fingerprint) is SubmitResult.QUEUED
    assert service.claim_next("slow") == [sale.id]
    service.clock.advance(seconds=31)  # type: ignore[attr-defined]
    [recovered] = service.recover_abandoned()
    assert recovered.status == SaleStatus.UNKNOWN and recovered.sealed_tokens is None
    sold = Outcome(
        kind=OutcomeKind.SUCCEEDED,
        vendor="clubready",
        operation="contract_sale",
        message="Contract sold.",
        vendor_user_id="1007",
    )
    settled = service.lifecycle.settle(service.get(sale.id), sold, "slow")
    assert settled.late
    row = settled.row
    assert row.status == SaleStatus.UNKNOWN
    assert (row.late_outcome_kind, row.late_outcome_message) == ("succeeded", "Contract sold.")
    with service.db.session() as session:
        actions = [
            e.action
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.subject_id == sale.id).order_by(AuditEvent.id)
            )
        ]
    assert "sale.sold" not in actions and actions.count("sale.late_answer") == 1
    # A second late answer for the same attempt adds nothing.
    again = service.lifecycle.settle(service.get(sale.id), sold, "slow")
    assert again.late and again.row.status == SaleStatus.UNKNOWN
    with service.db.session() as session:
        late_events = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.subject_id == sale.id, AuditEvent.action == "sale.late_answer")
        )
    assert late_events == 1


def test_amounts_are_exact_decimals(service: SaleService) -> None:
    with pytest.raises(InvalidInput) as caught:
        draft(service, amount="49.001")
    assert "two decimals" in caught.value.errors["payment1_amount"]
    split = service.start(FRONT, SaleStart("downtown", "2001:3001", date(2026, 11, 23)))
    sale = service.add_details(
        FRONT,
        split.id,
        SaleDetails(
            member=MEMBER,
            payments=(
                PaymentInput(amount="$24.50", token=TOKEN),
                PaymentInput(amount="24.50", token="tok_acct_6666", kind="acct"),
            ),
        ),
    )
    assert sum(Decimal(p["amount"]) for p in sale.payments) == Decimal("49.00")


def test_one_payment_method_choice_with_one_token(service: SaleService) -> None:
    """The method is a choice (ProfileToken or AcctToken) and the token one field: a
    forged choice is refused on the choice, a missing token asks for that kind."""
    begun = service.start(FRONT, SaleStart("downtown", "2001:3001", date(2026, 11, 23)))
    for payment, field, says in (
        (PaymentInput(amount="49.00", token=TOKEN, kind="cash"), "payment1_method", "Choose"),
        (PaymentInput(amount="49.00", kind="acct"), "payment1_token", "Paste the AcctToken"),
        (PaymentInput(amount="49.00", token="x"), "payment1_token", "does not look like"),
    ):
        with pytest.raises(InvalidInput) as caught:
            service.add_details(FRONT, begun.id, SaleDetails(MEMBER, (payment,)))
        assert says in caught.value.errors[field], caught.value.errors


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("49,00", "Use a dot for the cents"),
        ("4,9", "Use a dot for the cents"),
        ("49.001", "two decimals"),
        ("10000", "At most the package's price, 49.00"),
        ("1,0000", "An amount like 49.00"),
    ],
)
def test_an_amount_is_never_misread(service: SaleService, typed: str, message: str) -> None:
    """A decimal comma is refused (it was read as 4900.00), and no method may try to
    charge more than the price."""
    with pytest.raises(InvalidInput) as caught:
        draft(service, amount=typed)
    assert message in caught.value.errors["payment1_amount"]


def test_thousands_separators_still_read(service: SaleService) -> None:
    annual = service.start(FRONT, SaleStart("downtown", "2003:3003", date(2026, 11, 23)))
    sale = service.add_details(
        FRONT,
        annual.id,
        SaleDetails(member=MEMBER, payments=(PaymentInput(amount="$599", token=TOKEN),)),
    )
    assert sale.payments[0]["amount"] == "599.00"

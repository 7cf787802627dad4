"""The shared vendor lifecycle (issue 12): "not sent" only before the first byte,
unknown after it; limits counted and queued under a lock; one retry per failure."""

from __future__ import annotations

import textwrap
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.clock import ManualClock
from bot.config import load_locations
from bot.devtools.stack import LOCATIONS_YAML, PAYMENT_TOKEN_KEY
from bot.workflows.errors import Conflict
from bot.workflows.lifecycle import NOT_SENT
from bot.workflows.resets import ConfirmResult, ResetInput, ResetService, ResetStatus
from bot.workflows.roles import Actor, Role, Roles
from bot.workflows.sales import (
    PaymentInput,
    SaleDetails,
    SaleService,
    SaleStart,
    SaleStatus,
    SubmitResult,
)
from bot.workflows.vault import TokenVault
from storage.db import Database
from storage.models import AuditEvent, ResetRequest
from vendors import Outcome, OutcomeKind, VendorConfigurationError

FRONTS = [Actor("T1", f"UF{n}") for n in range(10)]
SUPPORT = Actor("T1", "USUP")
BOSS = Actor("T1", "UBOSS")


class Adapter:
    """A vendor adapter that answers, or raises, as the test says."""

    vendor = "clubready"
    operation = "password_reset"
    name = "stub"
    issues_own_code = False

    def __init__(self) -> None:
        self.behave: Callable[[], Outcome] = lambda: Outcome(
            kind=OutcomeKind.SUCCEEDED, vendor="clubready", operation="x", message="done"
        )
        self.calls = 0

    def check(self, request: Any) -> None:
        pass

    def reset(self, identity: Any, *, reset_code: str | None = None) -> Outcome:
        self.calls += 1
        return self.behave()

    def sell(self, sale: Any) -> Outcome:
        self.calls += 1
        return self.behave()


class Clients:
    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter

    def resetter(self, location_id: str) -> Adapter:
        return self.adapter

    def seller(self, location_id: str) -> Adapter:
        return self.adapter


@pytest.fixture
def adapter() -> Adapter:
    return Adapter()


@pytest.fixture
def parts(database_url: str, tmp_path: Path) -> tuple[Database, Roles, dict, ManualClock]:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    clock = ManualClock(datetime(2026, 11, 30, 15, tzinfo=UTC))
    db = Database(database_url)
    roles = Roles(clock=clock)
    with db.session() as session:
        for person in FRONTS:
            roles.grant(session, by="t", target=person, role=Role.FRONT_DESK, location_id=None)
        roles.grant(session, by="t", target=SUPPORT, role=Role.SUPPORT, location_id=None)
        roles.grant(session, by="t", target=BOSS, role=Role.MANAGER, location_id=None)
    return db, roles, load_locations(path), clock


def _resets(parts: tuple, adapter: Adapter, **options: Any) -> ResetService:
    db, roles, locations, clock = parts
    return ResetService(
        db=db,
        roles=roles,
        clients=Clients(adapter),  # type: ignore[arg-type]
        locations=locations,
        clock=clock,
        **options,
    )


def _sales(parts: tuple, adapter: Adapter) -> SaleService:
    db, roles, locations, clock = parts
    return SaleService(
        db=db,
        roles=roles,
        clients=Clients(adapter),  # type: ignore[arg-type]
        locations=locations,
        clock=clock,
        vault=TokenVault(PAYMENT_TOKEN_KEY),
    )


def _send_one(service: ResetService, email: str = "jane@example.com") -> ResetRequest:
    request = service.prepare(FRONTS[0], "downtown", ResetInput(email=email))
    assert service.confirm(FRONTS[0], request.id) is ConfirmResult.QUEUED
    [claimed] = service.claim_next("w1")
    settled = service.execute(claimed, "w1")
    assert settled is not None
    return settled.row


def test_a_reset_that_never_left_is_not_sent_never_unknown(parts: tuple, adapter: Adapter) -> None:
    """Defect 4: a missing secret found when sending means nothing was sent."""

    def missing_secret() -> Outcome:
        raise VendorConfigurationError("environment variable FRONTDESK_X is not set")

    adapter.behave = missing_secret
    row = _send_one(_resets(parts, adapter))
    assert row.status == ResetStatus.FAILED
    assert row.outcome_message.startswith("not sent:")
    db = parts[0]
    with db.session() as session:
        assert (
            session.scalar(
                select(AuditEvent.details).where(
                    AuditEvent.subject_id == row.id, AuditEvent.action == "reset.failed"
                )
            )["code"]
            == NOT_SENT
        )


def test_anything_unexpected_once_the_request_may_have_left_is_unknown(
    parts: tuple, adapter: Adapter
) -> None:
    """Defect 5: an exception from the send itself is never "not sent"."""

    def broke_mid_call() -> Outcome:
        raise RuntimeError("connection reset while reading the answer")

    adapter.behave = broke_mid_call
    assert _send_one(_resets(parts, adapter)).status == ResetStatus.UNKNOWN


def _approved_sale(service: SaleService) -> str:
    sale = service.start(BOSS, SaleStart("downtown", "2001:3001", date(2026, 12, 1)))
    sale = service.add_details(
        BOSS,
        sale.id,
        SaleDetails(
            member={"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"},
            payments=(PaymentInput(amount="49.00", token="tok_profile_unit_1234"),),
        ),
    )
    assert service.sell_now(BOSS, sale.id, sale.fingerprint) is SubmitResult.QUEUED
    return sale.id


def test_a_sale_is_not_sold_only_when_nothing_left(parts: tuple, adapter: Adapter) -> None:
    """Defects 4 and 5 for sales: refused before sending is "not sold, nothing charged";
    an exception once ClubReady may have the request is unknown (tokens wiped, never
    resent)."""
    sales = _sales(parts, adapter)

    def missing_secret() -> Outcome:
        raise VendorConfigurationError("environment variable FRONTDESK_X is not set")

    adapter.behave = missing_secret
    first = _approved_sale(sales)
    [claimed] = sales.claim_next("w1")
    row = sales.execute(claimed, "w1").row
    assert (row.id, row.status, row.outcome_kind) == (first, SaleStatus.REFUSED, "unavailable")
    assert row.outcome_message.startswith("not sent:")

    def broke_mid_call() -> Outcome:
        raise ValueError("the answer could not be read")

    adapter.behave = broke_mid_call
    second = _approved_sale(sales)
    [claimed] = sales.claim_next("w1")
    row = sales.execute(claimed, "w1").row
    assert (row.id, row.status, row.sealed_tokens) == (second, SaleStatus.UNKNOWN, None)
    assert adapter.calls == 2


def test_concurrent_sends_for_one_member_pass_the_limit_once(
    parts: tuple, adapter: Adapter
) -> None:
    """Defect 9: ten people click Send for one member at the same moment; the hourly
    limit (3) holds, because counting and queueing happen under the member's lock."""
    service = _resets(parts, adapter, limit_per_hour=3)
    drafts = [
        service.prepare(person, "downtown", ResetInput(email="jane@example.com"))
        for person in FRONTS
    ]
    results: list[ConfirmResult] = []
    barrier = threading.Barrier(len(drafts))

    def send(person: Actor, request_id: str) -> None:
        barrier.wait()
        results.append(service.confirm(person, request_id))

    threads = [
        threading.Thread(target=send, args=(p, d.id)) for p, d in zip(FRONTS, drafts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(ConfirmResult.QUEUED) == 3
    assert results.count(ConfirmResult.RATE_LIMITED) == 7


def test_an_email_and_a_username_of_one_member_count_together(
    parts: tuple, adapter: Adapter
) -> None:
    service = _resets(parts, adapter, limit_per_hour=2)
    by_email = service.prepare(FRONTS[0], "downtown", ResetInput(email="jane@example.com"))
    both = service.prepare(
        FRONTS[1], "downtown", ResetInput(email="jane@example.com", username="janedoe")
    )
    by_username = service.prepare(FRONTS[2], "downtown", ResetInput(username="janedoe"))
    assert service.confirm(FRONTS[0], by_email.id) is ConfirmResult.QUEUED
    assert service.confirm(FRONTS[1], both.id) is ConfirmResult.QUEUED
    assert service.confirm(FRONTS[2], by_username.id) is ConfirmResult.RATE_LIMITED


def test_one_person_cannot_flood_the_vendor_or_the_queue(parts: tuple, adapter: Adapter) -> None:
    service = _resets(parts, adapter, sends_per_person_hour=2, drafts_per_person_hour=4)
    members = [f"m{n}@example.com" for n in range(5)]
    drafts = [service.prepare(FRONTS[0], "downtown", ResetInput(email=m)) for m in members[:4]]
    with pytest.raises(Conflict, match="the most frontdesk takes from one person"):
        service.prepare(FRONTS[0], "downtown", ResetInput(email=members[4]))
    assert service.confirm(FRONTS[0], drafts[0].id) is ConfirmResult.QUEUED
    assert service.confirm(FRONTS[0], drafts[1].id) is ConfirmResult.QUEUED
    with pytest.raises(Conflict, match="Nothing was sent"):
        service.confirm(FRONTS[0], drafts[2].id)
    assert service.get(drafts[2].id).status == ResetStatus.DRAFT
    parts[3].advance(minutes=61)
    assert service.confirm(FRONTS[0], drafts[2].id) is ConfirmResult.QUEUED


def test_a_failure_can_have_only_one_retry(parts: tuple, adapter: Adapter) -> None:
    """Defect 1's second guard: the database refuses a second retry of one failure even
    if the compare-and-set were bypassed."""
    adapter.behave = lambda: Outcome(
        kind=OutcomeKind.REFUSED, vendor="clubready", operation="x", message="no"
    )
    service = _resets(parts, adapter)
    failed = _send_one(service)
    first = service.retry(SUPPORT, failed.id)
    again = service.retry(SUPPORT, failed.id)
    assert first.created and not again.created and again.retry_id == first.retry_id
    db, clock = parts[0], parts[3]
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(
            ResetRequest(
                id=str(uuid.uuid4()),
                org_id="T1",
                team_id="T1",
                user_id="USUP",
                location_id="downtown",
                vendor="clubready",
                identifier_kind="email",
                identity=failed.identity,
                identifier_masked=failed.identifier_masked,
                identifier_hash=failed.identifier_hash,
                status=ResetStatus.QUEUED,
                retry_of=failed.id,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )


def test_a_resolved_failure_cannot_be_retried(parts: tuple, adapter: Adapter) -> None:
    """Review finding: a stale Retry (or a replay) after support resolved a failure sent a
    new reset."""
    from bot.workflows.triage import Kind, TriageService

    adapter.behave = lambda: Outcome(
        kind=OutcomeKind.REFUSED, vendor="clubready", operation="x", message="no"
    )
    service = _resets(parts, adapter)
    failed = _send_one(service)
    db, roles, locations, clock = parts
    TriageService(db=db, roles=roles, locations=locations, clock=clock).resolve(
        SUPPORT, Kind.RESET, failed.id, "reset at the desk"
    )
    calls = adapter.calls
    with pytest.raises(Conflict, match="already resolved this one: nothing was sent"):
        service.retry(SUPPORT, failed.id)
    assert service.claim_next("w2") == [] and adapter.calls == calls


def test_a_stalled_worker_renews_its_lease_before_calling(parts: tuple, adapter: Adapter) -> None:
    """Review finding: a worker held up past its lease (by a slow Slack notice, say)
    called the vendor anyway while recovery declared the reset abandoned; the outcome
    was then only a late answer. The lease is renewed before the call, or the call is
    not made."""
    service = _resets(parts, adapter, lease_seconds=60)
    request = service.prepare(FRONTS[0], "downtown", ResetInput(email="jane@example.com"))
    service.confirm(FRONTS[0], request.id)
    [claimed] = service.claim_next("w1")
    parts[3].advance(seconds=61)  # the worker was held up that long before the call
    recovered: list[Any] = []

    def slow_answer() -> Outcome:
        recovered.extend(service.recover_abandoned())  # another process's housekeeping
        return Outcome(kind=OutcomeKind.SUCCEEDED, vendor="clubready", operation="x", message="ok")

    adapter.behave = slow_answer
    settled = service.execute(claimed, "w1")
    assert recovered == []
    assert settled is not None and not settled.late and settled.row.status == ResetStatus.SENT


def test_recovered_before_the_call_means_no_call(parts: tuple, adapter: Adapter) -> None:
    service = _resets(parts, adapter, lease_seconds=60)
    request = service.prepare(FRONTS[0], "downtown", ResetInput(email="jane@example.com"))
    service.confirm(FRONTS[0], request.id)
    [claimed] = service.claim_next("w1")
    parts[3].advance(seconds=61)
    [abandoned] = service.recover_abandoned()
    assert service.execute(claimed, "w1") is None and adapter.calls == 0
    assert abandoned.status == ResetStatus.UNKNOWN


def test_refused_sends_count_towards_the_persons_quota(parts: tuple, adapter: Adapter) -> None:
    """Review finding: "no such member" refusals are vendor calls too."""
    adapter.behave = lambda: Outcome(
        kind=OutcomeKind.REFUSED, vendor="clubready", operation="x", message="No user found"
    )
    service = _resets(parts, adapter, sends_per_person_hour=2)
    for n in range(2):
        _send_one(service, f"m{n}@example.com")
    third = service.prepare(FRONTS[0], "downtown", ResetInput(email="m2@example.com"))
    with pytest.raises(Conflict, match="Nothing was sent"):
        service.confirm(FRONTS[0], third.id)


def test_concurrent_drafts_stay_within_the_quota(parts: tuple, adapter: Adapter) -> None:
    service = _resets(parts, adapter, drafts_per_person_hour=4)
    barrier = threading.Barrier(8)
    made: list[str] = []

    def start(n: int) -> None:
        barrier.wait()
        try:
            made.append(
                service.prepare(FRONTS[0], "downtown", ResetInput(email=f"q{n}@example.com")).id
            )
        except Conflict:
            pass

    threads = [threading.Thread(target=start, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 4


def test_the_purge_takes_the_limit_hashes_too(parts: tuple, adapter: Adapter) -> None:
    """Review finding: unsalted hashes of purged members' emails stayed behind."""
    from bot.workflows import retention
    from storage.models import ResetIdentifier

    service = _resets(parts, adapter)
    _send_one(service)
    db, clock = parts[0], parts[3]
    clock.advance(days=400)
    retention.purge(db, clock, 365)
    with db.session() as session:
        assert session.scalars(select(ResetIdentifier)).all() == []

"""The guest's side of a third-party Paytronix reset, without the page: the code store,
the single use, the limits, what support sees. Real sandbox over loopback, both databases."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import MetaData, select

from bot.app import build as build_app
from bot.clock import ManualClock
from bot.config import ConfigurationError, Settings, load_locations
from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML, wait_for
from bot.vendor_clients import VendorClients
from bot.workflows.guest_codes import CodeStatus, GuestCodes, GuestKeys
from bot.workflows.guest_resets import GuestResets, PageResult, Verdict
from bot.workflows.resets import ResetInput, ResetService, ResetStatus
from bot.workflows.roles import Actor, Role, Roles
from storage.db import Database
from storage.models import (
    AuditEvent,
    GuestPageAttempt,
    GuestResetCode,
    RateLock,
    ResetRequest,
)
from vendors.sandbox import Fault, Sandbox

KEY = DEMO_SECRETS["FRONTDESK_GUEST_CODE_KEYS"]
FRONT = Actor("T1", "UFRONT")
ADDRESS = "203.0.113.7"
PASSWORD = "  N3w pass wörd "  # spaces kept, as typed


@dataclass
class World:
    db: Database
    clock: ManualClock
    sandbox: Sandbox
    resets: ResetService
    codes: GuestCodes
    guests: GuestResets
    failed: list[ResetRequest]
    resolved: list[ResetRequest]

    def reset(self) -> tuple[str, str]:
        """A real reset at partner-bistro: (request id, the code the guest's email carries)."""
        request = self.resets.prepare(FRONT, "partner-bistro", ResetInput(account_id="7001"))
        self.resets.confirm(FRONT, request.id)
        (claimed,) = self.resets.claim_next("w1")
        done = self.resets.execute(claimed, "w1")
        assert done is not None and done.row.status == ResetStatus.SENT
        sent = self.sandbox.received("paytronix", "sendGuestResetPasswordCode")[-1]
        return request.id, sent.json["resetCode"]

    def calls(self) -> int:
        return len(self.sandbox.received("paytronix", "resetGuestPassword"))

    def guest_password(self) -> str:
        state = self.sandbox.vendors["paytronix"].state
        return next(g.password for g in state.guests if g.account_id == 7001)

    def code_row(self) -> GuestResetCode:
        with self.db.session() as session:
            rows = session.scalars(select(GuestResetCode)).all()
        return rows[-1]

    def flush_notices(self) -> None:
        self.guests.close()  # waits for the background notices


@pytest.fixture
def world(
    database_url: str, tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    locations = load_locations(path)
    clock = ManualClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    db = Database(database_url)
    settings = Settings(
        database_url=database_url,
        paytronix_url=sandbox.base_url("paytronix"),
        vendor_read_timeout=0.5,
    )
    clients = VendorClients(settings, locations)
    codes = GuestCodes(db=db, clock=clock, keys=GuestKeys(KEY))
    roles = Roles(clock=clock)
    with db.session() as session:
        roles.grant(
            session, by="test", target=FRONT, role=Role.FRONT_DESK, location_id="partner-bistro"
        )
    resets = ResetService(
        db=db, roles=roles, clients=clients, locations=locations, clock=clock, guest_codes=codes
    )
    guests = GuestResets(db=db, codes=codes, clients=clients, locations=locations, clock=clock)
    failed: list[ResetRequest] = []
    resolved: list[ResetRequest] = []
    guests.on_failure = failed.append
    guests.on_resolved = resolved.append
    yield World(db, clock, sandbox, resets, codes, guests, failed, resolved)
    guests.close()
    clients.close()
    db.dispose()


def everything_stored(db: Database) -> str:
    metadata = MetaData()
    metadata.reflect(db.engine)
    rows: list[str] = []
    with db.engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows.extend(str(tuple(row)) for row in connection.execute(select(table)))
    return "\n".join(rows)


def test_issue_stores_only_a_keyed_hash_with_location_origin_and_expiry(world: World) -> None:
    request_id, code = world.reset()
    row = world.code_row()
    assert (row.location_id, row.reset_request_id, row.status, row.tries) == (
        "partner-bistro",
        request_id,
        CodeStatus.OPEN,
        0,
    )
    assert row.expires_at == world.clock.now() + timedelta(hours=24)
    assert row.code_hash == GuestKeys(KEY).digest("code", code) != code
    assert len(code) >= 43  # 256 bits from the secure generator
    assert code not in everything_stored(world.db)
    with world.db.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == request_id)
        ).all()
    assert "guest_code.issue" in actions


def test_a_code_sets_the_password_exactly_as_typed_once(world: World) -> None:
    _, code = world.reset()
    assert world.guests.open(code, ADDRESS).verdict is Verdict.FORM
    result = world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS)
    assert (result.verdict, result.merchant) == (Verdict.DONE, "Partner Bistro Rewards")
    assert world.guest_password() == PASSWORD
    sent = world.sandbox.received("paytronix", "resetGuestPassword")[0].json
    assert sent["newPassword"] == PASSWORD and sent["resetPasswordCode"] == code
    assert world.code_row().status == CodeStatus.USED
    # Used: the page says so and nothing more is sent, whatever is submitted.
    assert world.guests.open(code, ADDRESS).verdict is Verdict.USED
    again = world.guests.choose_password(code, "Oth3r-pass", "Oth3r-pass", ADDRESS)
    assert again.verdict is Verdict.USED
    assert world.calls() == 1 and world.guest_password() == PASSWORD
    stored = everything_stored(world.db)
    assert PASSWORD.strip() not in stored and code not in stored
    with world.db.session() as session:
        outcomes = [
            e.details["outcome"]
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "guest_reset.attempt")
            )
        ]
    assert outcomes == ["done", "used", "used"]


def test_mismatched_or_empty_passwords_send_nothing(world: World) -> None:
    _, code = world.reset()
    mismatch = world.guests.choose_password(code, "Abcdef-12", "Abcdef-13", ADDRESS)
    assert (mismatch.verdict, mismatch.merchant) == (Verdict.MISMATCH, "Partner Bistro Rewards")
    assert world.guests.choose_password(code, "", "", ADDRESS).verdict is Verdict.EMPTY
    assert world.calls() == 0
    assert (world.code_row().status, world.code_row().tries) == (CodeStatus.OPEN, 0)


def test_refusals_show_paytronix_words_then_lock_the_link_for_support(world: World) -> None:
    request_id, code = world.reset()
    for left in (4, 3, 2, 1):
        refused = world.guests.choose_password(code, "weak", "weak", ADDRESS)
        assert refused.verdict is Verdict.REFUSED and refused.tries_left == left
        assert refused.message == (
            "The new password must be at least 8 characters and contain a digit"
        )
    assert world.failed == []  # a refusal is the guest's to fix, not support's
    locked = world.guests.choose_password(code, "weak", "weak", ADDRESS)
    assert locked.verdict is Verdict.LOCKED
    assert world.guests.choose_password(
        code, "Str0ng-enough", "Str0ng-enough", ADDRESS
    ).verdict is (Verdict.LOCKED)
    assert world.calls() == 5
    world.flush_notices()
    [triage] = world.failed
    assert triage.status == ResetStatus.REFUSED and triage.resolved_at is None
    assert triage.location_id == "partner-bistro" and triage.identifier_masked == "•••001"
    assert "locked after 5 tries" in (triage.outcome_message or "")
    origin = world.resets.get(request_id)
    assert origin is not None and triage.identity == origin.identity


def test_unreachable_is_not_a_try_and_a_later_success_resolves_it(world: World) -> None:
    _, code = world.reset()
    # Refused before any processing (a 429; a gateway's 5xx may come after Paytronix
    # acted, which is uncertain, not unreachable).
    world.sandbox.inject(Fault("status", vendor="paytronix", status=429, times=2))
    down = world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS)
    assert down.verdict is Verdict.UNAVAILABLE
    assert (world.code_row().status, world.code_row().tries) == (CodeStatus.OPEN, 0)
    done = world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS)
    assert done.verdict is Verdict.DONE
    world.flush_notices()
    [failed] = world.failed
    [resolved] = world.resolved
    assert failed.status == ResetStatus.FAILED and resolved.id == failed.id
    assert resolved.resolved_by == "frontdesk" and resolved.resolved_at is not None


def test_no_answer_closes_the_link_and_support_gets_it(world: World) -> None:
    _, code = world.reset()
    world.sandbox.inject(
        Fault("read_timeout", vendor="paytronix", operation="resetGuestPassword", seconds=1.5)
    )
    uncertain = world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS)
    assert uncertain.verdict is Verdict.UNCERTAIN
    assert world.code_row().status == CodeStatus.UNKNOWN
    # The sandbox did set it (the answer was lost): the guest was told to try signing in.
    wait_for(lambda: world.guest_password() == PASSWORD)
    assert world.guests.open(code, ADDRESS).verdict is Verdict.CLOSED
    closed = world.guests.choose_password(code, "An0ther-one", "An0ther-one", ADDRESS)
    assert closed.verdict is Verdict.CLOSED
    assert world.calls() == 1
    world.flush_notices()
    [triage] = world.failed
    assert triage.status == ResetStatus.UNKNOWN and "Retry sends the guest a new link" in (
        triage.outcome_message or ""
    )


def test_an_expired_code_sends_nothing(world: World) -> None:
    _, code = world.reset()
    world.clock.advance(hours=24)
    assert world.guests.open(code, ADDRESS).verdict is Verdict.EXPIRED
    assert world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS).verdict is (
        Verdict.EXPIRED
    )
    assert world.guests.open("not-a-code-we-issued", ADDRESS).verdict is Verdict.UNKNOWN_CODE
    assert world.calls() == 0


def test_attempts_per_address_are_limited(world: World) -> None:
    _, code = world.reset()
    world.guests.attempts_per_address = 3
    for _ in range(3):
        assert world.guests.choose_password(code, "a1", "b1", ADDRESS).verdict is Verdict.MISMATCH
    assert world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS).verdict is (
        Verdict.LIMITED
    )
    assert world.guests.open("unknown-code", ADDRESS).verdict is Verdict.LIMITED
    assert world.calls() == 0
    # Another address is not held back; an hour later this one is not either.
    assert world.guests.choose_password(code, "a1", "b1", "198.51.100.9").verdict is (
        Verdict.MISMATCH
    )
    world.clock.advance(hours=1, seconds=1)
    assert world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS).verdict is Verdict.DONE


def test_a_double_submission_reaches_paytronix_once(world: World) -> None:
    _, code = world.reset()
    world.sandbox.inject(
        Fault("latency", vendor="paytronix", operation="resetGuestPassword", seconds=0.3)
    )
    results: list[PageResult] = []
    barrier = threading.Barrier(2)

    def submit() -> None:
        barrier.wait()
        results.append(world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The second was made while the first was at Paytronix: it sent nothing and shows
    # the first one's outcome (review finding 2: never "not changed").
    assert [result.verdict for result in results] == [Verdict.DONE, Verdict.DONE]
    assert sorted(result.earlier for result in results) == [False, True]
    assert world.calls() == 1


def test_a_submission_whose_process_died_becomes_unknown(world: World) -> None:
    _, code = world.reset()
    row = world.code_row()
    with world.db.session() as session:
        assert world.codes.claim(session, row.id, timedelta(minutes=2)) is not None
    # Held, not yet stale: still being saved (review finding 3: not a fresh form).
    assert world.guests.open(code, ADDRESS).verdict is Verdict.BUSY
    world.clock.advance(minutes=3)
    world.guests.housekeeping()
    assert world.code_row().status == CodeStatus.UNKNOWN
    assert world.guests.open(code, ADDRESS).verdict is Verdict.CLOSED
    world.flush_notices()
    [triage] = world.failed
    assert triage.status == ResetStatus.UNKNOWN
    assert world.calls() == 0


def test_codes_issued_before_a_key_rotation_still_work(world: World) -> None:
    _, code = world.reset()
    world.codes.keys = GuestKeys("a-newer-key-that-is-long-enough-0123456789," + KEY)
    assert world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS).verdict is Verdict.DONE


def test_the_app_refuses_to_start_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    monkeypatch.delenv("FRONTDESK_GUEST_CODE_KEYS", raising=False)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'fd.sqlite3'}",
        locations_file=path,
        payment_token_keys="ZnJvbnRkZXNrLWRlbW8tb25seS1rZXktMzItYnl0ZXM=",
    )
    with pytest.raises(ConfigurationError, match="FRONTDESK_GUEST_CODE_KEYS"):
        build_app(settings)
    with pytest.raises(ConfigurationError, match="32 characters"):
        build_app(settings.model_copy(update={"guest_code_keys": SecretStr("short")}))


def test_a_lowered_try_limit_locks_codes_already_past_it(world: World) -> None:
    _, code = world.reset()
    world.guests.choose_password(code, "weak", "weak", ADDRESS)
    world.guests.choose_password(code, "weak", "weak", ADDRESS)
    world.codes.tries_per_code = 2  # the setting was lowered meanwhile
    assert world.guests.open(code, ADDRESS).verdict is Verdict.LOCKED
    assert world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS).verdict is (
        Verdict.LOCKED
    )
    assert world.calls() == 2


def test_paytronix_refusing_the_code_itself_closes_the_link_without_a_try(world: World) -> None:
    """Review finding 4: Paytronix expired or spent the code on its side. The guest is told
    the link no longer works (ask for a new one), no try is counted, support sees it."""
    _, code = world.reset()
    paytronix = world.sandbox.vendors["paytronix"].state
    with paytronix.lock:
        paytronix.reset_codes.clear()
    rejected = world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS)
    assert (rejected.verdict, rejected.merchant) == (Verdict.REJECTED, "Partner Bistro Rewards")
    row = world.code_row()
    assert (row.status, row.tries) == (CodeStatus.REJECTED, 0)
    assert world.guests.open(code, ADDRESS).verdict is Verdict.REJECTED
    again = world.guests.choose_password(code, "An0ther-one", "An0ther-one", ADDRESS)
    assert again.verdict is Verdict.REJECTED
    assert world.calls() == 1
    world.flush_notices()
    [triage] = world.failed
    assert triage.status == ResetStatus.REFUSED and triage.resolved_at is None
    assert "no longer accepts the guest's link" in (triage.outcome_message or "")
    assert "Retry sends the guest a new link" in (triage.outcome_message or "")


def test_the_address_limit_holds_under_parallel_lookups(world: World) -> None:
    """Review finding 7: 200 parallel unknown-code lookups from one address got 27 answers
    past a limit of 20: the count and the record were not one step."""
    world.guests.attempts_per_address = 5
    barrier = threading.Barrier(24)
    verdicts: list[Verdict] = []

    def look(index: int) -> None:
        barrier.wait()
        verdicts.append(world.guests.open(f"guess-{index:040d}", ADDRESS).verdict)

    threads = [threading.Thread(target=look, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts.count(Verdict.UNKNOWN_CODE) == 5
    assert verdicts.count(Verdict.LIMITED) == 19
    with world.db.session() as session:
        recorded = session.scalars(select(GuestPageAttempt.address_hash)).all()
    assert recorded == [world.guests.address_key(ADDRESS)] * 5


def test_addresses_of_one_ipv6_64_share_a_limit(world: World) -> None:
    """Review finding 7: rotating addresses inside one /64 (one household's or one
    attacker's prefix) was never limited."""
    world.guests.attempts_per_address = 3
    seen = [world.guests.open("unknown-code", f"2001:db8:1:2::{i:x}").verdict for i in range(1, 6)]
    assert seen == [Verdict.UNKNOWN_CODE] * 3 + [Verdict.LIMITED] * 2
    assert world.guests.open("unknown-code", "2001:db8:1:3::1").verdict is Verdict.UNKNOWN_CODE
    # An IPv4 client seen through an IPv6 socket is the same client.
    for _ in range(3):
        world.guests.open("unknown-code", "203.0.113.9")
    assert world.guests.open("unknown-code", "::ffff:203.0.113.9").verdict is Verdict.LIMITED
    # The clients' lock rows go once their hour has passed.
    with world.db.session() as session:
        assert len(session.scalars(select(RateLock)).all()) == 3
    world.clock.advance(hours=3)
    world.guests.housekeeping()
    with world.db.session() as session:
        assert session.scalars(select(RateLock)).all() == []


def test_a_limited_address_learns_it_when_the_link_is_opened(world: World) -> None:
    """Review finding 6: the guest saw the form, typed the password twice, and only then
    read "Too many tries"."""
    _, code = world.reset()
    world.guests.attempts_per_address = 2
    for index in range(2):
        world.guests.open(f"guess-{index}", ADDRESS)
    assert world.guests.open(code, ADDRESS).verdict is Verdict.LIMITED
    assert world.guests.open(code, "198.51.100.9").verdict is Verdict.FORM


def test_a_submission_counts_against_its_client_before_it_leaves(world: World) -> None:
    """Review finding 7: a submission was counted only once Paytronix had answered, so
    parallel submissions from one client all passed the limit. Each is now recorded in
    the transaction that counted it."""
    codes = [world.reset()[1] for _ in range(3)]  # the member's hourly limit
    world.guests.attempts_per_address = 1
    world.sandbox.inject(
        Fault("latency", vendor="paytronix", operation="resetGuestPassword", seconds=0.2, times=-1)
    )
    barrier = threading.Barrier(len(codes))
    verdicts: list[Verdict] = []

    def submit(code: str) -> None:
        barrier.wait()
        verdicts.append(world.guests.choose_password(code, PASSWORD, PASSWORD, ADDRESS).verdict)

    threads = [threading.Thread(target=submit, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(verdicts) == sorted([Verdict.DONE, Verdict.LIMITED, Verdict.LIMITED])
    assert world.calls() == 1

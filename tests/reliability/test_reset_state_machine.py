"""A Hypothesis state machine over password resets: drafts, Send (double clicks and
redeliveries), Cancel, the worker, a call left in flight, its lease running out,
recovery, the vendor's answer arriving late, and support's Retry (concurrent clicks,
redeliveries, replays, from the channel or from App Home).

Invariants, after every step:
- vendor calls ≤ the clicks meant (Sends that queued plus first Retries), and at
  most one call per request;
- the audit trail agrees with each row: at most one outcome event per request, a
  ``reset.sent`` only for a row that is sent, a late answer only beside a row that
  was settled without it (and at most once);
- one retry per failure, and the failure records who retried it.
"""

from __future__ import annotations

import functools
import itertools
import shutil
import tempfile
import textwrap
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config import load_locations
from bot.devtools.stack import LOCATIONS_YAML
from bot.workflows.errors import Conflict
from bot.workflows.resets import ConfirmResult, ResetInput, ResetService, ResetStatus
from bot.workflows.roles import Actor, Role, Roles
from storage.db import Database, upgrade
from storage.models import AuditEvent, ResetRequest
from vendors import Outcome, OutcomeKind

FRONT = [Actor("T1", "UF1"), Actor("T1", "UF2")]
SUPPORT = [Actor("T1", "US1"), Actor("T1", "US2")]
MEMBERS = ["jane@example.com", "omar@example.com", "li@example.com"]
LEASE = 60
OUTCOME_EVENTS = {"reset.sent", "reset.refused", "reset.failed", "reset.unknown", "reset.abandoned"}


class Resetter:
    """Stands in for a vendor's reset adapter: answers as told."""

    vendor = "clubready"
    operation = "password_reset"
    issues_own_code = False

    def __init__(self) -> None:
        self.answer = OutcomeKind.SUCCEEDED

    def check(self, identity: Any) -> None:
        pass

    def reset(self, identity: Any, *, reset_code: str | None = None) -> Outcome:
        return Outcome(
            kind=self.answer, vendor="clubready", operation="password_reset", message="t"
        )


class Clients:
    def __init__(self, resetter: Resetter) -> None:
        self._resetter = resetter

    def resetter(self, location_id: str) -> Resetter:
        return self._resetter


@functools.cache
def _migrated_template() -> Path:
    path = Path(tempfile.mkdtemp(prefix="frontdesk-rsm-template-")) / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


class ResetMachine(RuleBasedStateMachine):
    drafts = Bundle("drafts")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="frontdesk-rsm-"))
        shutil.copy(_migrated_template(), self.tmp / "rsm.sqlite3")
        (self.tmp / "locations.yml").write_text(textwrap.dedent(LOCATIONS_YAML))
        self.clock = ManualClock(datetime(2026, 11, 30, 15, tzinfo=UTC))
        self.db = Database(f"sqlite:///{self.tmp / 'rsm.sqlite3'}")
        roles = Roles(clock=self.clock)
        with self.db.session() as session:
            for person in FRONT:
                roles.grant(session, by="t", target=person, role=Role.FRONT_DESK, location_id=None)
            for person in SUPPORT:
                roles.grant(session, by="t", target=person, role=Role.SUPPORT, location_id=None)
        self.vendor = Resetter()
        self.service = ResetService(
            db=self.db,
            roles=roles,
            clients=Clients(self.vendor),  # type: ignore[arg-type]
            locations=load_locations(self.tmp / "locations.yml"),
            clock=self.clock,
            limit_per_hour=3,
            lease_seconds=LEASE,
        )
        self.calls: Counter[str] = Counter()
        original = self.service.call_vendor

        def counted(request: ResetRequest) -> Outcome:
            self.calls[request.id] += 1
            return original(request)

        self.service.call_vendor = counted  # type: ignore[method-assign]
        self.meant = 0
        self.workers = (f"w{n}" for n in itertools.count())
        #: Calls sent whose answers have not come back yet: worker → request ids.
        self.in_flight: dict[str, list[str]] = {}

    def teardown(self) -> None:
        self.db.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _row(self, request_id: str) -> ResetRequest:
        row = self.service.get(request_id)
        assert row is not None
        return row

    # -- people ---------------------------------------------------------------------
    @rule(target=drafts, who=st.sampled_from(FRONT), member=st.sampled_from(MEMBERS))
    def prepare(self, who: Actor, member: str) -> str:
        return self.service.prepare(who, "downtown", ResetInput(email=member)).id

    @rule(request_id=drafts, clicks=st.integers(1, 3))
    def send(self, request_id: str, clicks: int) -> None:
        row = self._row(request_id)
        requester = Actor(row.team_id, row.user_id)
        for _ in range(clicks):  # a double click, Slack's redeliveries
            try:
                result = self.service.confirm(requester, request_id)
            except Conflict:
                continue
            self.meant += result is ConfirmResult.QUEUED

    @rule(request_id=drafts)
    def cancel(self, request_id: str) -> None:
        row = self._row(request_id)
        self.service.cancel(Actor(row.team_id, row.user_id), request_id)

    @rule(request_id=drafts, who=st.lists(st.sampled_from(SUPPORT), min_size=1, max_size=4))
    def retry(self, request_id: str, who: list[Actor]) -> None:
        """Retry from the channel or App Home, clicked by one or two people, redelivered."""
        target = self._row(request_id).retry_id or request_id
        for person in who:
            try:
                result = self.service.retry(person, target)
            except Conflict:
                continue  # not a failure (yet, or any more)
            self.meant += result.created
            if not result.created:
                assert result.by in {p.user_id for p in SUPPORT} and result.at is not None

    @rule(minutes=st.sampled_from([5, 61]))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    # -- the worker -----------------------------------------------------------------
    @rule(answer=st.sampled_from(list(OutcomeKind)))
    def worker_runs(self, answer: OutcomeKind) -> None:
        self.vendor.answer = answer
        worker = next(self.workers)
        for request_id in self.service.claim_next(worker, limit=10):
            self.service.execute(request_id, worker)

    @rule()
    def a_call_hangs(self) -> None:
        """Claimed and sent; the answer has not come back yet."""
        worker = next(self.workers)
        sent = []
        for request_id in self.service.claim_next(worker, limit=10):
            self.calls[request_id] += 1
            sent.append(request_id)
        if sent:
            self.in_flight[worker] = sent

    @rule()
    def leases_run_out(self) -> None:
        self.clock.advance(seconds=LEASE + 1)
        for row in self.service.recover_abandoned():
            assert row.status == ResetStatus.UNKNOWN

    @rule(answer=st.sampled_from(list(OutcomeKind)), data=st.data())
    def a_hanging_answer_arrives(self, answer: OutcomeKind, data: st.DataObject) -> None:
        if not self.in_flight:
            return
        worker = data.draw(st.sampled_from(sorted(self.in_flight)))
        for request_id in self.in_flight.pop(worker):
            outcome = Outcome(
                kind=answer, vendor="clubready", operation="password_reset", message="late?"
            )
            self.service.lifecycle.settle(self._row(request_id), outcome, worker)

    # -- invariants -----------------------------------------------------------------
    @invariant()
    def vendor_calls_never_exceed_the_clicks_meant(self) -> None:
        assert all(count <= 1 for count in self.calls.values()), self.calls
        assert sum(self.calls.values()) <= self.meant, (self.calls, self.meant)

    @invariant()
    def the_audit_trail_agrees_with_every_row(self) -> None:
        with self.db.session() as session:
            rows = session.scalars(select(ResetRequest)).all()
            events = session.scalars(select(AuditEvent).where(AuditEvent.subject_type == "reset"))
            actions: dict[str, list[str]] = {}
            for event in events:
                actions.setdefault(event.subject_id, []).append(event.action)
        for row in rows:
            mine = actions.get(row.id, [])
            outcomes = [a for a in mine if a in OUTCOME_EVENTS]
            assert len(outcomes) <= 1, (row.id, row.status, mine)
            assert ("reset.sent" in mine) == (row.status == ResetStatus.SENT), (row.status, mine)
            assert mine.count("reset.late_answer") == (1 if row.late_at else 0), mine
            if outcomes:
                settled = outcomes[0].removeprefix("reset.")
                expected = "unknown" if settled == "abandoned" else settled
                assert row.status == expected, (row.status, mine)

    @invariant()
    def one_retry_per_failure(self) -> None:
        with self.db.session() as session:
            rows = session.scalars(select(ResetRequest)).all()
        retries = Counter(row.retry_of for row in rows if row.retry_of)
        assert all(count == 1 for count in retries.values()), retries
        by_id = {row.id: row for row in rows}
        for original_id in retries:
            original = by_id[original_id]
            assert original.retried_at is not None and original.retried_by is not None
            assert by_id[original.retry_id or ""].retry_of == original_id


ResetMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_resets_state_machine = ResetMachine.TestCase

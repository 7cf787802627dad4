"""One lifecycle for everything frontdesk sends to a vendor (resets and sales alike).

::

    ready ──claim──▶ in flight ──the vendor's answer──▶ its status (sent, sold, …)
                        │
                        └─ lease ran out (the process died) ──▶ unknown (never resent)

- Every change of state is a compare-and-set ``UPDATE … WHERE <expected>`` with its
  audit event in the same transaction, recorded only when this caller won it.
- A claim takes due rows once, whatever the number of workers and processes
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the compare-and-set everywhere).
- What is raised *before* a request can have left (:class:`NotSent`, or a
  :class:`~vendors.VendorError` from an adapter) settles as "not sent"; anything
  unexpected after that point is *unknown*: it may have taken effect.
- A vendor's answer that arrives after the row was settled without it (the lease
  ran out and recovery called it unknown) never becomes a second outcome: it is
  kept beside the row (``late_outcome_*``), as a vendor attempt and as one
  ``<subject>.late_answer`` audit event, for support to see.
- What people are told is recorded in the same transactions (:class:`Notices`,
  written to the outbox): a change and its notices commit together. A row that
  becomes ready wakes the workers when its transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from sqlalchemy import ClauseElement, ColumnElement, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot.clock import Clock
from bot.workflows import audit, queue
from bot.workflows.signals import Signals, Topic
from storage.db import Database
from storage.models import VendorAttempt
from vendors import InvalidVendorRequest, Outcome, OutcomeKind, VendorError

log = logging.getLogger("frontdesk.lifecycle")

Row = TypeVar("Row")
Row_contra = TypeVar("Row_contra", contravariant=True)

#: The outcome code of a request that never left frontdesk.
NOT_SENT = "not_sent"


class NotSent(Exception):  # noqa: N818 - it names an outcome, not a failure of ours
    """Raised by a vendor call *before* anything could have been sent."""


@dataclass(frozen=True)
class Spec(Generic[Row]):
    """What differs between the things that go to a vendor."""

    model: type[Row]
    #: The audit subject ("reset", "sale"): events are ``<subject>.<status>``.
    subject: str
    operation: str
    ready: str
    in_flight: str
    unknown: str
    #: The status each kind of vendor answer settles a row in.
    status_for: Mapping[OutcomeKind, str]
    abandoned_message: str
    vendor_of: Callable[[Row], str]
    #: Extra columns written whenever a row enters a status (a sale wipes its
    #: payment tokens on leaving the states that may hold them).
    on_status: Callable[[str], dict[str, Any]] = field(default=lambda status: {})
    #: A column holding a secret (a sale's sealed payment tokens): when a transition
    #: clears or replaces a value there, the database is told, so the old bytes are
    #: scrubbed from its files too (storage/scrub.py).
    secret_column: str | None = None
    #: Extra columns from a vendor's answer (where a reset was sent, a sale's user id).
    from_outcome: Callable[[Row, Outcome], dict[str, Any]] = field(default=lambda row, outcome: {})
    #: The status an answer settles a row in, where its kind alone does not say (a
    #: reset's "no such member" is a refusal the requester fixes, not support).
    status_of: Callable[[Outcome], str | None] = field(default=lambda outcome: None)
    #: What masks a row's personal data in a vendor's free text (which may echo what it
    #: was sent) before anything of the answer is stored or shown.
    masker: Callable[[Row], Callable[[str], str]] = field(default=lambda row: lambda text: text)


@dataclass(frozen=True)
class Settled(Generic[Row]):
    """A vendor call's end, as recorded. ``late``: the row had already been settled
    without this answer, which is only kept beside it."""

    row: Row
    outcome: Outcome | None
    late: bool = False


class ClaimResult(NamedTuple):
    """A triage claim: ``won`` by this person, else ``holder`` has it."""

    won: bool
    holder: str | None


class Notices(Protocol[Row_contra]):
    """What people are told as a row changes, recorded in the transaction that changes
    it (the workflow writes them to the outbox; nothing here knows Slack)."""

    def changed(self, session: Session, row: Row_contra, status: str) -> None:
        """Any change of the row won by a compare-and-set (``status``: its status now)."""

    def finished(self, session: Session, row: Row_contra) -> None:
        """The row has its outcome (including "unknown" after a process died)."""

    def late(self, session: Session, row: Row_contra) -> None:
        """The vendor answered after the row was settled without it."""


class _Silent:
    def changed(self, session: Session, row: Any, status: str) -> None:
        pass

    def finished(self, session: Session, row: Any) -> None:
        pass

    def late(self, session: Session, row: Any) -> None:
        pass


def _masked(value: Any, mask: Callable[[str], str]) -> Any:
    """Every text in a stored record, masked."""
    if isinstance(value, Mapping):
        return {k: _masked(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, mask) for v in value]
    return mask(value) if isinstance(value, str) else value


class Lifecycle(Generic[Row]):
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        spec: Spec[Row],
        lease_seconds: float,
        signals: Signals | None = None,
        notices: Notices[Row] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.spec = spec
        self.lease = timedelta(seconds=lease_seconds)
        self._model: Any = spec.model
        self.signals = signals or Signals()
        self.notices: Notices[Row] = notices or _Silent()

    # -- state changes ----------------------------------------------------------------
    def transition(
        self,
        session: Session,
        row: Row,
        *,
        expected: ColumnElement[bool],
        values: dict[str, Any],
        actor: str,
        action: str,
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Compare-and-set one row; its audit event (and its notices) only when this
        caller won. A row made ready wakes the workers when the transaction commits."""
        model = self._model
        if "status" in values:
            values = {**values, **self.spec.on_status(str(values["status"]))}
        values = {**values, "updated_at": self.clock.now()}
        table = model.__table__
        won = session.execute(
            update(table).where(table.c.id == row.id, expected).values(**values)  # type: ignore[attr-defined]
        ).rowcount  # type: ignore[attr-defined]
        secret = self.spec.secret_column
        if won and secret and secret in values and getattr(row, secret, None) is not None:
            self.db.note_wipe(session)  # counted only if this transaction commits
        if won:
            # The row now holds what was written (no second read): plain values are
            # set, SQL expressions (a coalesce) are read again when first used.
            for name, value in values.items():
                if isinstance(value, ClauseElement):
                    if row in session:
                        session.expire(row, [name])
                else:
                    set_committed_value(row, name, value)
            audit.record(
                session,
                self.clock,
                actor=actor,
                action=action,
                subject_type=self.spec.subject,
                subject_id=row.id,  # type: ignore[attr-defined]
                location_id=row.location_id,  # type: ignore[attr-defined]
                details=details,
            )
            status = str(values.get("status", row.status))  # type: ignore[attr-defined]
            if status == self.spec.ready:
                self.signals.queued(session, Topic.WORK)
            self.notices.changed(session, row, status)
        return bool(won)

    def get(self, item_id: str) -> Row | None:
        with self.db.session() as session:
            return session.get(self.spec.model, item_id)

    # -- the worker's side ------------------------------------------------------------
    def claim(self, worker_id: str, limit: int = 1) -> list[str]:
        """Take up to ``limit`` due rows for this worker: the one gate before the vendor."""
        now = self.clock.now()
        spec = self.spec
        # Durable: once a claim may lead to a vendor call, no power loss may undo it.
        with self.db.session(durable=True) as session:
            claimed = queue.claim_due(
                session,
                self._model,
                ready=spec.ready,
                claimed=spec.in_flight,
                worker_id=worker_id,
                now=now,
                lease_until=now + self.lease,
                limit=limit,
            )
            for item_id in claimed:
                audit.record(
                    session,
                    self.clock,
                    actor="frontdesk",
                    action=f"{spec.subject}.{spec.in_flight}",
                    subject_type=spec.subject,
                    subject_id=item_id,
                    details={"worker": worker_id},
                )
        return claimed

    def run(
        self, item_id: str, worker_id: str, call: Callable[[Row], Outcome]
    ) -> Settled[Row] | None:
        """Call the vendor for a row this worker claimed; record and return the end."""
        row: Any = self.get(item_id)
        if row is None or row.status != self.spec.in_flight or row.worker_id != worker_id:
            return None
        if not self._hold(item_id, worker_id):
            return None  # recovered meanwhile (this worker stalled past its lease): not sent
        return self.settle(row, self._call(row, call), worker_id)

    def _hold(self, item_id: str, worker_id: str) -> bool:
        """Renew this worker's lease just before the call, so that recovery cannot call
        it abandoned while it goes out (whatever delayed the worker since its claim)."""
        model = self._model
        with self.db.session() as session:
            return bool(
                session.execute(
                    update(model)
                    .where(
                        model.id == item_id,
                        model.status == self.spec.in_flight,
                        model.worker_id == worker_id,
                    )
                    .values(lease_until=self.clock.now() + self.lease)
                ).rowcount  # type: ignore[attr-defined]
            )

    def _call(self, row: Row, call: Callable[[Row], Outcome]) -> Outcome:
        try:
            return call(row)
        except (NotSent, VendorError) as exc:
            # Raised before the first byte could leave: certainly not sent.
            return Outcome(
                kind=OutcomeKind.UNAVAILABLE,
                vendor=self.spec.vendor_of(row),
                operation=self.spec.operation,
                message=f"not sent: {exc}",
                code=NOT_SENT,
                field_errors=exc.field_errors if isinstance(exc, InvalidVendorRequest) else (),
            )
        except Exception:
            # Past the point where the request may have left: it may have been done.
            log.exception("vendor call failed unexpectedly", extra={"subject": row.id})  # type: ignore[attr-defined]
            return Outcome(
                kind=OutcomeKind.UNKNOWN,
                vendor=self.spec.vendor_of(row),
                operation=self.spec.operation,
                message="frontdesk failed while the request may have been on its way",
                code="internal_error",
            )

    def settle(self, row: Row, outcome: Outcome, worker_id: str) -> Settled[Row]:
        """Record the vendor's answer: the row's outcome if it is still this worker's
        call, else (the lease ran out) a late answer kept beside the settled row."""
        spec, model = self.spec, self._model
        now = self.clock.now()
        status = spec.status_of(outcome) or spec.status_for[outcome.kind]
        item_id: str = row.id  # type: ignore[attr-defined]
        mask = spec.masker(row)
        message = mask(outcome.message)
        with self.db.session() as session:
            session.add(
                VendorAttempt(
                    request_id=item_id,
                    vendor=outcome.vendor,
                    operation=outcome.operation,
                    outcome_kind=outcome.kind.value,
                    code=outcome.code,
                    message=message,
                    exchanges=_masked(outcome.to_record(), mask),
                    latency_ms=outcome.elapsed_ms,
                    created_at=now,
                )
            )
            won = self.transition(
                session,
                row,
                expected=(model.status == spec.in_flight) & (model.worker_id == worker_id),
                values={
                    "status": status,
                    "outcome_kind": outcome.kind.value,
                    "outcome_message": message,
                    "finished_at": now,
                    "lease_until": None,
                    **spec.from_outcome(row, outcome),
                },
                actor="frontdesk",
                action=f"{spec.subject}.{status}",
                details={"vendor": outcome.vendor, "code": outcome.code},
            )
            kept = 0
            if not won:
                kept = session.execute(
                    update(model)
                    .where(
                        model.id == item_id, model.worker_id == worker_id, model.late_at.is_(None)
                    )
                    .values(
                        late_outcome_kind=outcome.kind.value,
                        late_outcome_message=message,
                        late_at=now,
                        updated_at=now,
                    )
                ).rowcount  # type: ignore[attr-defined]
                if kept:
                    audit.record(
                        session,
                        self.clock,
                        actor="frontdesk",
                        action=f"{spec.subject}.late_answer",
                        subject_type=spec.subject,
                        subject_id=item_id,
                        location_id=row.location_id,  # type: ignore[attr-defined]
                        details={"outcome": outcome.kind.value, "code": outcome.code},
                    )
                log.warning(
                    "vendor answered after the call was given up",
                    extra={"subject": item_id, "outcome": outcome.kind.value},
                )
            current = session.get(spec.model, item_id)
            assert current is not None
            if won:
                self.notices.finished(session, current)
            elif kept:
                self.notices.late(session, current)
        return Settled(current, outcome, late=not won)

    def recover(self) -> list[Row]:
        """Rows left in flight by a process that died (its lease ran out): unknown,
        for triage; never resent."""
        spec, model = self.spec, self._model
        now = self.clock.now()
        recovered: list[Row] = []
        with self.db.session() as session:
            stale = session.scalars(
                select(model).where(model.status == spec.in_flight, model.lease_until < now)
            ).all()
            for row in stale:
                if self.transition(
                    session,
                    row,
                    expected=(model.status == spec.in_flight) & (model.lease_until < now),
                    values={
                        "status": spec.unknown,
                        "outcome_kind": OutcomeKind.UNKNOWN.value,
                        "outcome_message": spec.abandoned_message,
                        "finished_at": now,
                    },
                    actor="frontdesk",
                    action=f"{spec.subject}.abandoned",
                    details={"worker": row.worker_id},
                ):
                    self.notices.finished(session, row)
                    recovered.append(row)
        return recovered

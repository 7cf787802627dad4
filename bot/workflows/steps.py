"""Workflow Builder steps, Slack-free: a step starts a reset or a sale for the person
running the workflow, with the same roles, limits and audit as anywhere else, and
ends when that has an outcome.

A step run is recorded by Slack's ``function_execution_id`` before anything else,
so a redelivered event starts nothing twice. Its end is derived from the row it
started (a reset's outcome, a sale's decision or outcome) and told to Slack once:
:meth:`StepService.due` lists the runs whose end is known and not yet told, and
:meth:`StepService.record_end` marks one told by compare-and-set. The worker tells
Slack as soon as an outcome is recorded and sweeps the rest, so a restart neither
loses an end nor makes it a different one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import ClubReadyLocation, Location
from bot.workflows import audit
from bot.workflows.errors import Conflict, FrontdeskError, InvalidInput
from bot.workflows.resets import FINISHED, ConfirmResult, ResetService, ResetStatus, guess_identity
from bot.workflows.roles import Actor
from bot.workflows.sales import SaleService, SaleStart, SaleStatus, package_key
from storage.db import Database
from storage.models import ResetRequest, Sale, StepRun


class StepKind(StrEnum):
    RESET = "reset"
    SALE = "sale"


#: A sale step ends with these (the decision, or the sale's outcome).
SALE_ENDS = frozenset(
    {
        SaleStatus.SOLD,
        SaleStatus.REFUSED,
        SaleStatus.UNKNOWN,
        SaleStatus.NOT_SOLD,
        SaleStatus.REJECTED,
        SaleStatus.EXPIRED,
    }
)
#: What a reset step's ``outcome`` says, by the reset's end.
RESET_OUTCOMES = {
    ResetStatus.SENT: "sent",
    ResetStatus.REFUSED: "refused",
    ResetStatus.NOT_FOUND: "refused",
    ResetStatus.FAILED: "not_sent",
    ResetStatus.UNKNOWN: "unknown",
}
#: A run still without a sent request or a submitted sale after this long was
#: interrupted (the process stopped between recording it and sending).
INTERRUPTED_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class StepEnd:
    """How one step run ends: completed with ``outputs``, or failed with ``error``."""

    function_execution_id: str
    callback_id: str
    outputs: dict[str, Any] | None = None
    error: str | None = None

    @property
    def outcome(self) -> str:
        return "failed" if self.error is not None else "completed"


def _find_location(locations: dict[str, Location], given: str) -> Location:
    wanted = given.strip().casefold()
    for location in locations.values():
        if wanted in (location.id.casefold(), location.name.casefold()):
            return location
    raise InvalidInput({"location": f"There is no location called {given.strip()!r} here."})


def _find_package(location: ClubReadyLocation, given: str) -> str:
    """A catalog package by its name, its package id, or ``package:plan``."""
    wanted = given.strip().casefold()
    for item in location.catalog:
        if wanted in (item.name.casefold(), str(item.package_id), package_key(item)):
            return package_key(item)
    names = ", ".join(item.name for item in location.catalog[:10])
    raise InvalidInput({"package": f"{location.name} sells no {given.strip()!r}: try {names}."})


def _date(given: Any) -> date | None:
    if given in (None, ""):
        return None
    if isinstance(given, int | float):  # a Slack timestamp
        raise InvalidInput({"start_date": "Give the start date as a date, like 2026-05-01."})
    text = str(given).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise InvalidInput({"start_date": "Give the start date as a date, like 2026-05-01."})
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput({"start_date": "That start date does not exist."}) from None


class StepService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        resets: ResetService,
        sales: SaleService,
        locations: dict[str, Location],
    ) -> None:
        self.db = db
        self.clock = clock
        self.resets = resets
        self.sales = sales
        self.locations = locations

    # -- starting -----------------------------------------------------------------------
    def _record(self, actor: Actor, execution_id: str, callback_id: str) -> bool:
        """Claim this execution; False when it was claimed already (a redelivery)."""
        if not execution_id:
            raise InvalidInput({"step": "Slack sent this step without its execution id."})
        try:
            with self.db.session() as session:
                session.add(
                    StepRun(
                        function_execution_id=execution_id,
                        callback_id=callback_id,
                        org_id=actor.org_id,
                        team_id=actor.team_id,
                        user_id=actor.user_id,
                        created_at=self.clock.now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def _link(
        self,
        session: Session,
        actor: Actor,
        execution_id: str,
        kind: StepKind,
        subject_id: str,
        location_id: str,
    ) -> None:
        session.execute(
            update(StepRun)
            .where(StepRun.function_execution_id == execution_id)
            .values(subject_type=kind.value, subject_id=subject_id)
        )
        audit.record(
            session,
            self.clock,
            actor=actor.key,
            action="step.start",
            subject_type="step",
            subject_id=execution_id,
            location_id=location_id,
            details={kind.value: subject_id},
        )

    def _refused(self, execution_id: str, error: FrontdeskError) -> None:
        """A step refused at its start: its end is the refusal, told by the caller."""
        now = self.clock.now()
        with self.db.session() as session:
            session.execute(
                update(StepRun)
                .where(
                    StepRun.function_execution_id == execution_id, StepRun.completed_at.is_(None)
                )
                .values(completed_at=now, outcome="failed")
            )
            audit.record(
                session,
                self.clock,
                actor="frontdesk",
                action="step.refused",
                subject_type="step",
                subject_id=execution_id,
                details={"reason": type(error).__name__},
            )

    def start_reset(
        self, actor: Actor, execution_id: str, callback_id: str, location: str, identifier: str
    ) -> ResetRequest | None:
        """Prepare and send a reset for the person running the workflow, exactly as if
        they had typed ``/reset`` and clicked Send. None: this run already started."""
        if not self._record(actor, execution_id, callback_id):
            return None
        try:
            place = _find_location(self.locations, location or "")
            request = self.resets.prepare(actor, place.id, guess_identity(identifier or ""))
            with self.db.session() as session:
                self._link(session, actor, execution_id, StepKind.RESET, request.id, place.id)
            result = self.resets.confirm(actor, request.id)
            if result is ConfirmResult.RATE_LIMITED:
                self.resets.cancel(actor, request.id)
                raise Conflict(
                    f"{request.identifier_masked} has had {self.resets.limit_per_hour} password "
                    f"resets at {place.name} in the last hour, the most frontdesk sends. Nothing "
                    "was sent: try later, or ask support to send it anyway."
                )
        except FrontdeskError as error:
            self._refused(execution_id, error)
            raise
        return self.resets.get(request.id)

    def start_sale(
        self,
        actor: Actor,
        execution_id: str,
        callback_id: str,
        *,
        location: str,
        package: str,
        start_date: Any = None,
        promo_code: str | None = None,
    ) -> Sale | None:
        """Start a sale's draft for the person running the workflow (the member and the
        payment are theirs to add, privately). None: this run already started."""
        if not self._record(actor, execution_id, callback_id):
            return None
        try:
            place = _find_location(self.locations, location or "")
            if not isinstance(place, ClubReadyLocation) or not place.catalog:
                raise InvalidInput({"location": f"{place.name} does not sell memberships."})
            raw = SaleStart(
                location_id=place.id,
                package=_find_package(place, package or ""),
                start_date=_date(start_date) or self.sales.today_at(place),
                promo_code=promo_code,
            )
            sale = self.sales.start(actor, raw)
            with self.db.session() as session:
                self._link(session, actor, execution_id, StepKind.SALE, sale.id, place.id)
                self.sales.notices.invite(session, sale)
        except FrontdeskError as error:
            self._refused(execution_id, error)
            raise
        return sale

    # -- ending -------------------------------------------------------------------------
    def _reset_end(self, run: StepRun, request: ResetRequest | None) -> StepEnd | None:
        if request is None:
            return StepEnd(run.function_execution_id, run.callback_id, error="The reset is gone.")
        status = ResetStatus(request.status)
        if status in FINISHED:
            outputs: dict[str, Any] = {"outcome": RESET_OUTCOMES[status], "reference": request.id}
            if status is ResetStatus.SENT and request.sent_to_masked:
                outputs["masked_address"] = request.sent_to_masked
            return StepEnd(run.function_execution_id, run.callback_id, outputs=outputs)
        if status is ResetStatus.CANCELLED or (
            status is ResetStatus.DRAFT
            and request.created_at <= self.clock.now() - INTERRUPTED_AFTER
        ):
            return StepEnd(
                run.function_execution_id,
                run.callback_id,
                error="frontdesk stopped before sending this reset: nothing was sent. "
                "Run the workflow again.",
            )
        return None

    def _sale_end(self, run: StepRun, sale: Sale | None) -> StepEnd | None:
        if sale is None:
            return StepEnd(run.function_execution_id, run.callback_id, error="The sale is gone.")
        status = SaleStatus(sale.status)
        if status in SALE_ENDS:
            outputs = {
                "outcome": status.value,
                "reference": sale.id,
                "member": sale.member_masked or "",
                "amount": sale.amount,
            }
            return StepEnd(run.function_execution_id, run.callback_id, outputs=outputs)
        if status is SaleStatus.CANCELLED:
            return StepEnd(
                run.function_execution_id,
                run.callback_id,
                error="The sale was withdrawn or left unfinished before it was submitted: "
                "nothing was sold.",
            )
        return None

    def _end(self, session: Session, run: StepRun) -> StepEnd | None:
        if run.subject_type == StepKind.RESET:
            return self._reset_end(run, session.get(ResetRequest, run.subject_id))
        if run.subject_type == StepKind.SALE:
            return self._sale_end(run, session.get(Sale, run.subject_id))
        if run.created_at <= self.clock.now() - INTERRUPTED_AFTER:
            return StepEnd(
                run.function_execution_id,
                run.callback_id,
                error="frontdesk stopped before starting this step: nothing was done. "
                "Run the workflow again.",
            )
        return None

    def due(self, limit: int = 100) -> list[StepEnd]:
        """Runs whose end is known and not yet told to Slack, oldest first. Chosen in the
        database, so runs still waiting (a sale awaiting its approval for a day) never
        hold back those that are due."""
        interrupted = self.clock.now() - INTERRUPTED_AFTER
        reset_over = [s.value for s in (*FINISHED, ResetStatus.CANCELLED)]
        sale_over = [s.value for s in (*SALE_ENDS, SaleStatus.CANCELLED)]
        open_run = StepRun.completed_at.is_(None)
        with self.db.session() as session:
            queries = [
                select(StepRun)
                .join(ResetRequest, ResetRequest.id == StepRun.subject_id)
                .where(
                    open_run,
                    StepRun.subject_type == StepKind.RESET.value,
                    ResetRequest.status.in_(reset_over)
                    | (
                        (ResetRequest.status == ResetStatus.DRAFT.value)
                        & (ResetRequest.created_at <= interrupted)
                    ),
                ),
                select(StepRun)
                .join(Sale, Sale.id == StepRun.subject_id)
                .where(
                    open_run,
                    StepRun.subject_type == StepKind.SALE.value,
                    Sale.status.in_(sale_over),
                ),
                select(StepRun).where(
                    open_run, StepRun.subject_type.is_(None), StepRun.created_at <= interrupted
                ),
            ]
            runs = [
                run
                for query in queries
                for run in session.scalars(query.order_by(StepRun.created_at).limit(limit))
            ]
            runs.sort(key=lambda run: run.created_at)
            return [end for run in runs[:limit] if (end := self._end(session, run)) is not None]

    def end_of(self, kind: StepKind, subject_id: str) -> StepEnd | None:
        """The end of the run that started this reset or sale, if it has one to tell."""
        with self.db.session() as session:
            run = session.scalars(
                select(StepRun).where(
                    StepRun.subject_type == kind.value,
                    StepRun.subject_id == subject_id,
                    StepRun.completed_at.is_(None),
                )
            ).first()
            return self._end(session, run) if run is not None else None

    def record_end(self, end: StepEnd) -> bool:
        """Slack was told (or already knew): once, by compare-and-set, with its audit."""
        with self.db.session() as session:
            won = session.execute(
                update(StepRun)
                .where(
                    StepRun.function_execution_id == end.function_execution_id,
                    StepRun.completed_at.is_(None),
                )
                .values(completed_at=self.clock.now(), outcome=end.outcome)
            ).rowcount  # type: ignore[attr-defined]
            if won:
                audit.record(
                    session,
                    self.clock,
                    actor="frontdesk",
                    action=f"step.{end.outcome}",
                    subject_type="step",
                    subject_id=end.function_execution_id,
                    details={k: v for k, v in (end.outputs or {}).items() if k != "member"},
                )
        return bool(won)

    def run(self, execution_id: str) -> StepRun | None:
        with self.db.session() as session:
            return session.get(StepRun, execution_id)

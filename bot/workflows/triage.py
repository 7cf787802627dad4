"""What support works from, Slack-free: open failures, resolving them, a member's history.

Lists page by keyset (a cursor of the last row's time and id), never by offset,
and the open-failure queries stay within a partial index: they cost the same
with a thousand stored requests or a million.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import Location
from bot.workflows import audit
from bot.workflows.errors import Conflict, InvalidInput, NotFound
from bot.workflows.masking import identifier_hash
from bot.workflows.outbox import Audience, NoticeKind, Outbox
from bot.workflows.resets import ResetInput, ResetStatus, guess_identity, may_retry
from bot.workflows.roles import Actor, Permission, Roles
from bot.workflows.sales import SaleStatus
from bot.workflows.signals import Signals
from storage.db import Database
from storage.models import OPEN_RESET_FAILURE, OPEN_SALE_FAILURE, ResetRequest, Sale

RESET_FAILURES = (ResetStatus.REFUSED, ResetStatus.FAILED, ResetStatus.UNKNOWN)
SALE_FAILURES = (SaleStatus.REFUSED, SaleStatus.UNKNOWN)


class Kind(StrEnum):
    RESET = "reset"
    SALE = "sale"


class NothingToResolve(Conflict):
    """Already resolved, or not a failure."""


@dataclass(frozen=True)
class Item:
    """One reset or sale as a list shows it: masked, with what can be done next."""

    kind: Kind
    id: str
    location_id: str
    vendor: str
    status: str
    member: str
    requester: str
    at: datetime
    claimed_by: str | None = None
    detail: str | None = None
    amount: str | None = None
    #: Whether Retry still applies (resets: see ``resets.may_retry``).
    retryable: bool = False

    @classmethod
    def of_reset(cls, request_id: str) -> Item:
        """A reference to a reset (for whoever shows it anew: only kind and id count)."""
        return cls(Kind.RESET, request_id, "", "", "", "", "", datetime.min)


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_cursor: str | None  # None: this is the last page


def encode_cursor(at: datetime, item_id: str) -> str:
    return f"{at.isoformat()}|{item_id}"


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        at, item_id = cursor.split("|", 1)
        return datetime.fromisoformat(at), item_id
    except ValueError:
        return None


def page_of(items: list[Item], limit: int, *, descending: bool) -> Page:
    """Merge rows from several tables (each fetched with ``limit + 1``) into one page."""
    items.sort(key=lambda item: (item.at, item.id), reverse=descending)
    page = items[:limit]
    more = len(items) > limit
    return Page(page, encode_cursor(page[-1].at, page[-1].id) if more and page else None)


def reset_item(row: ResetRequest, at: datetime | None = None) -> Item:
    return Item(
        kind=Kind.RESET,
        id=row.id,
        location_id=row.location_id,
        vendor=row.vendor,
        status=row.status,
        member=row.identifier_masked,
        requester=row.user_id,
        at=at or row.finished_at or row.created_at,
        claimed_by=row.claimed_by,
        detail=row.outcome_message,
        retryable=may_retry(row),
    )


def sale_item(row: Sale, at: datetime | None = None) -> Item:
    return Item(
        kind=Kind.SALE,
        id=row.id,
        location_id=row.location_id,
        vendor="clubready",
        status=row.status,
        member=row.member_masked or "new member",
        requester=row.user_id,
        at=at or row.finished_at or row.created_at,
        claimed_by=row.claimed_by,
        detail=row.outcome_message,
        amount=row.amount,
    )


def after(
    model: Any, column: Any, cursor: tuple[datetime, str] | None, *, descending: bool
) -> ColumnElement[bool] | None:
    """Rows past the cursor in (column, id) order: keyset paging."""
    if cursor is None:
        return None
    at, item_id = cursor
    if descending:
        return or_(column < at, and_(column == at, model.id < item_id))
    return or_(column > at, and_(column == at, model.id > item_id))


class TriageService:
    def __init__(
        self,
        *,
        db: Database,
        roles: Roles,
        locations: dict[str, Location],
        clock: Clock,
        outbox: Outbox | None = None,
    ) -> None:
        self.db = db
        self.roles = roles
        self.locations = locations
        self.clock = clock
        self.outbox = outbox or Outbox(db=db, clock=clock, signals=Signals())

    def _scope(self, session: Session, actor: Actor, permission: Permission) -> list[str]:
        return self.roles.allowed_locations(session, actor, permission, self.locations)

    # -- open failures ----------------------------------------------------------------
    def open_failures(self, actor: Actor, *, cursor: str | None = None, limit: int = 10) -> Page:
        """Failed and uncertain resets and sales not yet resolved, oldest first."""
        position = decode_cursor(cursor)
        with self.db.session() as session:
            where = self._scope(session, actor, Permission.TRIAGE)
            if not where:
                raise self.roles.refusal(session, actor, Permission.TRIAGE, None)
            items: list[Item] = []
            sources: list[tuple[Any, str, Any]] = [
                (ResetRequest, OPEN_RESET_FAILURE, reset_item),
                (Sale, OPEN_SALE_FAILURE, sale_item),
            ]
            for model, condition, make in sources:
                query = (
                    select(model)
                    .where(text(condition), model.location_id.in_(where))
                    .order_by(model.finished_at, model.id)
                    .limit(limit + 1)
                )
                keyset = after(model, model.finished_at, position, descending=False)
                if keyset is not None:
                    query = query.where(keyset)
                items.extend(make(row) for row in session.scalars(query))
        return page_of(items, limit, descending=False)

    def counts_last_day(self, actor: Actor) -> dict[tuple[str, str], int]:
        """(vendor, outcome) → number of resets and sales finished in the last 24 hours."""
        since = self.clock.now() - timedelta(days=1)
        counts: Counter[tuple[str, str]] = Counter()
        with self.db.session() as session:
            where = self._scope(session, actor, Permission.TRIAGE)
            rows = session.execute(
                select(ResetRequest.vendor, ResetRequest.status, func.count())
                .where(ResetRequest.finished_at >= since, ResetRequest.location_id.in_(where))
                .group_by(ResetRequest.vendor, ResetRequest.status)
            ).all()
            for vendor, status, count in rows:
                counts[(vendor, f"reset {status}")] += count
            sale_rows = session.execute(
                select(Sale.status, func.count())
                .where(Sale.finished_at >= since, Sale.location_id.in_(where))
                .group_by(Sale.status)
            ).all()
            for status, count in sale_rows:
                counts[("clubready", f"sale {status}")] += count
        return dict(counts)

    def _resolvable(self, session: Session, actor: Actor, kind: Kind, item_id: str) -> Any:
        """The row, for someone who may resolve it (support; a sale's managers too)."""
        model: Any = ResetRequest if kind is Kind.RESET else Sale
        row = session.get(model, item_id)
        if row is None:
            raise NotFound(f"That {kind.value} no longer exists.")
        if not self.roles.can(session, actor, Permission.TRIAGE, row.location_id) and not (
            kind is Kind.SALE
            and self.roles.can(session, actor, Permission.APPROVE_SALE, row.location_id)
        ):
            raise self.roles.refusal(session, actor, Permission.TRIAGE, row.location_id)
        return row

    def for_resolving(self, actor: Actor, kind: Kind, item_id: str) -> Item:
        """The failure as its Resolve modal names it; refuses, before the modal opens,
        whoever may not resolve it."""
        with self.db.session() as session:
            row = self._resolvable(session, actor, kind, item_id)
            return reset_item(row) if kind is Kind.RESET else sale_item(row)

    def resolve(self, actor: Actor, kind: Kind, item_id: str, note: str) -> Item:
        """Support (or, for a sale, a manager of its location) closes a failure with a note."""
        note = (note or "").strip()
        if not note:
            raise InvalidInput({"note": "Say what was done, for whoever looks at it next."})
        now = self.clock.now()
        model: Any = ResetRequest if kind is Kind.RESET else Sale
        failures = RESET_FAILURES if kind is Kind.RESET else SALE_FAILURES
        with self.db.session() as session:
            row = self._resolvable(session, actor, kind, item_id)
            won = session.execute(
                update(model)
                .where(
                    model.id == item_id,
                    model.resolved_at.is_(None),
                    model.status.in_([s.value for s in failures]),
                )
                .values(
                    resolved_by=actor.user_id,
                    resolved_at=now,
                    resolution_note=note[:2000],
                    updated_at=now,
                )
            ).rowcount  # type: ignore[attr-defined]
            if not won:
                raise NothingToResolve(f"This {kind.value} is already resolved or not a failure.")
            audit.record(
                session,
                self.clock,
                actor=actor.key,
                action=f"{kind.value}.resolve",
                subject_type=kind.value,
                subject_id=item_id,
                location_id=row.location_id,
                details={"note": note[:2000]},
            )
            # The resolution shows on the triage post and on the Homes that list it.
            self.outbox.slot(
                session,
                NoticeKind.RESET_TRIAGE if kind is Kind.RESET else NoticeKind.SALE_TRIAGE,
                subject_type=kind.value,
                subject_id=item_id,
                location_id=row.location_id,
            )
            self.outbox.homes_changed(
                session,
                Audience(
                    location_id=row.location_id,
                    org_id=row.org_id,
                    user_id=row.user_id,
                    managers=kind is Kind.SALE,
                    support=True,
                ),
            )
            session.refresh(row)
            return reset_item(row) if kind is Kind.RESET else sale_item(row)

    # -- history ----------------------------------------------------------------------
    def _history_scope(self, session: Session, actor: Actor) -> list[str]:
        """Where the actor may read members' history; refuses someone who may nowhere."""
        where = self._scope(session, actor, Permission.HISTORY)
        if not where:
            raise self.roles.refusal(session, actor, Permission.HISTORY, None)
        return where

    def require_history(self, actor: Actor) -> None:
        """Refuses, in plain words, someone who may read no member's history."""
        with self.db.session() as session:
            self._history_scope(session, actor)

    def history(self, actor: Actor, text: str, *, limit: int = 25) -> list[Item]:
        """One member's resets and sales, masked, newest first (support; managers at their
        locations)."""
        raw = guess_identity(text)
        kind, value = _identifier(raw)
        if value is None:
            raise InvalidInput(
                {"member": "Give an email, a username, an account id or a card number."}
            )
        with self.db.session() as session:
            where = self._history_scope(session, actor)
            digest = identifier_hash(kind, value)
            resets = session.scalars(
                select(ResetRequest)
                .where(ResetRequest.identifier_hash == digest, ResetRequest.location_id.in_(where))
                .order_by(ResetRequest.created_at.desc())
                .limit(limit)
            ).all()
            items = [reset_item(r, r.created_at) for r in resets]
            if kind == "email":
                sales = session.scalars(
                    select(Sale)
                    .where(Sale.member_email_hash == digest, Sale.location_id.in_(where))
                    .order_by(Sale.created_at.desc())
                    .limit(limit)
                ).all()
                items.extend(sale_item(s, s.created_at) for s in sales)
        items.sort(key=lambda item: item.at, reverse=True)
        return items[:limit]


def _identifier(raw: ResetInput) -> tuple[str, str | None]:
    """(kind, value) as the reset and sale rows hash them (identifier_hash normalises)."""
    for kind in ("email", "username", "account_id", "card"):
        value = getattr(raw, kind)
        if value:
            return kind, value.strip()
    return "email", None

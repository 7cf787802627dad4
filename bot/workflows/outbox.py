"""The outbox, Slack-free: what Slack must be told, recorded as plain data in the same
transaction as the change it reports, and the notifier's claims on it.

A workflow never calls Slack. When it changes something people see, it records a
*notice* in its own transaction: the change and its notice commit together or not
at all, so a notice can be neither lost (Slack down, the process killed after the
commit) nor sent for a change that did not happen. The notifier
(:mod:`bot.notices`) delivers them: it claims due notices with the queues'
compare-and-set under ``FOR UPDATE SKIP LOCKED`` (several processes share the
outbox), renders each with the subject as it is *then*, calls Slack, and records
the outcome here.

Three shapes of notice:

- a **slot** is a message kept in step with its subject (a reset's confirmation,
  a triage post, a sale's approval message, the requester's DM, a person's Home).
  At most one notice waits per slot: a later change only refreshes the waiting one
  (its payload and expiry). Delivering it posts the message the first time and
  updates it afterwards, rendering the subject's current state, so a message never
  shows an earlier state than one it showed before ("Sending…" never follows the
  outcome), whatever the order in which changes and deliveries interleave.
- a **post** in a lane is a message of its own (a thread note, an outcome DM that
  must notify): delivered once, after everything recorded before it in its lane
  (a thread note waits for the message it replies to).
- a **reply** goes to a Slack ``response_url`` (an ephemeral answer to a click);
  the URL is wiped once used and the notice expires with it (30 minutes).

Adding a kind of notice (a reminder, an escalation) takes three steps:

1. a member of :class:`NoticeKind` and, if its message must be updated later, its
   slot's columns in :data:`SLOT_REFS` (where the posted message's ts is kept);
2. a renderer in ``bot/notices/render.py`` (``RENDERERS[kind]``), which turns the
   notice and the current rows into one Slack call with the ``bot/slack`` builders;
3. a call to :meth:`Outbox.slot`, :meth:`Outbox.post` or :meth:`Outbox.reply` from
   the workflow, inside the transaction of the change it reports.

Expiry (see the README): a notice not delivered by its ``expires_at`` is abandoned,
visibly (a metric and the admins' App Home): replies after 30 minutes (their
``response_url`` is dead), Homes after an hour (the next change or visit republishes
them), messages after ``FRONTDESK_NOTICE_EXPIRY_HOURS`` (24). Slack errors that no
retry can fix (a channel not found, blocks refused, a missing scope, a revoked token)
abandon a notice at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, and_, case, delete, exists, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.clock import Clock
from bot.workflows import queue
from bot.workflows.signals import Signals, Topic
from storage.db import Database, before_commit, insert_for, insert_once
from storage.models import PENDING_NOTICE, Notice, RateBudget, ResetRequest, Sale

log = logging.getLogger("frontdesk.outbox")


class NoticeKind(StrEnum):
    RESET_CONFIRMATION = "reset.confirmation"  # slot: the requester's DM, Send → outcome
    RESET_SCREEN = "reset.screen"  # slot: the requester's modal or private message
    RESET_TRIAGE = "reset.triage"  # slot: a failed reset's triage post
    RESET_RETRY_NOTE = "reset.retry_note"  # post: a retry's outcome in the triage thread
    RESET_NOT_FOUND_STREAK = (
        "reset.not_found_streak"  # post: a location's resets all "no such member"
    )
    SALE_APPROVAL = "sale.approval"  # slot: the approvals channel's message
    SALE_DM = "sale.dm"  # slot: the requester's DM about their sale
    SALE_TRIAGE = "sale.triage"  # slot: a failed sale's triage post
    SALE_NOTE = "sale.note"  # post: a note in the approval message's thread
    SALE_TELL = "sale.tell"  # post: a new DM to the requester (it notifies)
    SALE_REMINDER = "sale.reminder"  # post: in the approval thread, or a manager's DM
    SALE_ESCALATION = "sale.escalation"  # post: in the approval thread, or a named person's DM
    REPLY = "reply"  # reply: ephemeral, through a response_url
    HOME = "home"  # slot: one person's App Home
    HOMES = "homes"  # fan-out: a change some Homes show (who sees it is found later)


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    ABANDONED = "abandoned"


#: Priorities: lower first.
PERSON_WAITING, MESSAGES, BACKGROUND = 0, 1, 2

#: Where a slot's posted message is kept: (model, channel column, ts column).
SLOT_REFS: dict[NoticeKind, tuple[Any, str, str]] = {
    NoticeKind.RESET_CONFIRMATION: (ResetRequest, "channel_id", "message_ts"),
    NoticeKind.RESET_TRIAGE: (ResetRequest, "triage_channel_id", "triage_ts"),
    NoticeKind.SALE_APPROVAL: (Sale, "approval_channel_id", "approval_ts"),
    NoticeKind.SALE_DM: (Sale, "dm_channel_id", "dm_ts"),
    NoticeKind.SALE_TRIAGE: (Sale, "triage_channel_id", "triage_ts"),
}

REPLY_LIFETIME = timedelta(minutes=30)
HOME_LIFETIME = timedelta(hours=1)
#: Delivered notices are kept this long (for support), abandoned ones longer.
KEEP_DONE = timedelta(days=7)
KEEP_ABANDONED = timedelta(days=30)


#: Slack's clock against ours: a lookup's window is this much wider on each side.
LOOKUP_MARGIN = timedelta(seconds=5)


def lookup_window(channel: str, started: datetime, ended: datetime) -> dict[str, str]:
    """Where a post attempted from ``started`` to ``ended`` can have landed: the
    messages of ``channel`` (a user id until their DM is opened) strictly between two
    Slack timestamps (seconds since the epoch), a margin either side."""
    return {
        "channel": channel,
        "oldest": f"{(started - LOOKUP_MARGIN).timestamp():.6f}",
        "latest": f"{(ended + LOOKUP_MARGIN).timestamp():.6f}",
    }


def union_of(first: dict[str, Any] | None, second: dict[str, Any]) -> dict[str, Any]:
    """Both windows (two attempts whose posts may both have landed)."""
    if not first:
        return dict(second)
    channels = [c for c in (first.get("channel"), second.get("channel")) if c]
    opened = [c for c in channels if not str(c).startswith(("U", "W"))]
    return {
        "channel": (opened or channels or [""])[0],
        "oldest": min(str(first["oldest"]), str(second["oldest"]), key=float),
        "latest": max(str(first["latest"]), str(second["latest"]), key=float),
    }


def slot_key(kind: NoticeKind, subject_id: str) -> str:
    return f"{kind.value}:{subject_id}"


def home_key(org_id: str, user_id: str) -> str:
    return f"{NoticeKind.HOME.value}:{org_id}:{user_id}"


@dataclass(frozen=True)
class Audience:
    """Whose Homes a change shows on: its requester, the managers of its location
    (sales), support (failures and the day's counts), admins (abandoned notices)."""

    location_id: str | None
    org_id: str | None = None
    user_id: str | None = None
    managers: bool = False
    support: bool = False
    admins: bool = False

    def key(self) -> str:
        flags = "".join("1" if f else "0" for f in (self.managers, self.support, self.admins))
        return f"{self.location_id}:{self.org_id}:{self.user_id}:{flags}"


@dataclass(frozen=True)
class AbandonedNotice:
    id: int
    kind: str
    subject_type: str | None
    subject_id: str | None
    location_id: str | None
    reason: str | None
    at: datetime


class Outbox:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        signals: Signals,
        message_hours: float = 24.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.signals = signals
        self.message_lifetime = timedelta(hours=message_hours)
        self.lease = timedelta(seconds=lease_seconds)
        self._statements: dict[tuple[str, bool], Any] = {}

    # -- recording (in the caller's transaction) ----------------------------------------
    def _statement(self, dialect: str, *, upsert: bool) -> Any:
        """The insert of a notice, built once per database kind (a slot's refreshes a
        waiting notice of its slot instead: the newest payload, a new expiry, the most
        urgent priority and due time)."""
        key = (dialect, upsert)
        statement = self._statements.get(key)
        if statement is not None:
            return statement
        insert = insert_for(dialect)
        statement = insert(cast(Table, Notice.__table__))
        if upsert:
            table = Notice.__table__.c
            statement = statement.on_conflict_do_update(
                index_elements=["slot"],
                index_where=text(PENDING_NOTICE),
                set_={
                    "payload": statement.excluded.payload,
                    "expires_at": statement.excluded.expires_at,
                    "priority": case(
                        (table.priority < statement.excluded.priority, table.priority),
                        else_=statement.excluded.priority,
                    ),
                    "available_at": case(
                        (table.available_at < statement.excluded.available_at, table.available_at),
                        else_=statement.excluded.available_at,
                    ),
                },
            )
        self._statements[key] = statement
        return statement

    def _lifetime(self, kind: NoticeKind) -> timedelta:
        if kind in (NoticeKind.REPLY, NoticeKind.RESET_SCREEN):
            return REPLY_LIFETIME
        if kind in (NoticeKind.HOME, NoticeKind.HOMES):
            return HOME_LIFETIME
        return self.message_lifetime

    def _insert(
        self,
        session: Session,
        kind: NoticeKind,
        *,
        lane: str,
        slot: str | None,
        subject_type: str | None,
        subject_id: str | None,
        location_id: str | None,
        payload: dict[str, Any],
        priority: int,
    ) -> None:
        now = self.clock.now()
        values = {
            "kind": kind.value,
            "lane": lane,
            "slot": slot,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "location_id": location_id,
            "payload": payload,
            "priority": priority,
            "status": NoticeStatus.PENDING.value,
            "attempts": 0,
            "available_at": now,
            "created_at": now,
            "expires_at": now + self._lifetime(kind),
        }
        # Gathered, and written in one statement per shape when the transaction
        # commits (a slot recorded twice in one transaction is written once).
        gathered: dict[Any, dict[str, Any]] = session.info.setdefault("outbox", {})
        if slot is not None and slot in gathered:
            gathered[slot].update(payload=payload, expires_at=values["expires_at"])
            gathered[slot]["priority"] = min(gathered[slot]["priority"], priority)
        else:
            gathered[slot if slot is not None else object()] = values
        before_commit(session, "outbox", lambda: self._write(session))

    def _write(self, session: Session) -> None:
        gathered: dict[Any, dict[str, Any]] = session.info.pop("outbox", {})
        if not gathered:
            return
        dialect = session.get_bind().dialect.name
        slots = [v for v in gathered.values() if v["slot"] is not None]
        others = [v for v in gathered.values() if v["slot"] is None]
        if slots:
            session.execute(self._statement(dialect, upsert=True), slots)
        if others:
            session.execute(self._statement(dialect, upsert=False), others)
        self.signals.queued(session, Topic.NOTICES)

    def slot(
        self,
        session: Session,
        kind: NoticeKind,
        *,
        subject_type: str,
        subject_id: str,
        location_id: str | None,
        payload: dict[str, Any] | None = None,
        priority: int = MESSAGES,
    ) -> None:
        """Bring the subject's ``kind`` message in step with it (posted the first time)."""
        key = slot_key(kind, subject_id)
        self._insert(
            session,
            kind,
            lane=key,
            slot=key,
            subject_type=subject_type,
            subject_id=subject_id,
            location_id=location_id,
            payload=payload or {},
            priority=priority,
        )

    def post(
        self,
        session: Session,
        kind: NoticeKind,
        *,
        after: tuple[NoticeKind, str] | None,
        subject_type: str,
        subject_id: str,
        location_id: str | None,
        payload: dict[str, Any],
    ) -> None:
        """A message of its own, delivered after everything recorded before it in the
        lane of the ``after`` slot (a thread reply waits for its parent)."""
        lane = slot_key(*after) if after else f"post:{uuid.uuid4()}"
        self._insert(
            session,
            kind,
            lane=lane,
            slot=None,
            subject_type=subject_type,
            subject_id=subject_id,
            location_id=location_id,
            payload=payload,
            priority=MESSAGES,
        )

    def reply(
        self,
        session: Session,
        response_url: str | None,
        payload: dict[str, Any],
        *,
        location_id: str | None = None,
    ) -> None:
        """An ephemeral answer through the click's ``response_url`` (nothing without one)."""
        if not response_url:
            return
        self._insert(
            session,
            NoticeKind.REPLY,
            lane=f"reply:{uuid.uuid4()}",
            slot=None,
            subject_type=None,
            subject_id=None,
            location_id=location_id,
            payload={**payload, "response_url": response_url},
            priority=PERSON_WAITING,
        )

    def answer(self, response_url: str | None, text: str) -> None:
        """An ephemeral answer that reports no change of ours (in its own transaction)."""
        with self.db.session() as session:
            self.reply(session, response_url, {"what": "text", "text": text})

    def home(self, session: Session, org_id: str, user_id: str, *, waiting: bool) -> None:
        """Publish this person's Home (``waiting``: they are looking at it now)."""
        key = home_key(org_id, user_id)
        self._insert(
            session,
            NoticeKind.HOME,
            lane=key,
            slot=key,
            subject_type="person",
            subject_id=f"{org_id}:{user_id}",
            location_id=None,
            payload={"org_id": org_id, "user_id": user_id},
            priority=PERSON_WAITING if waiting else BACKGROUND,
        )

    def homes_changed(self, session: Session, audience: Audience) -> None:
        """Something some Homes show changed: the notifier finds whose, off this path."""
        key = f"{NoticeKind.HOMES.value}:{audience.key()}"
        self._insert(
            session,
            NoticeKind.HOMES,
            lane=key,
            slot=key,
            subject_type=None,
            subject_id=None,
            location_id=audience.location_id,
            payload={
                "location_id": audience.location_id,
                "org_id": audience.org_id,
                "user_id": audience.user_id,
                "managers": audience.managers,
                "support": audience.support,
                "admins": audience.admins,
            },
            priority=BACKGROUND,
        )

    # -- the notifier's side ----------------------------------------------------------
    def claim(
        self, worker_id: str, limit: int = 1, *, skip_kinds: tuple[NoticeKind, ...] = ()
    ) -> list[Notice]:
        """Take due notices, at most one per lane and only the first of its lane
        (``skip_kinds``: not these now, e.g. Homes while the publish budget is spent);
        the claimed rows, read in the same transaction."""
        now = self.clock.now()
        earlier = aliased(Notice)
        blocked = exists(
            select(earlier.id).where(
                earlier.lane == Notice.lane,
                or_(
                    earlier.status == NoticeStatus.SENDING.value,
                    and_(earlier.status == NoticeStatus.PENDING.value, earlier.id < Notice.id),
                ),
            )
        )
        with self.db.session() as session:
            ids = queue.claim_due(
                session,
                Notice,
                ready=NoticeStatus.PENDING.value,
                claimed=NoticeStatus.SENDING.value,
                worker_id=worker_id,
                now=now,
                lease_until=now + self.lease,
                limit=limit,
                where=[
                    ~blocked,
                    *([Notice.kind.not_in([k.value for k in skip_kinds])] if skip_kinds else []),
                ],
                order_by=[Notice.priority, Notice.available_at, Notice.id],
            )
            if not ids:
                return []
            return list(
                session.scalars(select(Notice).where(Notice.id.in_(ids)).order_by(Notice.id))
            )

    def fan_out(
        self,
        first: Notice,
        worker_id: str,
        ask: Callable[[Session, list[Audience]], list[Any]],
        limit: int = 500,
    ) -> int:
        """Every change waiting to reach Homes (``first``, claimed, and those due now),
        expanded by ``ask`` into one Home publish per viewer, in one transaction; how
        many Homes were asked for."""
        now = self.clock.now()
        with self.db.session() as session:
            more = queue.claim_due(
                session,
                Notice,
                ready=NoticeStatus.PENDING.value,
                claimed=NoticeStatus.SENDING.value,
                worker_id=worker_id,
                now=now,
                lease_until=now + self.lease,
                limit=limit,
                where=[Notice.kind == NoticeKind.HOMES.value],
                order_by=[Notice.id],
            )
            payloads = [first.payload]
            if more:
                payloads += list(session.scalars(select(Notice.payload).where(Notice.id.in_(more))))
            asked = ask(session, [Audience(**p) for p in payloads])
            session.execute(
                update(Notice)
                .where(
                    Notice.id.in_([first.id, *more]),
                    Notice.status == NoticeStatus.SENDING.value,
                    Notice.worker_id == worker_id,
                )
                .values(
                    status=NoticeStatus.DONE.value,
                    finished_at=now,
                    lease_until=None,
                    last_error=f"{len(asked)} homes",
                )
            )
        return len(asked)

    def get(self, notice_id: int) -> Notice | None:
        with self.db.session() as session:
            return session.get(Notice, notice_id)

    def _mine(self, notice_id: int, worker_id: str) -> Any:
        return and_(
            Notice.id == notice_id,
            Notice.status == NoticeStatus.SENDING.value,
            Notice.worker_id == worker_id,
        )

    def done(
        self,
        notice: Notice,
        worker_id: str,
        *,
        channel_id: str | None = None,
        ts: str | None = None,
        note: str | None = None,
    ) -> bool:
        """Delivered: kept as done; a slot's new message is recorded on its subject."""
        now = self.clock.now()
        payload = {k: v for k, v in notice.payload.items() if k != "response_url"}
        with self.db.session() as session:
            won = session.execute(
                update(Notice)
                .where(self._mine(notice.id, worker_id))
                .values(
                    status=NoticeStatus.DONE.value,
                    finished_at=now,
                    lease_until=None,
                    channel_id=channel_id,
                    ts=ts,
                    payload=payload,
                    last_error=note[:200] if note else None,
                )
            ).rowcount  # type: ignore[attr-defined]
            ref = SLOT_REFS.get(NoticeKind(notice.kind))
            if ref is not None and ts and notice.subject_id:
                model, channel_column, ts_column = ref
                session.execute(
                    update(model)
                    .where(model.id == notice.subject_id, getattr(model, ts_column).is_(None))
                    .values({channel_column: channel_id, ts_column: ts})
                )
        if not won:
            log.warning(
                "a notice was delivered after its lease ran out", extra={"notice": notice.id}
            )
        return bool(won)

    def later(
        self,
        notice: Notice,
        worker_id: str,
        *,
        delay: float,
        error: str,
        attempt: bool = True,
        since: datetime | None = None,
        lookup: dict[str, Any] | None = None,
        posted: tuple[str, str] | None = None,
    ) -> None:
        """Not delivered this time: due again after ``delay`` seconds. ``since``: an
        attempt started then may have taken effect (its answer was lost); ``lookup``:
        where the next attempt looks for a post that may have landed (replacing what
        the notice knew: a new window, what is left of one, or ``{}`` when the lookup
        concluded); ``posted``: a post Slack accepted (channel, ts) whose recording
        failed: the next attempt records it."""
        now = self.clock.now()
        for _ in range(3):
            try:
                with self.db.session() as session:
                    mine = session.get(Notice, notice.id, with_for_update=True)
                    if (
                        mine is None
                        or mine.status != NoticeStatus.SENDING
                        or mine.worker_id != worker_id
                    ):
                        return
                    if since is not None:
                        mine.uncertain_since = since
                    if lookup is not None:
                        mine.lookup = lookup or None  # {}: nothing left to look for
                    if posted is not None:
                        mine.channel_id, mine.ts = posted
                    if mine.slot is not None and self._merge_into_waiting(
                        session,
                        mine,
                        error,
                        since=mine.uncertain_since,
                        lookup=mine.lookup,
                        posted=(mine.channel_id, mine.ts) if mine.ts and mine.channel_id else None,
                    ):
                        return
                    mine.status = NoticeStatus.PENDING.value
                    mine.available_at = now + timedelta(seconds=delay)
                    mine.attempts = mine.attempts + (1 if attempt else 0)
                    mine.last_error = error[:200]
                    mine.worker_id = None
                    mine.lease_until = None
                return
            except IntegrityError:
                # A change recorded a new notice for this slot meanwhile: merge into it.
                continue

    def _merge_into_waiting(
        self,
        session: Session,
        mine: Notice,
        error: str,
        *,
        since: datetime | None,
        lookup: dict[str, Any] | None,
        posted: tuple[str, str] | None,
    ) -> bool:
        """A newer notice of the same slot waits already: it carries the work on (and
        what this one knows about a post that may have landed: ``since``, ``lookup``,
        ``posted``); this one is done."""
        waiting = session.scalars(
            select(Notice).where(
                Notice.slot == mine.slot, Notice.status == NoticeStatus.PENDING.value
            )
        ).first()
        if waiting is None:
            return False
        values: dict[str, Any] = {"attempts": max(waiting.attempts, mine.attempts + 1)}
        if since is not None and (
            waiting.uncertain_since is None or since < waiting.uncertain_since
        ):
            values["uncertain_since"] = since
        if lookup is not None:
            values["lookup"] = union_of(waiting.lookup, lookup)
        if posted is not None and waiting.ts is None:
            values.update(channel_id=posted[0], ts=posted[1])
        taken = session.execute(
            update(Notice)
            .where(Notice.id == waiting.id, Notice.status == NoticeStatus.PENDING.value)
            .values(**values)
        ).rowcount  # type: ignore[attr-defined]
        if not taken:
            return False  # claimed meanwhile: this one goes back to waiting instead
        mine.status = NoticeStatus.DONE.value
        mine.finished_at = self.clock.now()
        mine.last_error = f"superseded after: {error}"[:200]
        mine.lease_until = None
        return True

    def abandon(self, notice: Notice, worker_id: str | None, reason: str) -> bool:
        """Given up (expired, or an error no retry can fix): kept, visible, counted."""
        now = self.clock.now()
        where = (
            self._mine(notice.id, worker_id)
            if worker_id
            else and_(Notice.id == notice.id, Notice.status == NoticeStatus.PENDING.value)
        )
        payload = {k: v for k, v in notice.payload.items() if k != "response_url"}
        with self.db.session() as session:
            won = session.execute(
                update(Notice)
                .where(where)
                .values(
                    status=NoticeStatus.ABANDONED.value,
                    finished_at=now,
                    lease_until=None,
                    last_error=reason[:200],
                    payload=payload,
                )
            ).rowcount  # type: ignore[attr-defined]
            if won and notice.kind not in (NoticeKind.HOME, NoticeKind.HOMES):
                self.homes_changed(session, Audience(location_id=None, admins=True))
            if won and notice.kind == NoticeKind.SALE_APPROVAL and notice.subject_id:
                # The requester's DM says the approval message never made it (who has
                # been asked: only what happened).
                self.slot(
                    session,
                    NoticeKind.SALE_DM,
                    subject_type="sale",
                    subject_id=notice.subject_id,
                    location_id=notice.location_id,
                )
        return bool(won)

    def recover(self) -> int:
        """Notices a dead process was delivering (its lease ran out): due again, and
        uncertain since the claim (a post may have landed before it died)."""
        now = self.clock.now()
        count = 0
        with self.db.session() as session:
            stale = session.scalars(
                select(Notice).where(
                    Notice.status == NoticeStatus.SENDING.value, Notice.lease_until < now
                )
            ).all()
            for notice in stale:
                claimed = (notice.lease_until or now) - self.lease
                since = notice.uncertain_since or claimed
                # A post may have landed any time while it held the lease.
                lookup = union_of(
                    notice.lookup,
                    lookup_window((notice.lookup or {}).get("channel", ""), claimed, now),
                )
                if notice.slot is not None and self._merge_into_waiting(
                    session,
                    notice,
                    "abandoned by its process",
                    since=since,
                    lookup=lookup,
                    posted=None,
                ):
                    count += 1
                    continue
                try:
                    with session.begin_nested():
                        won = session.execute(
                            update(Notice)
                            .where(
                                Notice.id == notice.id,
                                Notice.status == NoticeStatus.SENDING.value,
                                Notice.lease_until < now,
                            )
                            .values(
                                status=NoticeStatus.PENDING.value,
                                available_at=now,
                                uncertain_since=since,
                                lookup=lookup,
                                worker_id=None,
                                lease_until=None,
                                last_error="abandoned by its process",
                            )
                        ).rowcount  # type: ignore[attr-defined]
                except IntegrityError:
                    continue  # a newer notice of its slot appeared: the next round merges
                count += won
            if count:
                self.signals.queued(session, Topic.NOTICES)
        return count

    def release(self, error_prefix: str) -> int:
        """Slack is back: notices waiting out a backoff for ``error_prefix`` are due now."""
        now = self.clock.now()
        with self.db.session() as session:
            released = session.execute(
                update(Notice)
                .where(
                    Notice.status == NoticeStatus.PENDING.value,
                    Notice.available_at > now,
                    Notice.last_error.like(f"{error_prefix}%"),
                )
                .values(available_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if released:
                self.signals.queued(session, Topic.NOTICES)
        return int(released or 0)

    def waiting_in_lane(self, lane: str, before: int) -> bool:
        """Whether a notice recorded before ``before`` in ``lane`` is still to deliver."""
        with self.db.session() as session:
            return bool(
                session.scalar(
                    select(func.count())
                    .select_from(Notice)
                    .where(
                        Notice.lane == lane,
                        Notice.id < before,
                        Notice.status.in_([NoticeStatus.PENDING.value, NoticeStatus.SENDING.value]),
                    )
                )
            )

    def slot_was_given_up(self, kind: NoticeKind, subject_id: str) -> bool:
        """Whether the slot's last notice was abandoned (its message may never come)."""
        with self.db.session() as session:
            last = session.scalars(
                select(Notice.status)
                .where(Notice.slot == slot_key(kind, subject_id))
                .order_by(Notice.id.desc())
                .limit(1)
            ).first()
        return last == NoticeStatus.ABANDONED.value

    def take_token(self, name: str, *, rate: float, burst: float) -> float:
        """One token from the shared bucket ``name`` (``rate`` per second, up to
        ``burst``): 0 when taken, else the seconds until one will be there. Every
        process shares the bucket (a compare-and-set on its row)."""
        for _ in range(20):
            now = self.clock.now()
            with self.db.session() as session:
                row = session.get(RateBudget, name)
                if row is None:
                    insert_once(
                        session, RateBudget, ["name"], name=name, tokens=burst - 1, updated_at=now
                    )
                    created = session.get(RateBudget, name)
                    if created is not None and created.updated_at == now:
                        return 0.0
                    continue
                elapsed = max(0.0, (now - row.updated_at).total_seconds())
                tokens = min(burst, row.tokens + elapsed * rate)
                left = tokens - 1 if tokens >= 1 else tokens
                # Never back in time: a thread whose ``now`` predates another's write
                # would otherwise refill the time that write already counted.
                won = session.execute(
                    update(RateBudget)
                    .where(
                        RateBudget.name == name,
                        RateBudget.updated_at == row.updated_at,
                        RateBudget.tokens == row.tokens,
                    )
                    .values(tokens=left, updated_at=max(now, row.updated_at))
                ).rowcount  # type: ignore[attr-defined]
                if not won:
                    continue
                return 0.0 if tokens >= 1 else (1 - tokens) / rate
        return 1.0 / rate

    # -- what people see of it --------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self.db.session() as session:
            rows = session.execute(
                select(Notice.status, func.count())
                .where(
                    Notice.status.in_(
                        [
                            NoticeStatus.PENDING.value,
                            NoticeStatus.SENDING.value,
                            NoticeStatus.ABANDONED.value,
                        ]
                    )
                )
                .group_by(Notice.status)
            ).all()
        return {status: count for status, count in rows}

    def abandoned(
        self, session: Session, *, days: int = 7, limit: int = 5
    ) -> tuple[int, list[AbandonedNotice]]:
        """Notices given up in the last ``days``: how many, and the latest few."""
        since = self.clock.now() - timedelta(days=days)
        where = (Notice.status == NoticeStatus.ABANDONED.value, Notice.finished_at >= since)
        total = session.scalar(select(func.count()).select_from(Notice).where(*where)) or 0
        rows = session.scalars(
            select(Notice).where(*where).order_by(Notice.finished_at.desc()).limit(limit)
        ).all()
        return total, [
            AbandonedNotice(
                id=row.id,
                kind=row.kind,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                location_id=row.location_id,
                reason=row.last_error,
                at=row.finished_at or row.created_at,
            )
            for row in rows
        ]

    def purge(self) -> int:
        """Forget delivered notices after a week and abandoned ones after a month."""
        now = self.clock.now()
        with self.db.session() as session:
            removed = session.execute(
                delete(Notice).where(
                    or_(
                        and_(
                            Notice.status == NoticeStatus.DONE.value,
                            Notice.finished_at < now - KEEP_DONE,
                        ),
                        and_(
                            Notice.status == NoticeStatus.ABANDONED.value,
                            Notice.finished_at < now - KEEP_ABANDONED,
                        ),
                    )
                )
            ).rowcount  # type: ignore[attr-defined]
        return int(removed or 0)

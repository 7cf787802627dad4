"""Approvals that never stall: reminders and escalations of pending sales, Slack-free.

A sale pending approval that nobody has decided

- **reminds** its location's managers ``remind_after`` (30 minutes) after this
  version of it was sent for approval: a reply in the approval message's thread,
  and a direct message to each manager who has not opened this version in Review
  (never the requester, never one who already approved it);
- **escalates** ``escalate_after`` (2 hours) after it was first submitted to the
  location's escalation group (``escalation_group`` in the locations file): a reply
  in the thread that mentions the user group, or names the people and sends each a
  direct message. The people escalated to may then decide that sale (Review,
  Approve, Reject) even without the manager role there: see
  :func:`escalated_to`.

A change to a pending sale is a new round: its reminder clock starts again and the
managers are asked again about it (also when it changed back to an earlier version),
but not its escalation, which counts from the submission: editing cannot hold it
off. Inside the location's quiet hours nobody is asked; what falls due there waits
for their end.

**Once, whatever the processes.** Every process's housekeeping runs
:meth:`Reminders.sweep`. A step is taken in one transaction that inserts who is
asked into ``sale_asks`` (unique per sale, round, reason and target), records
the notices (the outbox) and the audit event: all or nothing. The insert of the
step's thread row is the compare-and-set: a second process (or round) finds it
there and does nothing, so a restart neither loses (the notices are committed
with the asks; the notifier delivers them whatever process runs it, and looks up
a post whose answer was lost before posting again) nor repeats one.

**Never after a decision.** The step is taken only while the sale is pending, at
this version and not expired, checked under the sale's row lock (decisions take
it too) after the insert; the notifier checks again when it delivers
(:func:`still_asking` in the renderer), so a reminder queued just before a
decision, a withdrawal or an expiry is dropped, never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import ClubReadyLocation, Location
from bot.workflows import audit
from bot.workflows.asks import (
    AskReason,
    Target,
    current_asks,
    escalated_to,
    round_of,
    version_started,
)
from bot.workflows.outbox import NoticeKind, Outbox
from bot.workflows.roles import Permission, Roles
from bot.workflows.sales import SaleStatus
from storage.db import Database, insert_once
from storage.models import Sale, SaleApproval, SaleAsk, SaleSeen

log = logging.getLogger("frontdesk.reminders")

__all__ = [
    "AskReason",
    "Asked",
    "Reminders",
    "Target",
    "current_asks",
    "escalated_to",
    "escalation_usergroups",
    "quiet_until",
    "round_of",
    "still_asking",
    "version_started",
]


@dataclass(frozen=True)
class Step:
    reason: AskReason
    after: timedelta
    kind: NoticeKind
    action: str


@dataclass(frozen=True)
class Due:
    """A sale a step is due for, as the sweep saw it: its version and round."""

    sale_id: str
    fingerprint: str
    location_id: str
    round_at: datetime


@dataclass(frozen=True)
class Asked:
    """One reminder or escalation taken: who was asked about which sale, and when."""

    sale_id: str
    reason: AskReason
    at: datetime
    channel: str
    users: tuple[str, ...]
    usergroup: str | None


def still_asking(sale: Sale, fingerprint: str, now: datetime) -> bool:
    """Whether a reminder or escalation about this version may still go out: the sale
    is pending, at this version, and not expired (even if the expiry sweep has not
    marked it yet)."""
    return (
        sale.status == SaleStatus.PENDING_APPROVAL
        and sale.fingerprint == fingerprint
        and (sale.expires_at is None or sale.expires_at > now)
    )


def quiet_until(location: Location | None, now: datetime) -> datetime | None:
    """The end of the location's quiet hours if ``now`` falls inside them, else None."""
    quiet = getattr(location, "quiet_hours", None)
    if quiet is None or location is None:
        return None
    zone = ZoneInfo(location.timezone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    start, end = quiet.start_minute, quiet.end_minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = local.date() if minute < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end // 60, end % 60), tzinfo=zone).astimezone(UTC)


def escalation_usergroups(locations: dict[str, Location]) -> list[str]:
    """The Slack user groups sales escalate to (their members are read like those of
    the groups mapped to roles, for :func:`escalated_to`)."""
    return sorted(
        {
            location.escalation_group.usergroup
            for location in locations.values()
            if isinstance(location, ClubReadyLocation)
            and location.escalation_group is not None
            and location.escalation_group.usergroup
        }
    )


class Reminders:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        roles: Roles,
        locations: dict[str, Location],
        outbox: Outbox,
        remind_after_minutes: float = 30.0,
        escalate_after_minutes: float = 120.0,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.clock = clock
        self.roles = roles
        self.locations = locations
        self.outbox = outbox
        self.batch = batch
        self.reminder = Step(
            AskReason.REMINDER,
            timedelta(minutes=remind_after_minutes),
            NoticeKind.SALE_REMINDER,
            "sale.remind",
        )
        self.escalation = Step(
            AskReason.ESCALATION,
            timedelta(minutes=escalate_after_minutes),
            NoticeKind.SALE_ESCALATION,
            "sale.escalate",
        )

    # -- where each step applies ------------------------------------------------------
    def _asking_locations(self, step: Step, now: datetime) -> list[str]:
        """Locations whose pending sales this step concerns now: those with an
        approvals channel (and, to escalate, an escalation group) and outside their
        quiet hours (what falls due inside them is taken at their end)."""
        return [
            location.id
            for location in self.locations.values()
            if isinstance(location, ClubReadyLocation)
            and location.approvals_channel
            and (step.reason is not AskReason.ESCALATION or location.escalation_group)
            and quiet_until(location, now) is None
        ]

    # -- the sweep (every process's housekeeping) -------------------------------------
    def sweep(self) -> list[Asked]:
        """Take every reminder and escalation due now (outside quiet hours); what was
        taken by this call (another process may have taken some)."""
        asked: list[Asked] = []
        for step in (self.reminder, self.escalation):
            for due in self._due(step, self.clock.now()):
                taken = self._take(step, due)
                if taken is not None:
                    asked.append(taken)
        return asked

    def _due(self, step: Step, now: datetime) -> list[Due]:
        """Pending sales whose round waited ``step.after`` and has not had this step
        yet, oldest first."""
        where = self._asking_locations(step, now)
        if not where:
            return []
        started = (
            Sale.submitted_at
            if step.reason is AskReason.ESCALATION
            else func.coalesce(Sale.changed_at, Sale.submitted_at)
        )
        taken = exists().where(
            SaleAsk.sale_id == Sale.id,
            SaleAsk.round_at == started,
            SaleAsk.reason == step.reason.value,
            SaleAsk.target_kind == Target.CHANNEL.value,
        )
        with self.db.session() as session:
            rows = session.execute(
                select(Sale.id, Sale.fingerprint, Sale.location_id, started)
                .where(
                    Sale.status == SaleStatus.PENDING_APPROVAL,
                    Sale.expires_at > now,
                    Sale.location_id.in_(where),
                    started <= now - step.after,
                    ~taken,
                )
                .order_by(started)
                .limit(self.batch)
            ).all()
        return [
            Due(str(i), str(f), str(loc), started_at)
            for i, f, loc, started_at in rows
            if started_at is not None
        ]

    def _is_due(self, sale: Sale, due: Due, step: Step, now: datetime) -> bool:
        started = round_of(sale, step.reason)
        return (
            still_asking(sale, due.fingerprint, now)
            and started == due.round_at  # not changed since the sweep looked
            and started is not None
            and started + step.after <= now
        )

    def _take(self, step: Step, due: Due) -> Asked | None:
        """Ask about one sale for ``step``, once: asks, notices and audit in one
        transaction, whose first statement is the compare-and-set (the insert of the
        step's thread row)."""
        now = self.clock.now()
        sale_id = due.sale_id
        location = self.locations.get(due.location_id)
        if not isinstance(location, ClubReadyLocation) or not location.approvals_channel:
            return None
        if quiet_until(location, now) is not None:
            return None  # quiet hours began since the sweep looked
        channel = location.approvals_channel
        with self.db.session() as session:
            # The insert first: a writer from its first statement (on SQLite no read
            # snapshot to go stale before the write; on PostgreSQL a second process
            # waits here on the unique key until this one commits, then finds the row).
            if not self._insert(session, due, step.reason, Target.CHANNEL, channel, now):
                return None  # taken already, by another process or an earlier round
            # Decisions lock the sale's row too (PostgreSQL): one of us waits, and a
            # decision committed meanwhile is seen here.
            sale = session.scalars(
                select(Sale).where(Sale.id == sale_id).with_for_update()
            ).one_or_none()
            if sale is None or not self._is_due(sale, due, step, now):
                session.rollback()
                return None
            left_out: dict[str, list[str]] = {}
            if step.reason is AskReason.REMINDER:
                managers = self._other_managers(session, sale)
                # Once escalated, the people it went to are reminded of later versions
                # too (they may decide it: escalated_to).
                escalated = [(sale.org_id, u) for u in self._escalated_users(session, sale)]
                users = self._not_yet_seen(session, sale, [*managers, *escalated])
                usergroup = None
            else:
                group = location.escalation_group
                assert group is not None  # _due keeps only locations that escalate
                managers = []
                approved = self._approvers(session, sale)
                named = list(dict.fromkeys(group.users))
                users = [u for u in named if u not in approved and u != sale.user_id]
                usergroup = group.usergroup
                if not users and not usergroup:
                    # Say who is in the group and why nobody was asked (never "empty").
                    left_out = {
                        "requester": [u for u in named if u == sale.user_id],
                        "approved": [u for u in named if u in approved],
                    }
                    log.warning(
                        "a sale escalated to nobody: its escalation group holds only its "
                        "requester or approvers",
                        extra={"sale": sale.id, "location": sale.location_id},
                    )
            for user in users:
                self._insert(session, due, step.reason, Target.USER, user, now)
            if usergroup:
                self._insert(session, due, step.reason, Target.USERGROUP, usergroup, now)
            self._notices(session, step, sale, users, usergroup, len(managers), left_out)
            started = due.round_at
            details: dict[str, Any] = {
                "version": sale.fingerprint[:12],
                "channel": channel,
                "users": users,
                "waiting_since": started.isoformat() if started else None,
            }
            if usergroup:
                details["usergroup"] = usergroup
            if step.reason is AskReason.REMINDER:
                details["managers"] = len(managers)
            if left_out:
                details["nobody_asked"] = left_out
            audit.record(
                session,
                self.clock,
                actor="frontdesk",
                action=step.action,
                subject_type="sale",
                subject_id=sale.id,
                location_id=sale.location_id,
                details=details,
            )
        log.info(
            "sale %s",
            "reminded" if step.reason is AskReason.REMINDER else "escalated",
            extra={"sale": sale_id, "users": len(users), "usergroup": usergroup},
        )
        return Asked(sale_id, step.reason, now, channel, tuple(users), usergroup)

    # -- whom -------------------------------------------------------------------------
    def _other_managers(self, session: Session, sale: Sale) -> list[tuple[str, str]]:
        """The location's managers (grants and mapped user groups), the requester aside."""
        return [
            (org_id, user_id)
            for org_id, user_id in self.roles.holders(
                session, Permission.APPROVE_SALE, sale.location_id
            )
            if user_id != sale.user_id
        ]

    def _escalated_users(self, session: Session, sale: Sale) -> list[str]:
        """User ids this submission was escalated to by direct message, if it was."""
        return list(
            session.scalars(
                select(SaleAsk.target_id).where(
                    SaleAsk.sale_id == sale.id,
                    SaleAsk.reason == AskReason.ESCALATION.value,
                    SaleAsk.round_at == sale.submitted_at,
                    SaleAsk.target_kind == Target.USER.value,
                    SaleAsk.target_id != sale.user_id,
                )
            )
        )

    def _approvers(self, session: Session, sale: Sale) -> set[str]:
        """User ids of those who approved this version already."""
        return set(
            session.scalars(
                select(SaleApproval.approver_user_id).where(
                    SaleApproval.sale_id == sale.id,
                    SaleApproval.fingerprint == sale.fingerprint,
                )
            )
        )

    def _not_yet_seen(
        self, session: Session, sale: Sale, managers: Iterable[tuple[str, str]]
    ) -> list[str]:
        """User ids of the managers who have neither opened this version in Review nor
        approved it: the ones a direct message reminds."""
        seen = set(
            session.scalars(
                select(SaleSeen.approver).where(
                    SaleSeen.sale_id == sale.id, SaleSeen.fingerprint == sale.fingerprint
                )
            )
        )
        seen |= set(
            session.scalars(
                select(SaleApproval.approver).where(
                    SaleApproval.sale_id == sale.id,
                    SaleApproval.fingerprint == sale.fingerprint,
                )
            )
        )
        # A person is (org, user); one user id is one direct message.
        return list(
            dict.fromkeys(
                user_id for org_id, user_id in managers if f"{org_id}:{user_id}" not in seen
            )
        )

    # -- recording --------------------------------------------------------------------
    def _insert(
        self,
        session: Session,
        due: Due,
        reason: AskReason,
        target: Target,
        target_id: str,
        now: datetime,
    ) -> bool:
        """Record one ask; False if it was recorded already (the unique key)."""
        added = insert_once(
            session,
            SaleAsk,
            ["sale_id", "round_at", "reason", "target_kind", "target_id"],
            sale_id=due.sale_id,
            fingerprint=due.fingerprint,
            round_at=due.round_at,
            reason=reason.value,
            target_kind=target.value,
            target_id=target_id,
            at=now,
        )
        return added

    def _notices(
        self,
        session: Session,
        step: Step,
        sale: Sale,
        users: list[str],
        usergroup: str | None,
        managers: int,
        left_out: dict[str, list[str]],
    ) -> None:
        """The reply in the approval thread (after the approval message), a direct
        message to each person asked, and the requester's DM brought up to date (it
        lists who has been asked)."""
        self.outbox.post(
            session,
            step.kind,
            after=(NoticeKind.SALE_APPROVAL, sale.id),
            subject_type="sale",
            subject_id=sale.id,
            location_id=sale.location_id,
            payload={
                "to": "thread",
                "fingerprint": sale.fingerprint,
                "users": users,
                "usergroup": usergroup,
                "managers": managers,
                **left_out,
            },
        )
        for user in users:
            self.outbox.post(
                session,
                step.kind,
                after=None,
                subject_type="sale",
                subject_id=sale.id,
                location_id=sale.location_id,
                payload={"to": "dm", "fingerprint": sale.fingerprint, "user_id": user},
            )
        self.outbox.slot(
            session,
            NoticeKind.SALE_DM,
            subject_type="sale",
            subject_id=sale.id,
            location_id=sale.location_id,
        )

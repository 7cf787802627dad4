"""What a person's App Home shows, by role, Slack-free.

Front desk: their recent resets and sales. Managers: the pending approvals of
their locations (oldest first) and those locations' recent sales. Support: the
open failures, oldest first, and the last day's counts. Admins: the notices
frontdesk gave up delivering to Slack. Every list is a keyset page over an index,
so a home renders as fast with a million stored requests as with ten.

Homes are published through the outbox: a visit or a page click asks for the
visitor's own Home at once; a change asks for the Homes of those who look at
theirs and whose Home shows it (the requester, the location's managers, support),
found off the acknowledgement path by :meth:`HomeService.fan_out`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import ClubReadyLocation, Location
from bot.workflows import preferences
from bot.workflows.outbox import AbandonedNotice, Audience, Outbox
from bot.workflows.roles import GIVEN_BY, Actor, Permission, Role, Roles, allows
from bot.workflows.sales import SaleStatus
from bot.workflows.signals import Signals
from bot.workflows.triage import (
    Item,
    Page,
    TriageService,
    after,
    decode_cursor,
    page_of,
    reset_item,
    sale_item,
)
from storage.db import Database
from storage.models import ResetRequest, RoleGrant, Sale, UserPreference

#: Whose home to refresh on a change: those who looked at it this recently.
RECENT_VIEWER = timedelta(days=1)


class HomeStart(StrEnum):
    """What a person may start from their Home, as they may by command."""

    RESET = "reset"
    SELL = "sell"
    ROLES = "roles"


#: Which permission each Home button needs (somewhere).
START_NEEDS = {
    HomeStart.RESET: Permission.RESET,
    HomeStart.SELL: Permission.REQUEST_SALE,
    HomeStart.ROLES: Permission.MANAGE_ROLES,
}


@dataclass
class Home:
    roles: set[Role]
    recent: Page | None = None
    approvals: Page | None = None
    location_sales: list[Item] = field(default_factory=list)
    failures: Page | None = None
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    #: Admins: notices given up in the last week (how many, the latest few).
    abandoned: tuple[int, list[AbandonedNotice]] | None = None
    #: Admins: what the app found wrong with its setup at start (channels it cannot post in).
    setup_problems: list[str] = field(default_factory=list)
    #: What the person may start from their Home (Home's buttons).
    actions: set[HomeStart] = field(default_factory=set)
    #: Some admins, to name to a person who has no role (user ids).
    admins: list[str] = field(default_factory=list)
    #: Admins: how many people hold each role.
    people_by_role: dict[Role, int] = field(default_factory=dict)


class HomeService:
    def __init__(
        self,
        *,
        db: Database,
        roles: Roles,
        locations: dict[str, Location],
        clock: Clock,
        triage: TriageService,
        page_size: int = 10,
        outbox: Outbox | None = None,
    ) -> None:
        self.db = db
        self.roles = roles
        self.locations = locations
        self.clock = clock
        self.triage = triage
        self.page_size = page_size
        self.outbox = outbox or Outbox(db=db, clock=clock, signals=Signals())
        #: Set at start by the channel check; shown to admins.
        self.setup_problems: list[str] = []

    def home(self, actor: Actor, cursors: dict[str, str] | None = None) -> Home:
        cursors = dict(cursors or {})
        with self.db.session() as session:
            grants = self.roles.grants(session, actor)
            abandoned = (
                self.outbox.abandoned(session)
                if allows(grants, Permission.MANAGE_ROLES, None)
                else None
            )
            admin = allows(grants, Permission.MANAGE_ROLES, None)
            admins = [] if grants else self.roles.admins(session, actor)
            people_by_role = self._people_by_role(session, actor) if admin else {}
        approve_at = [
            location_id
            for location_id in self.locations
            if allows(grants, Permission.APPROVE_SALE, location_id)
        ]
        roles = {grant.role for grant in grants}
        home = Home(
            roles=roles,
            cursors=cursors,
            abandoned=abandoned,
            admins=admins,
            people_by_role=people_by_role,
        )
        where: dict[HomeStart, list[str | None]] = {
            HomeStart.RESET: list(self.locations),
            HomeStart.SELL: [
                i for i, loc in self.locations.items() if isinstance(loc, ClubReadyLocation)
            ],
            HomeStart.ROLES: [None],
        }
        home.actions = {
            start
            for start, permission in START_NEEDS.items()
            if any(allows(grants, permission, location_id) for location_id in where[start])
        }
        if Role.ADMIN in roles:
            home.setup_problems = list(self.setup_problems)
        if roles & {Role.FRONT_DESK, Role.MANAGER, Role.SUPPORT}:
            home.recent = self.recent_requests(actor, cursors.get("recent"))
        if approve_at:
            home.approvals = self.pending_approvals(approve_at, cursors.get("approvals"))
            home.location_sales = self.recent_sales(approve_at)
        if Role.SUPPORT in roles:
            home.failures = self.triage.open_failures(
                actor, cursor=cursors.get("failures"), limit=self.page_size
            )
            home.counts = self.triage.counts_last_day(actor)
        return home

    def _people_by_role(self, session: Session, actor: Actor) -> dict[Role, int]:
        """How many people hold each role in the admin's organisation (stored grants)."""
        rows = session.execute(
            select(RoleGrant.role, func.count(func.distinct(RoleGrant.user_id)))
            .where(RoleGrant.org_id == actor.org_id)
            .group_by(RoleGrant.role)
        ).all()
        return {Role(role): int(count) for role, count in rows if role in set(Role)}

    def recent_requests(self, actor: Actor, cursor: str | None) -> Page:
        position = decode_cursor(cursor)
        limit = self.page_size
        with self.db.session() as session:
            resets = (
                select(ResetRequest)
                .where(ResetRequest.org_id == actor.org_id, ResetRequest.user_id == actor.user_id)
                .order_by(ResetRequest.created_at.desc(), ResetRequest.id.desc())
                .limit(limit + 1)
            )
            sales = (
                select(Sale)
                .where(
                    Sale.org_id == actor.org_id,
                    Sale.user_id == actor.user_id,
                    Sale.status != SaleStatus.DRAFT,
                )
                .order_by(Sale.created_at.desc(), Sale.id.desc())
                .limit(limit + 1)
            )
            keyset = after(ResetRequest, ResetRequest.created_at, position, descending=True)
            if keyset is not None:
                resets = resets.where(keyset)
            keyset = after(Sale, Sale.created_at, position, descending=True)
            if keyset is not None:
                sales = sales.where(keyset)
            items = [reset_item(r, r.created_at) for r in session.scalars(resets)]
            items += [sale_item(s, s.created_at) for s in session.scalars(sales)]
        return page_of(items, limit, descending=True)

    def pending_approvals(self, location_ids: list[str], cursor: str | None) -> Page:
        position = decode_cursor(cursor)
        with self.db.session() as session:
            query = (
                select(Sale)
                .where(
                    Sale.status == SaleStatus.PENDING_APPROVAL, Sale.location_id.in_(location_ids)
                )
                .order_by(Sale.submitted_at, Sale.id)
                .limit(self.page_size + 1)
            )
            keyset = after(Sale, Sale.submitted_at, position, descending=False)
            if keyset is not None:
                query = query.where(keyset)
            items = [sale_item(s, s.submitted_at) for s in session.scalars(query)]
        return page_of(items, self.page_size, descending=False)

    def recent_sales(self, location_ids: list[str], limit: int = 5) -> list[Item]:
        with self.db.session() as session:
            rows = session.scalars(
                select(Sale)
                .where(Sale.location_id.in_(location_ids), Sale.finished_at.is_not(None))
                .order_by(Sale.finished_at.desc())
                .limit(limit)
            )
            return [sale_item(s) for s in rows]

    # -- who looks ----------------------------------------------------------------------
    def opened(self, actor: Actor) -> None:
        """This user opened their Home: publish it (first page), and remember that they
        look at it (to republish it when something it shows changes)."""
        with self.db.session() as session:
            preferences.remember(session, actor, home_opened_at=self.clock.now(), home_cursors={})
            self.outbox.home(session, actor.org_id, actor.user_id, waiting=True)

    def show(self, actor: Actor, cursors: dict[str, str]) -> None:
        """Publish this user's Home at these pages (kept for later republishes)."""
        with self.db.session() as session:
            preferences.remember(session, actor, home_cursors=cursors)
            self.outbox.home(session, actor.org_id, actor.user_id, waiting=True)

    def cursors(self, org_id: str, user_id: str) -> dict[str, str]:
        """The pages this user is on."""
        with self.db.session() as session:
            pref = session.get(UserPreference, (org_id, user_id))
            stored = (pref.home_cursors if pref else None) or {}
        return {str(k): str(v) for k, v in stored.items()}

    def fan_out(self, audiences: list[Audience]) -> list[Actor]:
        """Ask for the Homes that show these changes (:meth:`ask_homes`)."""
        with self.db.session() as session:
            return self.ask_homes(session, audiences)

    def ask_homes(
        self, session: Session, audiences: list[Audience], limit: int = 2000
    ) -> list[Actor]:
        """Record a publish of each Home that shows a change: of those who looked at
        theirs in the last day, the requester, the location's managers (sales), support
        (failures, counts) and admins (abandoned notices). Whose Homes were asked for.

        Who the change concerns is filtered in the database first (the requesters, and
        those who may hold a role whose Home shows it), so however many people looked
        at their Home today, every one it concerns is found; ``limit`` only bounds one
        fan-out (the most recent viewers first)."""
        since = self.clock.now() - RECENT_VIEWER
        people = {(a.org_id, a.user_id) for a in audiences if a.org_id and a.user_id}
        roles: set[Role] = set()
        for audience in audiences:
            if audience.managers:
                roles.update(GIVEN_BY[Permission.APPROVE_SALE])
            if audience.support:
                roles.update(GIVEN_BY[Permission.TRIAGE])
            if audience.admins:
                roles.update(GIVEN_BY[Permission.MANAGE_ROLES])
        concerned = []
        if people:
            concerned.append(tuple_(UserPreference.org_id, UserPreference.user_id).in_(people))
        if roles:
            concerned.append(
                self.roles.may_hold(UserPreference.org_id, UserPreference.user_id, roles)
            )
        if not concerned:
            return []
        rows = session.execute(
            select(UserPreference.org_id, UserPreference.user_id)
            .where(UserPreference.home_opened_at >= since, or_(*concerned))
            .order_by(UserPreference.home_opened_at.desc())
            .limit(limit)
        ).all()
        viewers = [Actor(team_id=org, user_id=user) for org, user in rows]
        grants = self.roles.grants_of(session, viewers) if roles and viewers else {}
        chosen: list[Actor] = []
        for viewer in viewers:
            person = (viewer.org_id, viewer.user_id)
            held = grants.get(person, [])
            for audience in audiences:
                if (
                    (audience.org_id, audience.user_id) == person
                    or (
                        audience.managers
                        and allows(held, Permission.APPROVE_SALE, audience.location_id)
                    )
                    or (audience.support and allows(held, Permission.TRIAGE, audience.location_id))
                    or (audience.admins and allows(held, Permission.MANAGE_ROLES, None))
                ):
                    chosen.append(viewer)
                    break
        for viewer in chosen:
            self.outbox.home(session, viewer.org_id, viewer.user_id, waiting=False)
        return chosen

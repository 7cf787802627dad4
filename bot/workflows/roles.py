"""Roles, grants and the one authorization check every listener goes through."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, String, cast, delete, exists, null, or_, select, tuple_, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import UsergroupRole
from bot.workflows import audit
from bot.workflows.errors import NotAuthorized
from bot.workflows.people import named
from storage.models import GroupMembership, RoleGrant

ALL_LOCATIONS = "*"


def _none() -> Any:
    """A typed NULL column, so both halves of a UNION agree on the type."""
    return cast(null(), String)


class Role(StrEnum):
    FRONT_DESK = "front_desk"
    MANAGER = "manager"
    SUPPORT = "support"
    ADMIN = "admin"


class Permission(StrEnum):
    RESET = "reset"
    RESET_OVERRIDE_LIMIT = "reset_override_limit"
    TRIAGE = "triage"
    REQUEST_SALE = "request_sale"
    APPROVE_SALE = "approve_sale"
    MANAGE_ROLES = "manage_roles"
    HISTORY = "history"


#: Which roles give a permission. Support resets anywhere: its grants are read as
#: covering every location for the permissions it holds.
GIVEN_BY: dict[Permission, tuple[Role, ...]] = {
    Permission.RESET: (Role.FRONT_DESK, Role.MANAGER, Role.SUPPORT),
    Permission.RESET_OVERRIDE_LIMIT: (Role.SUPPORT,),
    Permission.TRIAGE: (Role.SUPPORT,),
    Permission.REQUEST_SALE: (Role.FRONT_DESK, Role.MANAGER),
    Permission.APPROVE_SALE: (Role.MANAGER,),
    Permission.MANAGE_ROLES: (Role.ADMIN,),
    # Support everywhere, managers at their locations.
    Permission.HISTORY: (Role.SUPPORT, Role.MANAGER),
}
EVERYWHERE_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})


#: A role as people read it.
ROLE_WORDS = {
    Role.FRONT_DESK: "front desk",
    Role.MANAGER: "manager",
    Role.SUPPORT: "support",
    Role.ADMIN: "admin",
}
#: What a permission lets a person do, in the words of a refusal ("You can't …").
DOING = {
    Permission.RESET: "reset members' passwords",
    Permission.RESET_OVERRIDE_LIMIT: "send a reset past the hourly limit",
    Permission.TRIAGE: "work on support's failures",
    Permission.REQUEST_SALE: "sell memberships",
    Permission.APPROVE_SALE: "approve sales",
    Permission.MANAGE_ROLES: "manage roles",
    Permission.HISTORY: "look up a member's history",
}


@dataclass(frozen=True, slots=True)
class Actor:
    """A Slack user. A *person* is (organisation, user id): the organisation is the
    enterprise on Enterprise Grid (where user ids are organisation-wide and the team
    id is only the workspace a click came from), else the team."""

    team_id: str
    user_id: str
    enterprise_id: str = ""

    @property
    def org_id(self) -> str:
        return self.enterprise_id or self.team_id

    @property
    def key(self) -> str:
        """The person, as stored wherever someone is named (audit, approvals)."""
        return f"{self.org_id}:{self.user_id}"

    @property
    def mention(self) -> str:
        return named(self.user_id)

    def is_person(self, org_id: str, user_id: str) -> bool:
        """Whether (org_id, user_id), as a row stores them, is this same person."""
        return (org_id, user_id) == (self.org_id, self.user_id)


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    location_id: str | None  # None: all locations


def allows(grants: Iterable[Grant], permission: Permission, location_id: str | None) -> bool:
    """Whether these grants give ``permission`` at ``location_id`` (None: anywhere)."""
    for grant in grants:
        if grant.role not in GIVEN_BY[permission]:
            continue
        if location_id is None or grant.location_id is None or grant.role in EVERYWHERE_ROLES:
            return True
        if grant.location_id == location_id:
            return True
    return False


class Roles:
    def __init__(
        self,
        *,
        clock: Clock,
        bootstrap_admins: Iterable[str] = (),
        usergroup_roles: Iterable[UsergroupRole] = (),
        location_names: dict[str, str] | None = None,
    ) -> None:
        self._clock = clock
        self._bootstrap = frozenset(bootstrap_admins)
        self.usergroup_roles = list(usergroup_roles)
        self._location_names = dict(location_names or {})

    def _bootstrapped(self, actor: Actor) -> bool:
        return bool(
            {actor.user_id, f"{actor.team_id}:{actor.user_id}", actor.key} & self._bootstrap
        )

    def grants(self, session: Session, actor: Actor) -> list[Grant]:
        """Every grant the person holds: stored grants and mapped user groups, read in
        one query, plus the bootstrap admins of the configuration."""
        return self.grants_of(session, [actor])[(actor.org_id, actor.user_id)]

    def grants_of(
        self, session: Session, people: Iterable[Actor]
    ) -> dict[tuple[str, str], list[Grant]]:
        """Every grant of each person, (org_id, user_id) → grants, in one query."""
        actors = {(a.org_id, a.user_id): a for a in people}
        if not actors:
            return {}
        keys = list(actors)
        rows = session.execute(
            select(
                RoleGrant.org_id,
                RoleGrant.user_id,
                RoleGrant.role,
                RoleGrant.location_id,
                _none().label("usergroup"),
            )
            .where(tuple_(RoleGrant.org_id, RoleGrant.user_id).in_(keys))
            .union_all(
                select(
                    GroupMembership.org_id,
                    GroupMembership.user_id,
                    _none(),
                    _none(),
                    GroupMembership.usergroup_id,
                ).where(tuple_(GroupMembership.org_id, GroupMembership.user_id).in_(keys))
            )
        ).all()
        result: dict[tuple[str, str], list[Grant]] = {key: [] for key in keys}
        groups: dict[tuple[str, str], set[str]] = {key: set() for key in keys}
        for org_id, user_id, role, location_id, usergroup in rows:
            key = (org_id, user_id)
            if usergroup is not None:
                groups[key].add(usergroup)
            elif role is not None:
                result[key].append(Grant(Role(role), location_id))
        for key, actor in actors.items():
            for mapping in self.usergroup_roles:
                if mapping.usergroup in groups[key]:
                    scopes: list[str | None] = list(mapping.locations) or [None]
                    result[key].extend(Grant(Role(mapping.role), where) for where in scopes)
            if self._bootstrapped(actor):
                result[key].append(Grant(Role.ADMIN, None))
        return result

    def holders(
        self, session: Session, permission: Permission, location_id: str
    ) -> list[tuple[str, str]]:
        """The people, (org_id, user_id), whom stored grants or mapped user groups give
        ``permission`` at ``location_id`` (who :meth:`can`, read the other way round;
        the configuration's bootstrap admins aside), in one query."""
        roles = GIVEN_BY[permission]
        everywhere = [r.value for r in roles if r in EVERYWHERE_ROLES]
        granted = select(RoleGrant.org_id, RoleGrant.user_id).where(
            RoleGrant.role.in_([r.value for r in roles]),
            or_(
                RoleGrant.location_id.is_(None),
                RoleGrant.location_id == location_id,
                RoleGrant.role.in_(everywhere),
            ),
        )
        groups = [
            mapping.usergroup
            for mapping in self.usergroup_roles
            if Role(mapping.role) in roles
            and (
                not mapping.locations
                or location_id in mapping.locations
                or Role(mapping.role) in EVERYWHERE_ROLES
            )
        ]
        query = (
            granted.union(
                select(GroupMembership.org_id, GroupMembership.user_id).where(
                    GroupMembership.usergroup_id.in_(groups)
                )
            )
            if groups
            else granted
        )
        return sorted({(org_id, user_id) for org_id, user_id in session.execute(query)})

    def may_hold(self, org_id: Any, user_id: Any, roles: Iterable[Role]) -> Any:
        """SQL, over the person in columns ``org_id``/``user_id``: they may hold one of
        ``roles`` (a stored grant, a mapped user group, a bootstrap admin). A superset,
        narrow enough to filter in the database before :func:`allows` decides."""
        wanted = set(roles)
        conditions = [
            exists().where(
                RoleGrant.org_id == org_id,
                RoleGrant.user_id == user_id,
                RoleGrant.role.in_([role.value for role in wanted]),
            )
        ]
        groups = [m.usergroup for m in self.usergroup_roles if Role(m.role) in wanted]
        if groups:
            conditions.append(
                exists().where(
                    GroupMembership.org_id == org_id,
                    GroupMembership.user_id == user_id,
                    GroupMembership.usergroup_id.in_(groups),
                )
            )
        if Role.ADMIN in wanted and self._bootstrap:
            conditions.append(user_id.in_(sorted({e.rsplit(":", 1)[-1] for e in self._bootstrap})))
        return or_(*conditions)

    def admins(self, session: Session, actor: Actor, *, limit: int = 5) -> list[str]:
        """User ids of some admins who can grant ``actor`` a role, to name in a refusal:
        the admins of the person's own organization (stored grants and mapped user
        groups) and the configuration's bootstrap admins that cover it."""
        sources: list[Select[Any]] = [
            select(RoleGrant.user_id).where(
                RoleGrant.org_id == actor.org_id, RoleGrant.role == Role.ADMIN.value
            )
        ]
        groups = [m.usergroup for m in self.usergroup_roles if Role(m.role) is Role.ADMIN]
        if groups:
            sources.append(
                select(GroupMembership.user_id).where(
                    GroupMembership.org_id == actor.org_id,
                    GroupMembership.usergroup_id.in_(groups),
                )
            )
        users = union(*sources).subquery()
        found = session.scalars(
            select(users.c.user_id).order_by(users.c.user_id).limit(limit)
        ).all()
        boot = sorted(
            user
            for org, _, user in (entry.rpartition(":") for entry in self._bootstrap)
            if org in ("", actor.org_id, actor.team_id)
        )
        return list(dict.fromkeys([*found, *boot]))[:limit]

    def refusal(
        self,
        session: Session,
        actor: Actor,
        permission: Permission,
        location_id: str | None,
        *,
        doing: str | None = None,
    ) -> NotAuthorized:
        """What ``actor`` is told when ``permission`` is missing: what was refused
        (``doing``, else the permission's words), where, who may, and whom to ask."""
        roles = GIVEN_BY[permission]
        return NotAuthorized(
            permission=permission.value,
            doing=doing or DOING[permission],
            roles=[ROLE_WORDS[r] for r in roles],
            location_id=location_id,
            location_name=self._location_names.get(location_id or ""),
            admins=self.admins(session, actor),
            everywhere=all(r in EVERYWHERE_ROLES for r in roles),
        )

    def allowed_locations(
        self, session: Session, actor: Actor, permission: Permission, all_locations: Iterable[str]
    ) -> list[str]:
        every = list(all_locations)
        allowed: set[str] = set()
        for grant in self.grants(session, actor):
            if grant.role not in GIVEN_BY[permission]:
                continue
            if grant.location_id is None or grant.role in EVERYWHERE_ROLES:
                return every
            allowed.add(grant.location_id)
        return [loc for loc in every if loc in allowed]

    def can(
        self, session: Session, actor: Actor, permission: Permission, location_id: str | None
    ) -> bool:
        return allows(self.grants(session, actor), permission, location_id)

    def require(
        self, session: Session, actor: Actor, permission: Permission, location_id: str | None
    ) -> None:
        if not self.can(session, actor, permission, location_id):
            raise self.refusal(session, actor, permission, location_id)

    # -- administration ---------------------------------------------------------------
    def grant(
        self,
        session: Session,
        *,
        by: str,
        target: Actor,
        role: Role,
        location_id: str | None,
    ) -> bool:
        """Add a grant; False when it already existed."""
        row = RoleGrant(
            org_id=target.org_id,
            enterprise_id=target.enterprise_id,
            team_id=target.team_id,
            user_id=target.user_id,
            role=role.value,
            location_id=location_id,
            location_key=location_id or ALL_LOCATIONS,
            granted_by=by,
            created_at=self._clock.now(),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            return False
        audit.record(
            session,
            self._clock,
            actor=by,
            action="role.grant",
            subject_type="user",
            subject_id=target.key,
            location_id=location_id,
            details={"role": role.value},
        )
        return True

    def revoke(
        self, session: Session, *, by: str, target: Actor, role: Role, location_id: str | None
    ) -> bool:
        result = session.execute(
            delete(RoleGrant).where(
                RoleGrant.org_id == target.org_id,
                RoleGrant.user_id == target.user_id,
                RoleGrant.role == role.value,
                RoleGrant.location_key == (location_id or ALL_LOCATIONS),
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        audit.record(
            session,
            self._clock,
            actor=by,
            action="role.revoke",
            subject_type="user",
            subject_id=target.key,
            location_id=location_id,
            details={"role": role.value},
        )
        return True

    def revoke_id(self, session: Session, *, by: str, grant_id: int) -> bool:
        row = session.get(RoleGrant, grant_id)
        if row is None:
            return False
        target = Actor(team_id=row.team_id, user_id=row.user_id, enterprise_id=row.enterprise_id)
        return self.revoke(
            session, by=by, target=target, role=Role(row.role), location_id=row.location_id
        )

    def replace_group_members(
        self, session: Session, *, org_id: str, usergroup_id: str, user_ids: Iterable[str]
    ) -> tuple[set[str], set[str]]:
        """Store a user group's current members; (joined, left) since the last refresh."""
        before = set(
            session.scalars(
                select(GroupMembership.user_id).where(
                    GroupMembership.org_id == org_id,
                    GroupMembership.usergroup_id == usergroup_id,
                )
            )
        )
        now_members = set(user_ids)
        session.execute(
            delete(GroupMembership).where(
                GroupMembership.org_id == org_id, GroupMembership.usergroup_id == usergroup_id
            )
        )
        now = self._clock.now()
        session.add_all(
            GroupMembership(
                org_id=org_id, usergroup_id=usergroup_id, user_id=user, refreshed_at=now
            )
            for user in sorted(now_members)
        )
        joined, left = now_members - before, before - now_members
        if joined or left:
            audit.record(
                session,
                self._clock,
                actor="frontdesk",
                action="role.usergroup_refresh",
                subject_type="usergroup",
                subject_id=usergroup_id,
                details={"joined": sorted(joined), "left": sorted(left)},
            )
        return joined, left

    def list(self, session: Session) -> list[RoleGrant]:
        return list(
            session.scalars(
                select(RoleGrant).order_by(RoleGrant.org_id, RoleGrant.user_id, RoleGrant.role)
            )
        )


class RoleAdmin:
    """Granting and revoking roles (admins), and the user-group cache: the sessions
    the Slack listeners must not open themselves."""

    def __init__(self, *, db: Any, roles: Roles, locations: Iterable[str]) -> None:
        self.db = db
        self.roles = roles
        self.locations = frozenset(locations)

    def require_admin(self, actor: Actor) -> None:
        with self.db.session() as session:
            self.roles.require(session, actor, Permission.MANAGE_ROLES, None)

    def grants(self, actor: Actor) -> list[RoleGrant]:
        with self.db.session() as session:
            self.roles.require(session, actor, Permission.MANAGE_ROLES, None)
            return self.roles.list(session)

    def grant(
        self, actor: Actor, *, user_id: str, role: Role, location_ids: list[str | None]
    ) -> int:
        """Grant ``role`` to a person of the actor's organisation; how many were new."""
        target = Actor(team_id=actor.team_id, user_id=user_id, enterprise_id=actor.enterprise_id)
        added = 0
        with self.db.session() as session:
            self.roles.require(session, actor, Permission.MANAGE_ROLES, None)
            for location_id in location_ids:
                added += self.roles.grant(
                    session, by=actor.key, target=target, role=role, location_id=location_id
                )
        return added

    def revoke(self, actor: Actor, grant_id: int) -> bool:
        with self.db.session() as session:
            self.roles.require(session, actor, Permission.MANAGE_ROLES, None)
            return self.roles.revoke_id(session, by=actor.key, grant_id=grant_id)

    def replace_group_members(
        self, *, org_id: str, usergroup_id: str, user_ids: Iterable[str]
    ) -> tuple[set[str], set[str]]:
        with self.db.session() as session:
            return self.roles.replace_group_members(
                session, org_id=org_id, usergroup_id=usergroup_id, user_ids=user_ids
            )

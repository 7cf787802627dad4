"""Roles, grants and the one authorization check every listener goes through."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import UsergroupRole
from bot.workflows import audit
from storage.models import GroupMembership, RoleGrant

ALL_LOCATIONS = "*"


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


#: Which roles give a permission. Support resets anywhere: its grants are read as
#: covering every location for the permissions it holds.
GIVEN_BY: dict[Permission, tuple[Role, ...]] = {
    Permission.RESET: (Role.FRONT_DESK, Role.MANAGER, Role.SUPPORT),
    Permission.RESET_OVERRIDE_LIMIT: (Role.SUPPORT,),
    Permission.TRIAGE: (Role.SUPPORT,),
    Permission.REQUEST_SALE: (Role.FRONT_DESK, Role.MANAGER),
    Permission.APPROVE_SALE: (Role.MANAGER,),
    Permission.MANAGE_ROLES: (Role.ADMIN,),
}
EVERYWHERE_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Actor:
    """A Slack user as (enterprise id, team id, user id)."""

    team_id: str
    user_id: str
    enterprise_id: str = ""

    @property
    def key(self) -> str:
        return f"{self.enterprise_id}:{self.team_id}:{self.user_id}"

    @property
    def mention(self) -> str:
        return f"<@{self.user_id}>"


class NotAuthorized(Exception):
    """Refusal that says what is missing and who can grant it."""

    def __init__(self, permission: Permission, location_id: str | None) -> None:
        self.permission = permission
        self.location_id = location_id
        roles = " or ".join(f"*{r.value}*" for r in GIVEN_BY[permission])
        where = f" at location *{location_id}*" if location_id else ""
        super().__init__(
            f"You need the {roles} role{where} to do this. "
            "An admin can grant it with `/frontdesk roles` or `frontdesk roles grant`."
        )


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    location_id: str | None  # None: all locations


class Roles:
    def __init__(
        self,
        *,
        clock: Clock,
        bootstrap_admins: Iterable[str] = (),
        usergroup_roles: Iterable[UsergroupRole] = (),
    ) -> None:
        self._clock = clock
        self._bootstrap = frozenset(bootstrap_admins)
        self.usergroup_roles = list(usergroup_roles)

    def grants(self, session: Session, actor: Actor) -> list[Grant]:
        rows = session.scalars(
            select(RoleGrant).where(
                RoleGrant.team_id == actor.team_id, RoleGrant.user_id == actor.user_id
            )
        )
        result = [Grant(Role(row.role), row.location_id) for row in rows]
        if self.usergroup_roles:
            groups = set(
                session.scalars(
                    select(GroupMembership.usergroup_id).where(
                        GroupMembership.team_id == actor.team_id,
                        GroupMembership.user_id == actor.user_id,
                    )
                )
            )
            for mapping in self.usergroup_roles:
                if mapping.usergroup in groups:
                    scopes: list[str | None] = list(mapping.locations) or [None]
                    result.extend(Grant(Role(mapping.role), where) for where in scopes)
        if (
            actor.user_id in self._bootstrap
            or f"{actor.team_id}:{actor.user_id}" in self._bootstrap
        ):
            result.append(Grant(Role.ADMIN, None))
        return result

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
        for grant in self.grants(session, actor):
            if grant.role not in GIVEN_BY[permission]:
                continue
            if location_id is None or grant.location_id is None or grant.role in EVERYWHERE_ROLES:
                return True
            if grant.location_id == location_id:
                return True
        return False

    def require(
        self, session: Session, actor: Actor, permission: Permission, location_id: str | None
    ) -> None:
        if not self.can(session, actor, permission, location_id):
            raise NotAuthorized(permission, location_id)

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
                RoleGrant.team_id == target.team_id,
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
        self, session: Session, *, team_id: str, usergroup_id: str, user_ids: Iterable[str]
    ) -> tuple[set[str], set[str]]:
        """Store a user group's current members; (joined, left) since the last refresh."""
        before = set(
            session.scalars(
                select(GroupMembership.user_id).where(
                    GroupMembership.team_id == team_id,
                    GroupMembership.usergroup_id == usergroup_id,
                )
            )
        )
        now_members = set(user_ids)
        session.execute(
            delete(GroupMembership).where(
                GroupMembership.team_id == team_id, GroupMembership.usergroup_id == usergroup_id
            )
        )
        now = self._clock.now()
        session.add_all(
            GroupMembership(
                team_id=team_id, usergroup_id=usergroup_id, user_id=user, refreshed_at=now
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
                select(RoleGrant).order_by(RoleGrant.team_id, RoleGrant.user_id, RoleGrant.role)
            )
        )

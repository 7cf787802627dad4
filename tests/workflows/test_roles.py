"""Refusals name the admins who can grant the person a role: of the person's own
organization, whether stored grants or mapped Slack user groups make them admins."""

from __future__ import annotations

import pytest

from bot.clock import SystemClock
from bot.config import UsergroupRole
from bot.workflows.errors import NotAuthorized
from bot.workflows.roles import Actor, Permission, Role, Roles
from storage.db import Database


def refusal(roles: Roles, db: Database, actor: Actor) -> str:
    with db.session() as session, pytest.raises(NotAuthorized) as refused:
        roles.require(session, actor, Permission.RESET, None)
    return str(refused.value)


def test_refusal_names_admins_who_are_admins_through_a_user_group(database_url: str) -> None:
    """Review finding 6: an admin by a mapped user group can grant, so is named."""
    db = Database(database_url)
    roles = Roles(
        clock=SystemClock(),
        usergroup_roles=[UsergroupRole(usergroup="S0ADMINS", role=Role.ADMIN)],
    )
    with db.session() as session:
        roles.replace_group_members(
            session, org_id="T1", usergroup_id="S0ADMINS", user_ids=["UBOSS"]
        )
        roles.grant(session, by="t", target=Actor("T1", "UALSO"), role=Role.ADMIN, location_id=None)
    with db.session() as session:
        assert roles.can(session, Actor("T1", "UBOSS"), Permission.MANAGE_ROLES, None)
    told = refusal(roles, db, Actor("T1", "UNEW"))
    assert "Ask <@UALSO> or <@UBOSS> (frontdesk's admins)" in told, told


def test_refusal_names_only_admins_of_the_persons_own_organization(database_url: str) -> None:
    """Review finding 7: an admin of another workspace or organization cannot grant in
    this one, so is never named; a bootstrap admin of the configuration is, when the
    setting covers the person's organization."""
    db = Database(database_url)
    roles = Roles(
        clock=SystemClock(),
        bootstrap_admins=["T2:UBOOT2", "UBOOTALL"],
        usergroup_roles=[UsergroupRole(usergroup="S0ADMINS", role=Role.ADMIN)],
    )
    with db.session() as session:
        roles.grant(
            session, by="t", target=Actor("T2", "UOTHER"), role=Role.ADMIN, location_id=None
        )
        roles.replace_group_members(
            session, org_id="T2", usergroup_id="S0ADMINS", user_ids=["UGROUP2"]
        )
    told = refusal(roles, db, Actor("T1", "UNEW"))
    assert "Ask <@UBOOTALL> (frontdesk's admin)" in told, told
    assert "UOTHER" not in told and "UBOOT2" not in told and "UGROUP2" not in told
    other = refusal(roles, db, Actor("T2", "UNEW"))
    assert "<@UBOOT2>" in other and "<@UOTHER>" in other and "<@UGROUP2>" in other

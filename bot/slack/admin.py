"""``/frontdesk``: history for support and managers, roles for admins; user-group sync."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.config import UsergroupRole
from bot.slack import home_views
from bot.slack.context import Services, actor_from
from bot.slack.forms import field_value
from bot.slack.ids import AdminAction, AdminView, Command
from bot.workflows.roles import ALL_LOCATIONS, Actor, NotAuthorized, Permission, Role, Roles
from storage.db import Database

log = logging.getLogger("frontdesk.slack.admin")

HELP = (
    "`/frontdesk history <email | username | account id | card>`: a member's resets and "
    "sales (support, managers) · `/frontdesk roles`: grant and revoke roles (admins) · "
    "`/frontdesk roles refresh`: read the mapped Slack user groups again (admins)"
)


class UsergroupSync:
    """Reads the members of the user groups the configuration maps to roles."""

    def __init__(
        self, *, client: WebClient, db: Database, roles: Roles, mappings: list[UsergroupRole]
    ) -> None:
        self._client = client
        self._db = db
        self._roles = roles
        self._mappings = mappings
        self._team_id: str | None = None

    def refresh(self) -> dict[str, int]:
        """usergroup id → members now; raises on Slack errors (the caller logs)."""
        if not self._mappings:
            return {}
        if self._team_id is None:
            self._team_id = str(self._client.auth_test()["team_id"])
        members: dict[str, int] = {}
        for usergroup in sorted({m.usergroup for m in self._mappings}):
            answer = self._client.usergroups_users_list(usergroup=usergroup)
            users = [str(u) for u in answer.get("users") or []]
            with self._db.session() as session:
                self._roles.replace_group_members(
                    session, team_id=self._team_id, usergroup_id=usergroup, user_ids=users
                )
            members[usergroup] = len(users)
        return members


def register(app: App, services: Services, sync: UsergroupSync) -> None:
    roles = services.resets.roles
    db = services.resets.db

    def require_admin(actor: Actor) -> None:
        with db.session() as session:
            roles.require(session, actor, Permission.MANAGE_ROLES, None)

    def roles_view() -> dict[str, Any]:
        with db.session() as session:
            grants = roles.list(session)
        return home_views.roles_modal(grants, services.locations)

    @app.command(Command.FRONTDESK)
    def frontdesk_command(
        ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        actor = actor_from(body)
        words = (body.get("text") or "").strip().split(maxsplit=1)
        verb = words[0].lower() if words else ""
        rest = words[1] if len(words) > 1 else ""
        if verb == "history":
            try:
                items = services.triage.history(actor, rest)
            except ValueError as exc:
                respond(f":warning: {exc}", response_type="ephemeral")
                return
            if not items:
                respond(
                    "Nothing found for that member at your locations.", response_type="ephemeral"
                )
                return
            lines = [home_views.item_line(item, services.locations) for item in items]
            respond(
                text="Member history, newest first:\n" + "\n".join(lines),
                response_type="ephemeral",
            )
            return
        if verb == "roles":
            require_admin(actor)
            if rest.strip().lower() == "refresh":
                counts = sync.refresh()
                summary = ", ".join(f"{g}: {n} members" for g, n in counts.items())
                respond(
                    f"User groups read again. {summary or 'No user group is mapped to a role.'}",
                    response_type="ephemeral",
                )
                return
            client.views_open(trigger_id=body["trigger_id"], view=roles_view())
            return
        respond(HELP, response_type="ephemeral")

    @app.view(AdminView.ROLES)
    def grant_submitted(ack: Ack, body: dict[str, Any]) -> None:
        actor = actor_from(body)
        values = body["view"]["state"]["values"]
        user = field_value(values, AdminView.USER_BLOCK, AdminView.USER_INPUT)
        role = field_value(values, AdminView.ROLE_BLOCK, AdminView.ROLE_INPUT)
        where = field_value(values, AdminView.LOCATIONS_BLOCK, AdminView.LOCATIONS_INPUT) or []
        errors: dict[str, str] = {}
        if not user:
            errors[AdminView.USER_BLOCK] = "Choose a person."
        if role not in set(Role):
            errors[AdminView.ROLE_BLOCK] = "Choose a role."
        unknown = [w for w in where if w != ALL_LOCATIONS and w not in services.locations]
        if not where or unknown:
            errors[AdminView.LOCATIONS_BLOCK] = "Choose all locations or some of them."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            require_admin(actor)
        except NotAuthorized as exc:
            ack(response_action="errors", errors={AdminView.USER_BLOCK: str(exc)})
            return
        target = Actor(team_id=actor.team_id, user_id=str(user), enterprise_id=actor.enterprise_id)
        scopes: list[str | None] = [None] if ALL_LOCATIONS in where else list(where)
        with db.session() as session:
            for location_id in scopes:
                roles.grant(
                    session, by=actor.key, target=target, role=Role(role), location_id=location_id
                )
        ack(response_action="update", view=roles_view())

    @app.action(AdminAction.REVOKE)
    def revoke_clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        actor = actor_from(body)
        require_admin(actor)
        with db.session() as session:
            roles.revoke_id(session, by=actor.key, grant_id=int(body["actions"][0]["value"]))
        view = body["view"]
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=roles_view())

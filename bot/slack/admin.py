"""``/frontdesk``: history for support and managers, roles for admins; user-group sync."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.config import UsergroupRole
from bot.slack import help as help_text
from bot.slack import home_views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.forms import field_value
from bot.slack.ids import AdminAction, AdminView, Command
from bot.workflows.command_words import is_help, quoted
from bot.workflows.errors import InvalidInput
from bot.workflows.roles import ALL_LOCATIONS, Actor, Role, RoleAdmin

log = logging.getLogger("frontdesk.slack.admin")


class UsergroupSync:
    """Reads the members of the user groups the configuration maps to roles, and of
    the locations' escalation groups (whose members may decide what escalated to
    them: no role)."""

    def __init__(
        self,
        *,
        client: WebClient,
        admin: RoleAdmin,
        mappings: list[UsergroupRole],
        escalation_groups: Iterable[str] = (),
    ) -> None:
        self._client = client
        self._admin = admin
        self._groups = {m.usergroup for m in mappings} | set(escalation_groups)
        self._org_id: str | None = None

    @property
    def needed(self) -> bool:
        return bool(self._groups)

    def refresh(self) -> dict[str, int]:
        """usergroup id → members now; raises on Slack errors (the caller logs)."""
        if not self._groups:
            return {}
        if self._org_id is None:
            answer = self._client.auth_test()
            self._org_id = str(answer.get("enterprise_id") or answer["team_id"])
        members: dict[str, int] = {}
        for usergroup in sorted(self._groups):
            answer = self._client.usergroups_users_list(usergroup=usergroup)
            users = [str(u) for u in answer.get("users") or []]
            self._admin.replace_group_members(
                org_id=self._org_id, usergroup_id=usergroup, user_ids=users
            )
            members[usergroup] = len(users)
        return members


def roles_modal_for(services: Services, actor: Actor) -> dict[str, Any]:
    """The roles modal (/frontdesk roles, Home's Manage roles); refuses anyone but an
    admin, from the database."""
    return home_views.roles_modal(services.admin.grants(actor), services.locations)


def register(app: GuardedApp, services: Services, sync: UsergroupSync) -> None:
    admin = services.admin

    def roles_view(actor: Actor) -> dict[str, Any]:
        return roles_modal_for(services, actor)

    @app.command(Command.FRONTDESK)
    def frontdesk_command(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        actor = actor_of(context)
        words = (body.get("text") or "").strip().split(maxsplit=1)
        verb = words[0].lower() if words else ""
        rest = words[1] if len(words) > 1 else ""
        if verb == "history":
            # A read: answered in the acknowledgement itself (no Slack call, no outbox).
            items = services.triage.history(actor, rest)
            ack(text=home_views.history_text(items, services.locations), response_type="ephemeral")
            return
        if verb == "roles":
            ack()
            admin.require_admin(actor)
            if rest.strip().lower() == "refresh":
                counts = sync.refresh()
                summary = ", ".join(f"{g}: {n} members" for g, n in counts.items())
                services.outbox.answer(
                    body.get("response_url"),
                    f"User groups read again. {summary or 'No user group is mapped to a role.'}",
                )
                return
            client.views_open(trigger_id=body["trigger_id"], view=roles_view(actor))
            return
        # `/frontdesk help`, `/frontdesk` alone, or a word it does not know: what this
        # person may do, read from their grants now.
        words = help_text.help_for(services, actor)
        if verb and not is_help(verb):
            words = f":thinking_face: `/frontdesk` does not know {quoted(verb)}.\n{words}"
        ack(text=words, response_type="ephemeral")

    @app.view(AdminView.ROLES)
    def grant_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        values = body["view"]["state"]["values"]
        user = field_value(values, AdminView.USER_BLOCK, AdminView.USER_INPUT)
        role = field_value(values, AdminView.ROLE_BLOCK, AdminView.ROLE_INPUT)
        where = field_value(values, AdminView.LOCATIONS_BLOCK, AdminView.LOCATIONS_INPUT) or []
        errors: dict[str, str] = {}
        if not user:
            errors["user"] = "Choose a person."
        if role not in set(Role):
            errors["role"] = "Choose a role."
        unknown = [w for w in where if w != ALL_LOCATIONS and w not in services.locations]
        if not where or unknown:
            errors["locations"] = "Choose all locations or some of them."
        if errors:
            raise InvalidInput(errors)
        scopes: list[str | None] = [None] if ALL_LOCATIONS in where else list(where)
        admin.grant(actor, user_id=str(user), role=Role(role), location_ids=scopes)
        ack(response_action="update", view=roles_view(actor))

    @app.action(AdminAction.REVOKE)
    def revoke_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        admin.revoke(actor, int(body["actions"][0]["value"]))
        view = body["view"]
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=roles_view(actor))

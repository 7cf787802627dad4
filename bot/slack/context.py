"""What listeners share: the services they call and how an actor is read from a payload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltContext

from bot.config import Location, Settings
from bot.workflows.home import HomeService
from bot.workflows.outbox import Outbox
from bot.workflows.resets import ResetService
from bot.workflows.roles import Actor, Permission, RoleAdmin
from bot.workflows.sales import SaleService
from bot.workflows.triage import TriageService


@dataclass
class Services:
    """What listeners call. Listeners never call Slack about a change: the workflows
    record what people must be told (the outbox) and the notifier tells them. A
    listener's own Slack calls are the modal calls that need the click's live
    trigger_id (views.open, views.push) or act on the open modal (views.update),
    and the error mapping's answers."""

    settings: Settings
    locations: dict[str, Location]
    resets: ResetService
    sales: SaleService
    triage: TriageService
    home: HomeService
    admin: RoleAdmin
    outbox: Outbox

    def can(self, actor: Actor, permission: Permission, location_id: str | None) -> bool:
        return self.resets.can(actor, permission, location_id)


#: The Workflow Builder type of "the person who used this workflow": Slack sets it from
#: the trigger (or a step a person clicked); a workflow's builder cannot type one in.
USER_CONTEXT = "slack#/types/user_context"


def workflow_user(event: dict[str, Any]) -> str | None:
    """The person running a workflow, from a ``function_executed`` event: the value of
    the input the step declares as a user context, as Slack sends it."""
    function = event.get("function") if isinstance(event.get("function"), dict) else {}
    inputs = event.get("inputs") if isinstance(event.get("inputs"), dict) else {}
    declared = [
        parameter.get("name")
        for parameter in (function or {}).get("input_parameters") or []
        if isinstance(parameter, dict) and str(parameter.get("type", "")).endswith("user_context")
    ]
    for name, value in (inputs or {}).items():
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            continue
        # A user context is an object with the user's id and Slack's secret for it: no
        # input a workflow's builder can type in has that shape.
        if (name in declared or isinstance(value.get("secret"), str)) and value["id"]:
            return str(value["id"])
    return None


def actor_from(body: dict[str, Any]) -> Actor:
    """The acting user, from Slack's signed envelope (never from values we put in it)."""
    user = body.get("user") or {}
    if isinstance(user, str):  # some payloads name the user by id alone
        user = {"id": user}
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    if (event or {}).get("type") == "function_executed":
        user = {"id": workflow_user(event or {})}
    user_id = user.get("id") or body.get("user_id") or (event or {}).get("user")
    team = body.get("team") or {}
    team_id = team.get("id") if isinstance(team, dict) else None
    team_id = team_id or user.get("team_id") or body.get("team_id") or ""
    enterprise = body.get("enterprise") or {}
    enterprise_id = (
        (enterprise.get("id") if isinstance(enterprise, dict) else None)
        or body.get("enterprise_id")
        or ""
    )
    if not user_id or not isinstance(user_id, str):
        raise ValueError("payload without a user")
    return Actor(team_id=str(team_id), user_id=user_id, enterprise_id=str(enterprise_id))


def actor_middleware(body: dict[str, Any], context: BoltContext, next: Callable[[], Any]) -> Any:  # noqa: A002 - Bolt's name
    """Reads the acting person once per request, for every listener (``actor_of``)."""
    try:
        context["actor"] = actor_from(body)
    except ValueError:
        pass  # an event without a user: its listener does not act for anyone
    return next()


def actor_of(context: BoltContext) -> Actor:
    actor = context.get("actor")
    if not isinstance(actor, Actor):
        raise ValueError("this request names no user")
    return actor

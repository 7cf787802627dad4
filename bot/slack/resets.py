"""Listeners of the reset flow: thin; the workflow decides and records what people are
told (the confirmation, its outcome, triage posts), the notifier tells them."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.slack import help as help_text
from bot.slack import views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.ids import RESET_FIELDS, Command, ResetAction, ResetView, TriageAction
from bot.workflows.command_words import is_help, plan_reset, quoted
from bot.workflows.errors import InvalidInput
from bot.workflows.resets import ResetInput, Screen
from bot.workflows.roles import Actor, Permission

log = logging.getLogger("frontdesk.slack.resets")


def open_reset_modal(
    client: WebClient,
    trigger_id: str,
    services: Services,
    actor: Actor,
    *,
    prefill: dict[str, str] | None = None,
    note: str | None = None,
    at: str | None = None,
    in_place_of: str | None = None,
) -> None:
    """The reset modal at the actor's locations (/reset and the shortcuts): ``at`` if
    given (``/reset downtown``), else the last location used, else the first that takes
    the member's identifier. ``in_place_of``: the open modal (its view id) it replaces."""
    resets = services.resets
    locations, last = resets.where_to_reset(actor)
    if not locations:
        resets.require(actor, Permission.RESET, None)  # says why, names the admins
        return
    ordered = sorted(locations, key=lambda loc: (loc.id != at, loc.id != last))
    takes = [loc for loc in ordered if all(f in loc.identifier_fields for f in prefill or {})]
    default = (takes or ordered)[0]
    view = views.reset_modal(locations, default, prefill=prefill, note=note)
    if in_place_of:
        client.views_update(view_id=in_place_of, view=view)
    else:
        client.views_open(trigger_id=trigger_id, view=view)


def screen_of(body: dict[str, Any]) -> Screen | None:
    """Where a click on a reset's buttons came from, if it is the clicker's private
    screen: the reset modal (its view id), or the private message ``/reset …`` answered
    with (its response_url). A click in the DM has none (the DM is the slot's message)."""
    container = body.get("container") or {}
    view = body.get("view") or {}
    if container.get("type") == "view":
        if view.get("callback_id") in (ResetView.CONFIRM, ResetView.SCREEN) and view.get("id"):
            return Screen(view_id=str(view["id"]))
        return None
    if container.get("is_ephemeral") and body.get("response_url"):
        return Screen(response_url=str(body["response_url"]))
    return None


def register(app: GuardedApp, services: Services) -> None:
    resets = services.resets

    @app.command(Command.RESET)
    def reset_command(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        actor = actor_of(context)
        text = (body.get("text") or "").strip()
        if not text:
            ack()
            open_reset_modal(client, body["trigger_id"], services, actor)
            return
        locations, last = resets.where_to_reset(actor)
        if not locations and is_help(text):
            # What frontdesk is, and whom to ask for a role.
            ack(text=help_text.help_for(services, actor), response_type="ephemeral")
            return
        if not locations:
            ack()
            resets.require(actor, Permission.RESET, None)  # says why, names the admins
            return
        plan = plan_reset(text, services.locations, locations, last)
        if plan.help:
            words = help_text.reset_help(locations, last, resets.grants_of(actor))
            ack(text=words, response_type="ephemeral")
            return
        if plan.problem:
            ack(text=f":thinking_face: {plan.problem}", response_type="ephemeral")
            return
        if plan.refuse:
            ack()
            resets.require(actor, Permission.RESET, plan.refuse)  # says why, names the admins
            return
        if plan.member is None or plan.location is None:
            ack()
            at = plan.location.id if plan.location else None
            open_reset_modal(client, body["trigger_id"], services, actor, at=at)
            return
        try:
            request = resets.prepare(actor, plan.location.id, plan.member)
        except InvalidInput as error:
            # Said about what they typed, here (nothing was recorded).
            raise InvalidInput({"member": f"{quoted(plan.typed)}: {error}"}) from None
        # The confirmation, privately, where the command was typed: the member in full.
        ack(
            text="Confirm the password reset",
            blocks=views.confirmation(request, plan.location, full=True),
            response_type="ephemeral",
        )

    @app.action(ResetAction.LOCATION_SELECT)
    def location_changed(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        chosen = body["actions"][0]["selected_option"]["value"]
        locations = resets.locations_for(actor)
        selected = next((loc for loc in locations if loc.id == chosen), None)
        if selected is None:
            return  # not a location this user may act on: leave the view as it is
        view = body["view"]
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=views.reset_modal(locations, selected, prefill=views.reset_prefill(view)),
        )

    @app.view(ResetView.CALLBACK)
    def reset_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        values = body["view"]["state"]["values"]

        def value(field: str) -> str | None:
            block_id, action_id = RESET_FIELDS[field]
            element = values.get(block_id, {}).get(action_id) or {}
            if element.get("type") == "static_select":
                option = element.get("selected_option") or {}
                return option.get("value")
            return element.get("value")

        location_id = value("location") or ""
        member_filter = value("member_filter") or "0"
        raw = ResetInput(
            email=value("email"),
            username=value("username"),
            account_id=value("account_id"),
            card=value("card"),
            member_filter=int(member_filter) if member_filter.isdigit() else -1,
        )
        # Refusals raise: the error mapping answers with the errors on the form.
        request = resets.prepare(actor, location_id, raw)
        # The modal's next view (pushed: Back returns to the form, everything kept).
        location = services.locations.get(request.location_id)
        ack(response_action="push", view=views.reset_confirm_modal(request, location))

    @app.view_closed(ResetView.CONFIRM)
    def confirmation_closed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        # Back (to fix a typo) or the X before Send: the draft is cancelled (one
        # compare-and-set: a Send that came first stands). Its DM record says so.
        request_id = str((body.get("view") or {}).get("private_metadata") or "")
        if request_id:
            resets.cancel(actor_of(context), request_id)
        ack()

    # A click changes the request (compare-and-set) and records what the confirmation
    # or the triage post shows next; a second click, a redelivery, changes nothing.
    @app.action(ResetAction.SEND)
    def send_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.confirm(actor_of(context), body["actions"][0]["value"], screen=screen_of(body))

    @app.action(ResetAction.OVERRIDE)
    def override_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.confirm(
            actor_of(context), body["actions"][0]["value"], override=True, screen=screen_of(body)
        )

    @app.action(ResetAction.CANCEL)
    def cancel_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.cancel(actor_of(context), body["actions"][0]["value"], screen=screen_of(body))

    @app.action(ResetAction.TRY_AGAIN)
    def try_again_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        location_id, prefill, status = resets.try_again(actor, body["actions"][0]["value"])
        # In the modal, the form takes the outcome's place; elsewhere it opens.
        screen = screen_of(body)
        open_reset_modal(
            client,
            body["trigger_id"],
            services,
            actor,
            prefill=prefill,
            at=location_id,
            note=views.try_again_note(status),
            in_place_of=screen.view_id if screen else None,
        )

    @app.action(TriageAction.CLAIM)
    def claim_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.claim(
            actor_of(context), body["actions"][0]["value"], reply_to=body.get("response_url")
        )

    @app.action(TriageAction.RETRY)
    def retry_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.retry(
            actor_of(context), body["actions"][0]["value"], reply_to=body.get("response_url")
        )

"""Listeners of the reset flow: thin; the workflow decides and records what people are
told (the confirmation, its outcome, triage posts), the notifier tells them."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.ids import RESET_FIELDS, Command, ResetAction, ResetView, TriageAction
from bot.workflows.resets import ResetInput, guess_identity
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
) -> None:
    """The reset modal at the actor's locations (/reset and the shortcuts): the last
    location used first, or else the first that takes the member's identifier."""
    resets = services.resets
    locations, last = resets.where_to_reset(actor)
    if not locations:
        resets.require(actor, Permission.RESET, None)  # says why, names the admins
        return
    ordered = sorted(locations, key=lambda loc: (loc.id != at, loc.id != last))
    takes = [loc for loc in ordered if all(f in loc.identifier_fields for f in prefill or {})]
    default = (takes or ordered)[0]
    client.views_open(
        trigger_id=trigger_id,
        view=views.reset_modal(locations, default, prefill=prefill, note=note),
    )


def register(app: GuardedApp, services: Services) -> None:
    resets = services.resets

    @app.command(Command.RESET)
    def reset_command(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        text = (body.get("text") or "").strip()
        if not text:
            open_reset_modal(client, body["trigger_id"], services, actor)
            return
        locations, last = resets.where_to_reset(actor)
        if not locations:
            resets.require(actor, Permission.RESET, None)  # says why, names the admins
            return
        default = next((loc for loc in locations if loc.id == last), locations[0])
        words = text.split()
        chosen = default
        for word in list(words) if len(words) > 1 else []:
            if word.lower() not in services.locations:
                continue
            match = next((loc for loc in locations if loc.id == word.lower()), None)
            if match is None:
                resets.require(actor, Permission.RESET, word.lower())
                return
            chosen = match
            words.remove(word)
        # Records the draft and its confirmation (the notifier posts it in the DM).
        resets.prepare(actor, chosen.id, guess_identity(" ".join(words)))

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
        resets.prepare(actor, location_id, raw)
        ack()

    # A click changes the request (compare-and-set) and records what the confirmation
    # or the triage post shows next; a second click, a redelivery, changes nothing.
    @app.action(ResetAction.SEND)
    def send_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.confirm(actor_of(context), body["actions"][0]["value"])

    @app.action(ResetAction.OVERRIDE)
    def override_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.confirm(actor_of(context), body["actions"][0]["value"], override=True)

    @app.action(ResetAction.CANCEL)
    def cancel_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        resets.cancel(actor_of(context), body["actions"][0]["value"])

    @app.action(ResetAction.TRY_AGAIN)
    def try_again_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        location_id, prefill = resets.try_again(actor, body["actions"][0]["value"])
        open_reset_modal(
            client,
            body["trigger_id"],
            services,
            actor,
            prefill=prefill,
            at=location_id,
            note="The vendor found no such member: check the details with them.",
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

"""Listeners of the reset flow: thin, they authorize via workflows and render views."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.ids import RESET_FIELDS, Command, ResetAction, ResetView, TriageAction
from bot.workflows.resets import ConfirmResult, ResetInput, guess_identity
from bot.workflows.roles import Actor, Permission
from bot.workflows.triage import Item

log = logging.getLogger("frontdesk.slack.resets")


def open_reset_modal(
    client: WebClient,
    trigger_id: str,
    services: Services,
    actor: Actor,
    *,
    prefill: dict[str, str] | None = None,
    note: str | None = None,
) -> None:
    """The reset modal at the actor's locations (/reset and the shortcuts): the last
    location used first, or else the first that takes the member's identifier."""
    resets = services.resets
    locations = resets.locations_for(actor)
    if not locations:
        resets.require(actor, Permission.RESET, None)  # says why, names the admins
        return
    last = resets.last_location(actor)
    ordered = sorted(locations, key=lambda loc: loc.id != last)
    takes = [loc for loc in ordered if all(f in loc.identifier_fields for f in prefill or {})]
    default = (takes or ordered)[0]
    client.views_open(
        trigger_id=trigger_id,
        view=views.reset_modal(locations, default, prefill=prefill, note=note),
    )


def register(app: GuardedApp, services: Services) -> None:
    resets = services.resets

    def post_confirmation(client: WebClient, user_id: str, request_id: str) -> None:
        request = resets.get(request_id)
        assert request is not None
        location = services.locations.get(request.location_id)
        blocks = views.confirmation(request, location)
        answer = client.chat_postMessage(
            channel=user_id, text="Confirm the password reset", blocks=blocks
        )
        resets.attach_message(request_id, answer["channel"], answer["ts"])

    @app.command(Command.RESET)
    def reset_command(
        ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        text = (body.get("text") or "").strip()
        if not text:
            open_reset_modal(client, body["trigger_id"], services, actor)
            return
        locations = resets.locations_for(actor)
        if not locations:
            resets.require(actor, Permission.RESET, None)  # says why, names the admins
            return
        last = resets.last_location(actor)
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
        request = resets.prepare(actor, chosen.id, guess_identity(" ".join(words)))
        post_confirmation(client, actor.user_id, request.id)

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
    def reset_submitted(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
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
        ack()
        post_confirmation(client, actor.user_id, request.id)

    def _update(client: WebClient, body: dict[str, Any], text: str, blocks: list[Any]) -> None:
        container = body.get("container", {})
        client.chat_update(
            channel=container.get("channel_id") or body["channel"]["id"],
            ts=container.get("message_ts") or body["message"]["ts"],
            text=text,
            blocks=blocks,
        )

    def send(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, override: bool
    ) -> None:
        ack()
        actor = actor_of(context)
        request_id = body["actions"][0]["value"]
        result = resets.confirm(actor, request_id, override=override)
        request = resets.get(request_id)
        assert request is not None
        location = services.locations.get(request.location_id)
        if result is ConfirmResult.ALREADY_HANDLED:
            return  # a double click or a retried delivery: the first one won
        if result is ConfirmResult.RATE_LIMITED:
            can_override = services.can(actor, Permission.RESET_OVERRIDE_LIMIT, request.location_id)
            blocks = views.rate_limited(request, location, resets.limit_per_hour, can_override)
            _update(client, body, "Reset limit reached", blocks)
            return
        services.wake_worker()  # the worker shows "Sending…", then the outcome

    @app.action(ResetAction.SEND)
    def send_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        send(ack, body, client, context, override=False)

    @app.action(ResetAction.OVERRIDE)
    def override_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        send(ack, body, client, context, override=True)

    @app.action(ResetAction.CANCEL)
    def cancel_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        request_id = body["actions"][0]["value"]
        if resets.cancel(actor, request_id):
            request = resets.get(request_id)
            assert request is not None
            text, blocks = views.status_message(
                request, services.locations.get(request.location_id)
            )
            _update(client, body, text, blocks)

    @app.action(TriageAction.CLAIM)
    def claim_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        request_id = body["actions"][0]["value"]
        won, holder = resets.claim(actor, request_id)
        request = resets.get(request_id)
        assert request is not None
        if not won:
            respond(
                f"<@{holder}> has already claimed this one.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        text, blocks = views.triage_post(
            request, services.locations.get(request.location_id), holder
        )
        _update(client, body, text, blocks)
        services.refresh_homes()

    @app.action(TriageAction.RETRY)
    def retry_clicked(
        ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext
    ) -> None:
        ack()
        result = resets.retry(actor_of(context), body["actions"][0]["value"])
        respond(views.retry_words(result), response_type="ephemeral", replace_original=False)
        if result.created:
            services.wake_worker()
            services.after_resolve(Item.of_reset(body["actions"][0]["value"]))
            services.refresh_homes()

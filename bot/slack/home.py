"""App Home and triage from anywhere: publish, page, claim, retry, resolve, reconcile.

Homes are published by the notifier (the outbox): a visit or a page click records
a publish of the visitor's Home; changes record publishes of the Homes that show
them. The listeners here open modals with the click's trigger_id, nothing else."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.slack import home_views, sale_views, views
from bot.slack.admin import roles_modal_for
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.forms import field_value
from bot.slack.ids import Event, HomeAction, TriageAction, TriageView
from bot.slack.resets import open_reset_modal
from bot.slack.sales import open_sell_modal
from bot.workflows.people import named
from bot.workflows.roles import Actor
from bot.workflows.triage import Kind

log = logging.getLogger("frontdesk.slack.home")


def _notice(client: WebClient, trigger_id: str, title: str, text: str) -> None:
    client.views_open(trigger_id=trigger_id, view=sale_views.notice_modal(title, text))


def register(app: GuardedApp, services: Services) -> None:
    home = services.home
    triage = services.triage

    @app.event(Event.APP_HOME_OPENED)
    def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab") not in (None, "home"):
            return
        actor = Actor(
            team_id=str(body.get("team_id") or ""),
            user_id=str(event["user"]),
            enterprise_id=str(body.get("enterprise_id") or ""),
        )
        home.opened(actor)

    @app.action(re.compile(f"^{HomeAction.PAGE}"))
    @app.action(HomeAction.REFRESH)
    def page(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        try:
            cursors = json.loads(body["actions"][0].get("value") or "{}")
        except ValueError:
            cursors = {}
        cursors = {k: str(v) for k, v in cursors.items() if v} if isinstance(cursors, dict) else {}
        home.show(actor_of(context), cursors)

    # Home's buttons open the same modals as the commands, with the click's trigger_id;
    # each checks the person's roles from the database, as the command does.
    @app.action(HomeAction.RESET)
    def reset_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        open_reset_modal(client, body["trigger_id"], services, actor_of(context))

    @app.action(HomeAction.SELL)
    def sell_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        open_sell_modal(client, body["trigger_id"], services, actor_of(context))

    @app.action(HomeAction.ROLES)
    def roles_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        view = roles_modal_for(services, actor_of(context))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(HomeAction.REVIEW)
    def review(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        sheet = services.sales.open_review(actor_of(context), body["actions"][0]["value"])
        client.views_open(
            trigger_id=body["trigger_id"],
            view=sale_views.approval_modal(sheet, services.locations.get(sheet.sale.location_id)),
        )

    @app.action(HomeAction.FAILURE_MENU)
    def failure_menu(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        verb, kind_text, item_id = body["actions"][0]["selected_option"]["value"].split(":", 2)
        kind = Kind(kind_text)
        if verb == "claim":
            claim = services.resets.claim if kind is Kind.RESET else services.sales.claim
            won, holder = claim(actor, item_id)
            if not won:
                _notice(client, body["trigger_id"], "Already claimed", f"{named(holder)} has it.")
        elif verb == "retry" and kind is Kind.RESET:
            result = services.resets.retry(actor, item_id)
            if not result.created:
                _notice(client, body["trigger_id"], "Already retried", views.retry_words(result))
        elif verb == "resolve":
            item = triage.for_resolving(actor, kind, item_id)
            client.views_open(
                trigger_id=body["trigger_id"],
                view=home_views.resolve_modal(item, services.locations),
            )
            return
        elif verb == "reconcile" and kind is Kind.SALE:
            sale = services.sales.for_reconciliation(actor, item_id)
            client.views_open(
                trigger_id=body["trigger_id"],
                view=sale_views.reconcile_modal(sale, services.locations.get(sale.location_id)),
            )

    @app.action(TriageAction.RESOLVE)
    def resolve_from_channel(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        kind_text, item_id = body["actions"][0]["value"].split(":", 1)
        item = triage.for_resolving(actor_of(context), Kind(kind_text), item_id)
        client.views_open(
            trigger_id=body["trigger_id"],
            view=home_views.resolve_modal(item, services.locations),
        )

    @app.view(TriageView.RESOLVE)
    def resolve_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        meta = json.loads(body["view"].get("private_metadata") or "{}")
        note = field_value(
            body["view"]["state"]["values"], TriageView.NOTE_BLOCK, TriageView.NOTE_INPUT
        )
        # Records the resolution and what shows it (the triage post, the Homes).
        triage.resolve(actor_of(context), Kind(meta.get("kind")), str(meta.get("id")), note or "")
        ack()

"""App Home and triage from anywhere: publish, page, claim, retry, resolve, reconcile."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.slack import home_views, sale_views, views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.forms import field_value
from bot.slack.ids import Event, HomeAction, TriageAction, TriageView
from bot.workflows.roles import Actor
from bot.workflows.triage import Item, Kind

log = logging.getLogger("frontdesk.slack.home")


class HomePublisher:
    """Publishes homes: the viewer's on open, and every recent viewer's on a change.

    Changes only mark the homes stale; one background thread republishes them,
    at most every ``min_interval`` seconds, so a burst of changes costs one round
    and never slows the worker or a listener.
    """

    def __init__(self, *, client: WebClient, services: Services, min_interval: float = 0.5) -> None:
        self._client = client
        self._services = services
        self._min_interval = min_interval
        self._stale = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: The page each viewer is on, so a refresh does not send them back to page 1.
        self._pages: dict[tuple[str, str], dict[str, str]] = {}

    def publish(self, actor: Actor, cursors: dict[str, str] | None = None) -> None:
        """Publish ``actor``'s home at ``cursors`` (None: the page they were on)."""
        key = (actor.team_id, actor.user_id)
        with self._lock:
            if cursors is None:
                cursors = self._pages.get(key, {})
            self._pages[key] = cursors
        home = self._services.home.home(actor, cursors)
        self._client.views_publish(
            user_id=actor.user_id, view=home_views.home_view(home, self._services.locations)
        )

    def refresh_viewers(self) -> None:
        """Something a home shows changed: republish soon for those who look at theirs."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="frontdesk-home", daemon=True
                )
                self._thread.start()
        self._stale.set()

    def stop(self) -> None:
        self._stopped.set()
        self._stale.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._stale.wait()
            if self._stopped.is_set():
                return
            self._stale.clear()
            for actor in self._services.home.recent_viewers():
                try:
                    self.publish(actor)
                except Exception:
                    log.warning("could not refresh a home", extra={"user": actor.user_id})
            self._stopped.wait(self._min_interval)


def _notice(client: WebClient, trigger_id: str, title: str, text: str) -> None:
    client.views_open(trigger_id=trigger_id, view=sale_views.notice_modal(title, text))


def register(app: GuardedApp, services: Services, publisher: HomePublisher) -> None:
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
        publisher.publish(actor, {})

    @app.action(re.compile(f"^{HomeAction.PAGE}"))
    @app.action(HomeAction.REFRESH)
    def page(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        try:
            cursors = json.loads(body["actions"][0].get("value") or "{}")
        except ValueError:
            cursors = {}
        cursors = {k: str(v) for k, v in cursors.items() if v} if isinstance(cursors, dict) else {}
        publisher.publish(actor_of(context), cursors)

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
                _notice(client, body["trigger_id"], "Already claimed", f"<@{holder}> has it.")
        elif verb == "retry" and kind is Kind.RESET:
            result = services.resets.retry(actor, item_id)
            if result.created:
                services.wake_worker()
                services.after_resolve(Item.of_reset(item_id))
            else:
                _notice(client, body["trigger_id"], "Already retried", views.retry_words(result))
        elif verb == "resolve":
            client.views_open(
                trigger_id=body["trigger_id"],
                view=home_views.resolve_modal(kind, item_id, f"{kind.value} `{item_id}`"),
            )
            return
        elif verb == "reconcile" and kind is Kind.SALE:
            sale = services.sales.for_reconciliation(actor, item_id)
            client.views_open(
                trigger_id=body["trigger_id"],
                view=sale_views.reconcile_modal(sale, services.locations.get(sale.location_id)),
            )
            return
        publisher.refresh_viewers()

    @app.action(TriageAction.RESOLVE)
    def resolve_from_channel(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        kind_text, item_id = body["actions"][0]["value"].split(":", 1)
        triage.require_resolver(actor_of(context), Kind(kind_text), item_id)
        client.views_open(
            trigger_id=body["trigger_id"],
            view=home_views.resolve_modal(Kind(kind_text), item_id, f"{kind_text} `{item_id}`"),
        )

    @app.view(TriageView.RESOLVE)
    def resolve_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        meta = json.loads(body["view"].get("private_metadata") or "{}")
        note = field_value(
            body["view"]["state"]["values"], TriageView.NOTE_BLOCK, TriageView.NOTE_INPUT
        )
        item = triage.resolve(
            actor_of(context), Kind(meta.get("kind")), str(meta.get("id")), note or ""
        )
        ack()
        services.after_resolve(item)
        publisher.refresh_viewers()

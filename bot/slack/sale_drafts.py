"""A sale's modal closed before it was submitted: its payment tokens are wiped at once.

The draft's views (the member and payment, and the review) are opened with
``notify_on_close``, so Slack says when the person closes one (Cancel, Back, the X).
The workflow wipes the sealed tokens by compare-and-set on the draft, with an audit
event; a sale already submitted is left alone. Back from the member view keeps the
member fields typed there (never a token) on the draft, so Next shows them again.
The hourly sweep of stale drafts stays as the safety net for a close Slack never
reports.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext

from bot.slack import sale_views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.ids import SaleView
from bot.slack.sales import typed_member

#: The sale views opened with ``notify_on_close`` (a draft exists behind each).
DRAFT_VIEWS = (SaleView.DETAILS, SaleView.REVIEW)


def register(app: GuardedApp, services: Services) -> None:
    def draft_closed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        # One compare-and-set, then the acknowledgement: when Slack has its answer, the
        # tokens are gone (nothing here waits on anything but the database).
        view = body.get("view") or {}
        sale_id, _ = sale_views.read_metadata(view)
        if sale_id:
            actor = actor_of(context)
            if view.get("callback_id") == SaleView.DETAILS and not body.get("is_cleared"):
                # Back to the first view: what was typed comes back on Next.
                typed = typed_member(body)
                if typed:
                    services.sales.keep_typed(actor, sale_id, typed)
            services.sales.abandon_draft(actor, sale_id)
        ack()

    for callback in DRAFT_VIEWS:
        app.view_closed(callback)(draft_closed)

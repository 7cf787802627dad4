"""Shortcuts: frontdesk from the lightning menu and from any message.

Global shortcuts open the same modals as ``/reset`` and ``/sell``; their replies go
by direct message, as those commands' do. A global shortcut carries no channel, so
"Member history", whose answer belongs in a conversation, asks for one with a
conversation select that has Slack hand back a ``response_url`` for it. Message
shortcuts carry the message: the first email, username or card number in it is the
member (the message's author may be anyone; the person using the shortcut is the
one checked).
"""

from __future__ import annotations

import html
import re
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.models.blocks import (
    ContextBlock,
    ConversationSelectElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from bot.slack import home_views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.forms import field_value
from bot.slack.ids import HistoryView, Shortcut
from bot.slack.resets import open_reset_modal
from bot.slack.sales import open_sell_modal
from bot.workflows.errors import InvalidInput
from bot.workflows.member_text import find_identifier
from bot.workflows.resets import ResetInput

#: Slack's markup in message text: <mailto:a@b|a@b>, <https://…|label>, <@U1>, <#C1|x>, <!here>.
_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
NOTHING_FOUND = "No email, username or card number in that message."


def _unlink(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("mailto:"):
        return target.removeprefix("mailto:")
    if target[:1] in ("@", "#", "!"):
        return " "  # a mention, a channel, a broadcast: never a member
    return label or target


def _block_texts(value: Any) -> list[str]:
    """Every text an app's or a person's blocks hold, in order (rich text included)."""
    if isinstance(value, list):
        return [text for item in value for text in _block_texts(item)]
    if not isinstance(value, dict):
        return []
    texts = []
    if value.get("type") == "link" and str(value.get("url", "")).startswith("mailto:"):
        texts.append(str(value["url"]).removeprefix("mailto:"))
    elif isinstance(value.get("text"), str):
        texts.append(value["text"])
    for key in ("text", "elements", "fields", "blocks"):
        if isinstance(value.get(key), dict | list):
            texts += _block_texts(value[key])
    return texts


def message_text(message: dict[str, Any]) -> str:
    """A message as plain text: its text with Slack's markup undone, then its blocks."""
    parts = [str(message.get("text") or ""), *_block_texts(message.get("blocks") or [])]
    return html.unescape(_LINK.sub(_unlink, "\n".join(parts)))


def member_in(message: dict[str, Any]) -> ResetInput | None:
    return find_identifier(message_text(message))


def _identity(found: ResetInput) -> dict[str, str]:
    values = {
        "email": found.email,
        "username": found.username,
        "account_id": found.account_id,
        "card": found.card,
    }
    return {kind: value for kind, value in values.items() if value}


def history_modal() -> dict[str, Any]:
    """The global "Member history" shortcut: which member, and where to show them."""
    view = View(
        type="modal",
        callback_id=HistoryView.CALLBACK,
        title=PlainTextObject(text="Member history"),
        submit=PlainTextObject(text="Show"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            InputBlock(
                block_id=HistoryView.MEMBER_BLOCK,
                label="Member",
                element=PlainTextInputElement(
                    action_id=HistoryView.MEMBER_INPUT,
                    placeholder="email, username, account id or card number",
                    max_length=320,
                ),
            ),
            InputBlock(
                block_id=HistoryView.WHERE_BLOCK,
                label="Show it in",
                hint="Only you see it there.",
                element=ConversationSelectElement(
                    action_id=HistoryView.WHERE_INPUT,
                    default_to_current_conversation=True,
                    response_url_enabled=True,
                ),
            ),
            ContextBlock(
                elements=[MarkdownTextObject(text="Members are shown masked, newest first.")]
            ),
        ],
    )
    view.validate_json()
    return view.to_dict()


def register(app: GuardedApp, services: Services) -> None:
    @app.global_shortcut(Shortcut.RESET)
    def reset_shortcut(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        open_reset_modal(client, body["trigger_id"], services, actor_of(context))

    @app.global_shortcut(Shortcut.SELL)
    def sell_shortcut(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        open_sell_modal(client, body["trigger_id"], services, actor_of(context))

    @app.global_shortcut(Shortcut.HISTORY)
    def history_shortcut(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        # Checked first, so that someone without the role is told so at once.
        services.triage.require_history(actor_of(context))
        client.views_open(trigger_id=body["trigger_id"], view=history_modal())

    @app.view(HistoryView.CALLBACK)
    def history_submitted(
        ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext
    ) -> None:
        actor = actor_of(context)
        values = body["view"]["state"]["values"]
        member = field_value(values, HistoryView.MEMBER_BLOCK, HistoryView.MEMBER_INPUT) or ""
        if not body.get("response_urls"):
            raise InvalidInput({"where": "Choose a conversation to show the history in."})
        items = services.triage.history(actor, str(member))
        ack()
        respond(
            text=home_views.history_text(items, services.locations),
            response_type="ephemeral",
            replace_original=False,
        )

    @app.message_shortcut(Shortcut.RESET_FROM_MESSAGE)
    def reset_from_message(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        found = member_in(body.get("message") or {})
        open_reset_modal(
            client,
            body["trigger_id"],
            services,
            actor_of(context),
            prefill=_identity(found) if found else None,
            note=None if found else NOTHING_FOUND,
        )

    @app.message_shortcut(Shortcut.HISTORY_FROM_MESSAGE)
    def history_from_message(
        ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        found = member_in(body.get("message") or {})
        if found is None:
            services.triage.require_history(actor)
            respond(NOTHING_FOUND, response_type="ephemeral", replace_original=False)
            return
        value = next(iter(_identity(found).values()))
        items = services.triage.history(actor, value)
        respond(
            text=home_views.history_text(items, services.locations),
            response_type="ephemeral",
            replace_original=False,
        )

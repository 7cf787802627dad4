"""The notifier's Slack calls, with every failure classified once.

Each call either returns or raises :class:`Failure`, which says what the notifier
needs to know: whether Slack certainly did nothing (connection refused, a 429, an
``ok: false``), or the request may have taken effect although its answer was lost
(a timeout, a connection dropped after sending, a 5xx); how long to wait
(``Retry-After``); and whether no retry can help (a channel not found, blocks
refused).

Posts are made idempotent here (see :meth:`SlackCalls.post`): every message
frontdesk posts carries its notice key in Slack's message metadata, and a post
retried after an answer was lost first looks for a message with that key.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

#: The metadata event type of every message frontdesk posts.
METADATA_EVENT = "frontdesk_notice"

#: Slack errors that no retry can fix: the notice is abandoned at once.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "invalid_metadata",
        "user_not_found",
        "cant_update_message",
        "edit_window_closed",
        "message_not_found",
        "no_text",
        "too_many_attachments",
        "restricted_action",
        "cannot_dm_bot",
        "not_allowed_token_type",
        "expired_url",
        "used_url",
        # views.update of a modal the person has closed
        "not_found",
    }
)
#: Prefix of the error recorded while Slack cannot be reached at all.
UNREACHABLE = "unreachable"


@dataclass
class Failure(Exception):
    reason: str
    retry_after: float | None = None
    permanent: bool = False
    #: The request may have taken effect (its answer was lost).
    uncertain: bool = False
    #: The Slack method that failed ("chat.postMessage").
    method: str | None = None

    def __str__(self) -> str:
        return self.reason


def classify(error: BaseException) -> Failure:
    """The one reading of a failed Slack call."""
    if isinstance(error, Failure):
        return error
    if isinstance(error, SlackApiError):
        response = error.response
        status = response.status_code
        code = str((response.data or {}).get("error") if isinstance(response.data, dict) else "")
        if status == 429:
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            value = headers.get("retry-after")
            if isinstance(value, list):
                value = value[0] if value else None
            try:
                wait = float(value) if value is not None else 30.0
            except ValueError:
                wait = 30.0
            return Failure("ratelimited", retry_after=max(wait, 0.0))
        if status >= 500:
            return Failure(f"slack http {status}", uncertain=True)
        if code == "ratelimited":
            return Failure("ratelimited", retry_after=30.0)
        return Failure(f"slack: {code or status}", permanent=code in PERMANENT)
    refused = (ConnectionRefusedError, socket.gaierror)
    if isinstance(error, refused) or (
        isinstance(error, urllib.error.URLError) and isinstance(error.reason, refused)
    ):
        # Nothing reached Slack.
        return Failure(f"{UNREACHABLE}: {type(error).__name__}")
    if isinstance(
        error,
        (
            TimeoutError,
            socket.timeout,
            ConnectionError,
            http.client.HTTPException,
            urllib.error.URLError,
            OSError,
        ),
    ):
        # Sent, or maybe sent: Slack may have acted on it.
        return Failure(f"{UNREACHABLE} or lost answer: {type(error).__name__}", uncertain=True)
    return Failure(f"unexpected: {type(error).__name__}", uncertain=True)


class SlackCalls:
    """The Web API calls notices make, through a client that never retries by itself
    (the outbox retries, knowing what may already have happened)."""

    def __init__(self, client: WebClient, *, timeout: int = 10) -> None:
        self.client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=timeout,
            retry_handlers=[],
            logger=client.logger,
        )
        self.timeout = timeout

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except Exception as error:
            failure = classify(error)
            failure.method = failure.method or method.replace("_", ".", 1)
            raise failure from error

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        key: str,
        thread_ts: str | None = None,
        uncertain_since: datetime | None = None,
    ) -> tuple[str, str]:
        """Post once: (channel id, ts). When an earlier attempt may have landed
        (``uncertain_since``), the message with this ``key`` in its metadata is
        looked for first and, if found, not posted again."""
        if uncertain_since is not None:
            found = self.find(channel, key, since=uncertain_since, thread_ts=thread_ts)
            if found is not None:
                return found
        answer = self._call(
            "chat_postMessage",
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(answer["channel"]), str(answer["ts"])

    def find(
        self, channel: str, key: str, *, since: datetime, thread_ts: str | None = None
    ) -> tuple[str, str] | None:
        """The message frontdesk posted with ``key`` since ``since``, if any."""
        if channel.startswith(("U", "W")):  # a DM is addressed by user; history needs its id
            opened = self._call("conversations_open", users=channel)
            channel = str(opened["channel"]["id"])
        oldest = f"{since.timestamp() - 5:.6f}"
        cursor: str | None = None
        for _ in range(5):
            if thread_ts:
                page = self._call(
                    "conversations_replies",
                    channel=channel,
                    ts=thread_ts,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                page = self._call(
                    "conversations_history",
                    channel=channel,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("key") == key
                ):
                    return channel, str(message["ts"])
            cursor = ((page.get("response_metadata") or {}).get("next_cursor")) or None
            if not cursor:
                return None
        return None

    def update(
        self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> None:
        self._call("chat_update", channel=channel, ts=ts, text=text, blocks=blocks)

    def publish(self, *, user_id: str, view: dict[str, Any]) -> None:
        self._call("views_publish", user_id=user_id, view=view)

    def update_view(self, *, view_id: str, view: dict[str, Any]) -> None:
        self._call("views_update", view_id=view_id, view=view)

    def respond(
        self,
        *,
        response_url: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        replace_original: bool = False,
    ) -> None:
        """An ephemeral answer through a response_url (``replace_original``: in place of
        the ephemeral message the click came from)."""
        try:
            answer = WebhookClient(response_url, timeout=self.timeout, retry_handlers=[]).send(
                text=text,
                blocks=blocks,
                response_type="ephemeral",
                replace_original=replace_original,
            )
        except Exception as error:
            raise classify(error) from error
        if answer.status_code == 429:
            raise Failure("ratelimited", retry_after=30.0)
        if answer.status_code >= 500:
            raise Failure(f"slack http {answer.status_code}", uncertain=True)
        if answer.status_code != 200:
            body = (answer.body or "")[:60]
            raise Failure(f"slack: {body or answer.status_code}", permanent=True)

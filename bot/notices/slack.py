"""The notifier's Slack calls, with every failure classified once.

Each call either returns or raises :class:`Failure`, which says what the notifier
needs to know: whether Slack certainly did nothing (connection refused, a 429, an
``ok: false`` other than ``internal_error``/``fatal_error``), or the request may have
taken effect although its answer was lost (a timeout, a connection dropped after
sending, a 5xx, ``internal_error``/``fatal_error``: "possible some aspect of the
operation succeeded"); how long to wait (``Retry-After``); and whether no retry can
help (a channel not found, blocks refused, a missing scope, a revoked token).

Posts are made idempotent with the notifier: every message frontdesk posts carries
its notice key in Slack's message metadata; a post that may have landed records the
*window* of Slack timestamps it could have landed in (:class:`Lookup`: from the
attempt's start to when its failure was seen, a few seconds either side), and the
retry first looks for a message of this app with that key in that window
(:meth:`SlackCalls.find`). The window is narrow, so one page of history (Slack gives
apps outside its Marketplace 15 messages a page and about one call a minute) usually
answers; when it does not, each page read narrows the window, and the narrowed window
is kept with the notice, so a lookup interrupted by a 429 resumes where it stopped.
"""

from __future__ import annotations

import http.client
import logging
import socket
import urllib.error
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.clock import Clock, SystemClock
from bot.workflows.outbox import lookup_window

log = logging.getLogger("frontdesk.notices")

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
        # a DM to a person who left (conversations.open)
        "user_disabled",
        # The app's token or scopes: nothing changes until someone reinstalls the app.
        "missing_scope",
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "access_denied",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
        "team_not_found",
        "enterprise_is_restricted",
    }
)
#: ``ok: false`` errors after which Slack may have acted ("it's possible some aspect
#: of the operation succeeded before the error was raised").
MAYBE_DONE = frozenset({"internal_error", "fatal_error"})
#: Messages a lookup reads per page (Slack's most for apps outside its Marketplace)
#: and pages per attempt: open + pages + the post or update, at the call timeout
#: each, stay under the notice's lease.
PAGE_SIZE = 15
PAGES_PER_ATTEMPT = 2
CALLS_PER_ATTEMPT = 2 + PAGES_PER_ATTEMPT + 1  # auth.test once, conversations.open, post
#: The bot scopes the notifier's calls need (as manifest.yml asks for them).
NEEDED_SCOPES = frozenset(
    {"chat:write", "channels:history", "groups:history", "im:history", "im:write"}
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
    #: A post that may have landed: when its attempt started.
    since: datetime | None = None
    #: Where to look for it next (:class:`Lookup`, as stored with the notice): the
    #: post's window, or what is left of a lookup this failure interrupted.
    lookup: dict[str, str] | None = None
    #: A post Slack accepted (channel, ts) that could not be recorded.
    posted: tuple[str, str] | None = None

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Lookup:
    """Where a post that may have landed can be: the messages of ``channel`` (a user id
    until its DM is opened) strictly between the Slack timestamps ``oldest`` and
    ``latest``. Stored with the notice (:meth:`as_dict`), narrowed as pages are read."""

    channel: str
    oldest: str
    latest: str

    @classmethod
    def of(cls, stored: dict[str, Any]) -> Lookup:
        return cls(
            channel=str(stored["channel"]),
            oldest=str(stored["oldest"]),
            latest=str(stored["latest"]),
        )

    def as_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "oldest": self.oldest, "latest": self.latest}


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
        if code in MAYBE_DONE:
            return Failure(f"slack: {code}", uncertain=True)
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


def granted_scopes(answer: Any) -> frozenset[str] | None:
    """The scopes Slack granted the token, from a Web API answer's ``X-OAuth-Scopes``
    header (None when Slack did not say)."""
    headers = {str(k).lower(): v for k, v in (getattr(answer, "headers", None) or {}).items()}
    value = headers.get("x-oauth-scopes")
    if isinstance(value, list):
        value = ",".join(value)
    if not value:
        return None
    return frozenset(s.strip() for s in str(value).split(",") if s.strip())


def missing_scopes(client: WebClient) -> list[str]:
    """Asked at start: the scopes the notifier needs that the token lacks (an app
    upgraded without being reinstalled), as a line for the log and admins' Home."""
    try:
        granted = granted_scopes(client.auth_test())
    except Exception as error:  # the channel check reports an unreachable Slack
        log.warning("could not ask Slack which scopes it granted", extra={"error": repr(error)})
        return []
    missing = sorted(NEEDED_SCOPES - granted) if granted is not None else []
    if not missing:
        return []
    line = (
        f"Slack has not granted the scopes {', '.join(missing)}: reinstall the app from "
        "manifest.yml. Until then a post whose answer was lost cannot be looked up and "
        "is posted again (a possible duplicate), and any notice needing them is abandoned."
    )
    log.error("the bot token lacks scopes the notifier needs", extra={"missing": missing})
    return [line]


class SlackCalls:
    """The Web API calls notices make, through a client that never retries by itself
    (the outbox retries, knowing what may already have happened)."""

    def __init__(self, client: WebClient, *, timeout: int = 10, clock: Clock | None = None) -> None:
        self.client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=timeout,
            retry_handlers=[],
            logger=client.logger,
        )
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self._bot_id: str | None = None
        self._identified = False

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except Exception as error:
            failure = classify(error)
            failure.method = failure.method or method.replace("_", ".", 1)
            raise failure from error

    def identity(self) -> tuple[str | None, frozenset[str] | None]:
        """This app's bot id and the scopes Slack granted its token (``auth.test``'s
        ``X-OAuth-Scopes`` header; None when Slack did not say)."""
        answer = self._call("auth_test")
        self._bot_id = answer.get("bot_id") or None
        self._identified = True
        return self._bot_id, granted_scopes(answer)

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        key: str,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        """Post: (channel id, ts). A failure after which the message may have landed
        carries the attempt's start (``since``) and the window to look in (``lookup``)."""
        started = self.clock.now()
        try:
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
        except Failure as failure:
            if failure.uncertain:
                failure.since = started
                failure.lookup = lookup_window(channel, started, self.clock.now())
            raise
        return str(answer["channel"]), str(answer["ts"])

    def find(
        self, key: str, lookup: dict[str, Any], *, thread_ts: str | None = None
    ) -> tuple[str, str] | None:
        """The message this app posted with ``key`` in the ``lookup`` window, or None
        when the window holds none. Reads at most :data:`PAGES_PER_ATTEMPT` pages; a
        failure, or a window not read to its end, raises :class:`Failure` carrying what
        is left of the window (``lookup``), so the next attempt resumes there."""
        window = Lookup.of(lookup)
        try:
            if not self._identified:
                self.identity()
            if window.channel.startswith(("U", "W")):  # a DM is addressed by user
                opened = self._call("conversations_open", users=window.channel)
                window = replace(window, channel=str(opened["channel"]["id"]))
            for _ in range(PAGES_PER_ATTEMPT):
                page = self._call(
                    "conversations_replies" if thread_ts else "conversations_history",
                    channel=window.channel,
                    **({"ts": thread_ts} if thread_ts else {}),
                    oldest=window.oldest,
                    latest=window.latest,
                    inclusive=False,
                    include_all_metadata=True,
                    limit=PAGE_SIZE,
                )
                messages = page.get("messages") or []
                for message in messages:
                    if self._ours(message, key):
                        return window.channel, str(message["ts"])
                stamps = [str(m["ts"]) for m in messages if m.get("ts")]
                if not page.get("has_more") or not stamps:
                    return None
                # Replies come oldest first, history newest first: read on past this page.
                if thread_ts:
                    window = replace(window, oldest=max(stamps, key=float))
                else:
                    window = replace(window, latest=min(stamps, key=float))
        except Failure as failure:
            failure.lookup = window.as_dict()
            raise
        raise Failure("looking for a lost post", retry_after=1.0, lookup=window.as_dict())

    def _ours(self, message: dict[str, Any], key: str) -> bool:
        """Posted by this app, with this key (another app could copy a key)."""
        metadata = message.get("metadata") or {}
        poster = message.get("bot_id")
        return (
            (poster == self._bot_id if self._bot_id else bool(poster or message.get("app_id")))
            and metadata.get("event_type") == METADATA_EVENT
            and (metadata.get("event_payload") or {}).get("key") == key
        )

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
        started = self.clock.now()
        try:
            answer = WebhookClient(response_url, timeout=self.timeout, retry_handlers=[]).send(
                text=text,
                blocks=blocks,
                response_type="ephemeral",
                replace_original=replace_original,
            )
        except Exception as error:
            failure = classify(error)
            failure.since = started if failure.uncertain else None
            raise failure from error
        if answer.status_code == 429:
            raise Failure("ratelimited", retry_after=30.0)
        if answer.status_code >= 500:
            raise Failure(f"slack http {answer.status_code}", uncertain=True, since=started)
        if answer.status_code != 200:
            body = (answer.body or "")[:60]
            raise Failure(f"slack: {body or answer.status_code}", permanent=True)

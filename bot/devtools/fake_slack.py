"""A local stand-in of Slack's Web API: records every call and answers like Slack.

Views and blocks are checked with slack_sdk's models on the way in: an invalid
one is answered ``invalid_arguments`` and kept in ``invalid`` so tests fail.

It behaves like Slack where the notifier depends on it: ``chat.update`` of a
message that does not exist is ``message_not_found``; a posted message keeps its
``metadata`` and who posted it (``bot_id``/``app_id`` of the app whose token posted
it, ``user`` for a person), which ``conversations.history`` /
``conversations.replies`` return with ``include_all_metadata``, between ``oldest``
and ``latest``, at most ``history_page`` (Slack's 15 for apps outside its
Marketplace) a page with ``has_more`` and a cursor, and at most one call per
``history_every`` seconds (Slack: 60) when set; ``auth.test`` says which scopes the
token holds (``X-OAuth-Scopes``, from ``scopes``); every version of a message is
kept (``versions``), so a test can see that a message never went back to an earlier state. Faults on
demand: 429 with ``Retry-After`` (for some calls, or for everything during a
while), refusing connections altogether (:meth:`FakeSlack.go_down`), and acting on
a call but dropping the connection before answering (:meth:`FakeSlack.drop_answers`:
the caller cannot know whether it happened).

Workflow Builder steps end as Slack ends them: ``functions.completeSuccess`` checks
the outputs against the function's output parameters (as the manifest declares
them) and answers ``parameter_validation_failed`` otherwise; an execution ends
once (``execution_not_in_running_state`` after), and only one that was started
(``function_execution_not_found``).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

#: The bot id of the app the fake serves (``auth.test``; its posts carry it).
BOT_ID = "BBOT"
HISTORY_METHODS = ("conversations.history", "conversations.replies")
#: The scopes ``auth.test`` reports by default: every bot scope of manifest.yml.
GRANTED_SCOPES = (
    "commands",
    "chat:write",
    "usergroups:read",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
)


@dataclass(frozen=True)
class ApiCall:
    method: str
    args: dict[str, Any]
    raw: str
    token: str | None


@dataclass
class Execution:
    """One run of a Workflow Builder step, as Slack tracks it."""

    callback_id: str
    state: str = "running"  # then "completed" or "failed"
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


#: How Slack checks an output of each declared type (others: any JSON value).
_OUTPUT_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "slack#/types/user_id": lambda v: (
        isinstance(v, str) and bool(re.fullmatch(r"[UW][A-Z0-9]+", v))
    ),
    "slack#/types/channel_id": lambda v: (
        isinstance(v, str) and bool(re.fullmatch(r"[CDG][A-Z0-9]+", v))
    ),
    "slack#/types/date": lambda v: (
        isinstance(v, str) and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v))
    ),
    "slack#/types/timestamp": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


class FakeSlack:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.calls: list[ApiCall] = []
        self.invalid: list[tuple[str, str]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        #: Every version of each message, oldest first (posted, then each update).
        self.versions: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: Each user's published App Home.
        self.homes: dict[str, dict[str, Any]] = {}
        #: usergroup id → member user ids, as ``usergroups.users.list`` answers.
        self.usergroups: dict[str, list[str]] = {}
        #: Channels that do not exist (posting there is ``channel_not_found``).
        self.unknown_channels: set[str] = set()
        #: channel id → what ``conversations.info`` says of it (``is_member`` for the
        #: bot, ``is_archived``, ``is_private``); an id not here is ``channel_not_found``.
        self.channels: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._rate_limits: dict[str, tuple[int, int]] = {}
        self._limited_until = 0.0
        self._limited_retry_after = 1
        self._drops: dict[str, int] = {}
        #: (method, when) of every call answered 429.
        self.rate_limited: list[tuple[str, float]] = []
        #: Calls acted on whose answer was dropped.
        self.dropped: list[str] = []
        #: Bot ids of other apps' tokens; any other token is this app's (a call
        #: without a token is a person's).
        self.other_apps: dict[str, str] = {}
        #: The scopes ``auth.test`` says the token holds.
        self.scopes: list[str] = list(GRANTED_SCOPES)
        #: Messages per page of history, and seconds between two history calls of a
        #: method (0: no limit), as Slack limits apps outside its Marketplace.
        self.history_page = 15
        self.history_every = 0.0
        self._history_at: dict[str, float] = {}
        self._ts = itertools.count(1)
        self._last_ts = 0
        #: Slack's clock (message timestamps): a test whose app runs on a manual clock
        #: sets it to that clock, as Slack's and the app's agree in life.
        self.clock: Callable[[], float] = time.time
        #: The app's functions (manifest ``functions``): callback id → definition.
        self.functions: dict[str, dict[str, Any]] = {}
        #: Step runs started by Slack, by function_execution_id.
        self.executions: dict[str, Execution] = {}
        #: Ephemeral messages as their one reader sees them: (channel, ts) → every
        #: version, oldest first (shown from an acknowledgement, then replaced through a
        #: response_url).
        self.ephemerals: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: Modals the person has closed (views.update of one is ``not_found``).
        self.closed_views: set[str] = set()
        #: response_url token → what it may change (its message), its uses, when issued.
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._server = _Server((host, port), _handler(self))
        self._address = self._server.server_address[:2]
        self._running = False

    @property
    def url(self) -> str:
        host, port = self._address
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/api/"

    def start(self) -> FakeSlack:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------
    def go_down(self) -> None:
        """Refuse every connection (the listening socket is closed) until :meth:`come_back`."""
        self.stop()

    def come_back(self) -> None:
        """Listen again, on the same address."""
        self._server = _Server(self._address, _handler(self))
        self.start()

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429 and Retry-After."""
        with self._lock:
            self._rate_limits[method] = (times, retry_after)

    def rate_limit_all(self, seconds: float, *, retry_after: int = 1) -> None:
        """Answer every call with HTTP 429 and Retry-After for ``seconds``."""
        with self._lock:
            self._limited_until = time.monotonic() + seconds
            self._limited_retry_after = retry_after

    def drop_answers(self, method: str, times: int = 1) -> None:
        """Act on the next ``times`` calls of ``method``, then close the connection
        without answering (as a network failure after Slack acted would)."""
        with self._lock:
            self._drops[method] = times

    def take_rate_limit(self, method: str, raw: str) -> int | None:
        with self._lock:
            if self.history_every and method in HISTORY_METHODS:
                now = time.monotonic()
                last = self._history_at.get(method)
                if last is not None and now - last < self.history_every:
                    self.rate_limited.append((method, now))
                    return max(1, math.ceil(self.history_every - (now - last)))
                self._history_at[method] = now
            if time.monotonic() < self._limited_until:
                self.rate_limited.append((method, time.monotonic()))
                return self._limited_retry_after
            times, retry_after = self._rate_limits.get(method, (0, 0))
            if times <= 0:
                return None
            self._rate_limits[method] = (times - 1, retry_after)
            self.rate_limited.append((method, time.monotonic()))
            return retry_after

    def take_drop(self, method: str) -> bool:
        with self._lock:
            left = self._drops.get(method, 0)
            if left <= 0:
                return False
            self._drops[method] = left - 1
            self.dropped.append(method)
            return True

    # -- for tests ----------------------------------------------------------------------
    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def last_view(self) -> dict[str, Any]:
        with self._lock:
            return list(self.views.values())[-1]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return self.messages[(channel, ts)]

    def messages_in(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for (c, _), m in self.messages.items() if c == channel]

    def history_of(self, channel: str, ts: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.versions.get((channel, ts), []))

    def acknowledged_view(self, previous: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        """The view a ``response_action: update|push`` acknowledgement shows, as Slack would
        (checked like any other view; an update keeps the view id)."""
        view = answer["view"]
        problem = self._validate({"view": view})
        if problem:
            with self._lock:
                self.invalid.append((f"ack:{answer.get('response_action')}", problem))
        if answer.get("response_action") == "update":
            # The same place in the modal's stack.
            place = {
                k: previous[k] for k in ("id", "previous_view_id", "root_view_id") if k in previous
            }
        else:  # push: on top of the view answered; its close button returns there
            place = {
                "id": f"V{next(self._ts):06d}",
                "previous_view_id": previous["id"],
                "root_view_id": previous.get("root_view_id") or previous["id"],
            }
        stored = {**view, **place, "hash": f"h{next(self._ts)}"}
        with self._lock:
            self.views[stored["id"]] = stored
        return stored

    # -- ephemeral messages and response_urls -------------------------------------------
    def show_ephemeral(self, user: str, channel: str, answer: dict[str, Any]) -> dict[str, Any]:
        """What Slack shows for an acknowledgement that carries a message (a command
        answered ``response_type: ephemeral``): a message in ``channel`` only ``user``
        sees, checked like any other."""
        problem = self._validate({"blocks": answer.get("blocks")})
        if problem:
            with self._lock:
                self.invalid.append(("ack:ephemeral", problem))
        message: dict[str, Any] = {
            "channel": channel,
            "ts": self._message_ts(),
            "user": user,
            "text": answer.get("text"),
            "blocks": _json_arg(answer.get("blocks")) or [],
            "ephemeral": True,
        }
        with self._lock:
            self.ephemerals[(channel, str(message["ts"]))] = [message]
        return message

    def ephemeral(self, channel: str, ts: str) -> dict[str, Any]:
        """An ephemeral message as its reader sees it now."""
        with self._lock:
            return self.ephemerals[(channel, ts)][-1]

    def response_url(self, user: str, channel: str, ts: str | None = None) -> str:
        """A response_url as Slack hands one out with an interaction: it may post (or,
        for the message ``ts`` the interaction came from, replace it) 5 times within
        30 minutes, then Slack answers 404 ``used_url`` / ``expired_url``."""
        token = f"R{next(self._ts):06d}"
        with self._lock:
            self._response_urls[token] = {
                "user": user,
                "channel": channel,
                "ts": ts,
                "uses": 0,
                "issued": time.monotonic(),
                "expired": False,
            }
        return f"{self.url}respond/{token}"

    def expire_response_urls(self) -> None:
        """Every response_url handed out so far is past its 30 minutes."""
        with self._lock:
            for entry in self._response_urls.values():
                entry["expired"] = True

    def respond(self, token: str, args: dict[str, Any], raw: str) -> tuple[int, str]:
        """A post to a response_url: (HTTP status, body), as Slack answers."""
        with self._lock:
            self.calls.append(ApiCall(f"respond/{token}", args, raw, None))
            entry = self._response_urls.get(token)
            if entry is None:
                return 404, "no_such_url"
            entry["uses"] += 1
            if entry["expired"] or time.monotonic() - entry["issued"] > 1800:
                return 404, "expired_url"
            if entry["uses"] > 5:
                return 404, "used_url"
        problem = self._validate({"blocks": args.get("blocks")}) if args.get("blocks") else None
        if problem:
            with self._lock:
                self.invalid.append(("respond", problem))
            return 400, "invalid_blocks"
        message = {
            "channel": entry["channel"],
            "user": entry["user"],
            "text": args.get("text"),
            "blocks": _json_arg(args.get("blocks")) or [],
            "ephemeral": True,
        }
        key = (entry["channel"], entry["ts"])
        with self._lock:
            if args.get("replace_original") in (True, "true") and key in self.ephemerals:
                self.ephemerals[key].append({**message, "ts": entry["ts"]})
            else:
                ts = self._message_ts_locked()
                self.ephemerals[(entry["channel"], ts)] = [{**message, "ts": ts}]
        return 200, "ok"

    def add_channel(
        self,
        channel_id: str,
        *,
        is_member: bool = True,
        is_private: bool = False,
        is_archived: bool = False,
    ) -> None:
        """A channel that exists, with or without the bot in it."""
        with self._lock:
            self.channels[channel_id] = {
                "is_member": is_member,
                "is_private": is_private,
                "is_archived": is_archived,
            }

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def start_execution(self, function_execution_id: str, callback_id: str) -> None:
        """Slack starts a step run (before it sends ``function_executed``)."""
        if callback_id not in self.functions:
            raise AssertionError(f"the manifest declares no function {callback_id!r}")
        with self._lock:
            self.executions[function_execution_id] = Execution(callback_id)

    def execution(self, function_execution_id: str) -> Execution:
        with self._lock:
            return self.executions[function_execution_id]

    def _end_execution(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        execution_id = str(args.get("function_execution_id") or "")
        if not execution_id:
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            execution = self.executions.get(execution_id)
            if execution is None:
                return {"ok": False, "error": "function_execution_not_found"}
            if execution.state != "running":
                return {"ok": False, "error": "execution_not_in_running_state"}
            if method == "functions.completeError":
                error = args.get("error")
                if not isinstance(error, str) or not error.strip():
                    return {"ok": False, "error": "invalid_arguments"}
                execution.state, execution.error = "failed", error
                return {"ok": True}
            outputs = _json_arg(args.get("outputs"))
            problems = self._output_problems(execution.callback_id, outputs)
            if problems:
                self.invalid.append((method, "; ".join(problems)))
                return {"ok": False, "error": "parameter_validation_failed", "errors": problems}
            execution.state, execution.outputs = "completed", dict(outputs)
            return {"ok": True}

    def _output_problems(self, callback_id: str, outputs: Any) -> list[str]:
        if not isinstance(outputs, dict):
            return ["outputs must be an object"]
        declared = self.functions[callback_id].get("output_parameters") or {}
        parameters = declared.get("properties") or {}
        required = set(declared.get("required") or [])
        required |= {name for name, p in parameters.items() if p.get("is_required")}
        problems = [f"{name}: required" for name in sorted(required) if outputs.get(name) is None]
        for name, value in outputs.items():
            if name not in parameters:
                problems.append(f"{name}: not an output of {callback_id}")
                continue
            check = _OUTPUT_TYPES.get(str(parameters[name].get("type")))
            if value is not None and check is not None and not check(value):
                problems.append(f"{name}: not a {parameters[name].get('type')}")
        return problems

    # -- answering ----------------------------------------------------------------------
    def answer(
        self, method: str, args: dict[str, Any], raw: str, token: str | None
    ) -> dict[str, Any]:
        """Answer, then record the call: whoever sees a call also sees what it did."""
        try:
            return self._answer(method, args, token)
        finally:
            with self._lock:
                self.calls.append(ApiCall(method, args, raw, token))

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        problem = self._validate(args)
        if problem:
            with self._lock:
                self.invalid.append((method, problem))
            return {"ok": False, "error": "invalid_arguments", "detail": problem}
        if method == "auth.test":
            return {"ok": True, "team_id": "T0001", "user_id": "UBOT", "bot_id": BOT_ID}
        if method == "usergroups.users.list":
            group = str(args.get("usergroup"))
            with self._lock:
                if group not in self.usergroups:
                    return {"ok": False, "error": "no_such_subteam"}
                return {"ok": True, "users": list(self.usergroups[group])}
        if method == "views.publish":
            view = _json_arg(args.get("view"))
            stored = {**view, "id": f"V{next(self._ts):06d}", "hash": f"h{next(self._ts)}"}
            with self._lock:
                self.homes[str(args.get("user_id"))] = stored
            return {"ok": True, "view": stored}
        if method == "views.update" and args.get("view_id") in self.closed_views:
            return {"ok": False, "error": "not_found"}
        if method == "views.update" and args.get("hash"):
            # As Slack: an update sent with the hash of a version that has since
            # changed (a double tap sends the same one twice) is refused.
            with self._lock:
                current = self.views.get(str(args.get("view_id")), {}).get("hash")
            if current and args["hash"] != current:
                return {"ok": False, "error": "hash_conflict"}
        if method in ("views.open", "views.update", "views.push"):
            view = _json_arg(args.get("view"))
            view_id = args.get("view_id") or f"V{next(self._ts):06d}"
            with self._lock:
                # An update keeps the view's place in its modal's stack.
                old = self.views.get(view_id, {})
            place = {k: old[k] for k in ("previous_view_id", "root_view_id") if k in old}
            stored = {**view, **place, "id": view_id, "hash": f"h{next(self._ts)}"}
            with self._lock:
                self.views[view_id] = stored
            return {"ok": True, "view": stored}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            channel = _dm(str(args.get("channel")))
            if channel in self.unknown_channels:
                return {"ok": False, "error": "channel_not_found"}
            ts = self._message_ts()
            message = {
                "channel": channel,
                "ts": ts,
                "text": args.get("text"),
                "blocks": _json_arg(args.get("blocks")) or [],
                "thread_ts": args.get("thread_ts"),
                "user": args.get("user"),
                "metadata": _json_arg(args.get("metadata")) or None,
                **self._poster(token),
            }
            with self._lock:
                self.messages[(channel, ts)] = message
                self.versions[(channel, ts)] = [message]
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            channel, ts = _dm(str(args.get("channel"))), str(args.get("ts"))
            with self._lock:
                if (channel, ts) not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                message = {
                    **self.messages[(channel, ts)],
                    "text": args.get("text"),
                    "blocks": _json_arg(args.get("blocks")) or [],
                }
                self.messages[(channel, ts)] = message
                self.versions[(channel, ts)].append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, args)
        if method == "conversations.info":
            channel_id = str(args.get("channel") or "")
            with self._lock:
                known = self.channels.get(channel_id)
            if known is None:
                return {"ok": False, "error": "channel_not_found"}
            return {
                "ok": True,
                "channel": {
                    "id": channel_id,
                    "name": channel_id.lower(),
                    "is_channel": True,
                    "is_group": False,
                    "is_im": False,
                    "is_mpim": False,
                    "is_general": False,
                    "is_shared": False,
                    "is_org_shared": False,
                    "is_ext_shared": False,
                    "is_pending_ext_shared": False,
                    **known,
                },
            }
        if method in ("functions.completeSuccess", "functions.completeError"):
            return self._end_execution(method, args)
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": _dm(str(args.get("users", "UX")))}}
        return {"ok": True}

    def _poster(self, token: str | None) -> dict[str, Any]:
        """Who a message is from, as Slack marks it."""
        if token is None:
            return {"user": "UPERSON"}
        bot_id = self.other_apps.get(token, BOT_ID)
        return {"bot_id": bot_id, "app_id": "A" + bot_id[1:]}

    def _message_ts(self) -> str:
        """Like Slack's: the time of posting, in microseconds, unique in the workspace."""
        with self._lock:
            return self._message_ts_locked()

    def _message_ts_locked(self) -> str:
        self._last_ts = max(round(self.clock() * 1_000_000), self._last_ts + 1)
        stamp = self._last_ts
        return f"{stamp // 1_000_000}.{stamp % 1_000_000:06d}"

    def _history(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel"))
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or "inf")
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        thread = args.get("ts") if method == "conversations.replies" else None

        def within(ts: str) -> bool:
            if inclusive:
                return oldest <= float(ts) <= latest
            return oldest < float(ts) < latest

        with self._lock:
            found = [
                m
                for (c, ts), m in self.messages.items()
                if c == channel
                and within(ts)
                and (
                    (thread is not None and (m["thread_ts"] == thread or ts == thread))
                    or (thread is None and m["thread_ts"] in (None, ts))
                )
            ]
        found.sort(key=lambda m: float(m["ts"]), reverse=thread is None)
        start = int(args.get("cursor") or 0)
        size = min(int(args.get("limit") or 100), self.history_page)
        page = found[start : start + size]
        more = start + size < len(found)
        shown = [{k: v for k, v in m.items() if k != "metadata" or with_metadata} for m in page]
        return {
            "ok": True,
            "messages": shown,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def _validate(self, args: dict[str, Any]) -> str | None:
        try:
            if "view" in args:
                View(**_json_arg(args["view"])).validate_json()
            if args.get("blocks"):
                for block in Block.parse_all(_json_arg(args["blocks"])):
                    block.validate_json()
        except Exception as exc:  # slack_sdk raises several kinds
            return f"{type(exc).__name__}: {exc}"
        return None


def _dm(channel: str) -> str:
    """A message to a user goes to their DM with the app."""
    return "D" + channel[1:] if channel.startswith("U") else channel


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value) if value else None
    return value


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            self._serve(parts.path, dict(parse_qsl(parts.query)), parts.query)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                args = json.loads(raw or "{}")
            else:
                args = dict(parse_qsl(raw))
            self._serve(self.path, args, raw)

        def _serve(self, path: str, args: dict[str, Any], raw: str) -> None:
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ") or None
            method = path.split("/api/", 1)[-1].split("?")[0]
            if method.startswith("respond/"):
                status, text = fake.respond(method.split("/", 1)[1], args, raw)
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            retry_after = fake.take_rate_limit(method, raw)
            if retry_after is not None:
                payload = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                self.send_response(429)
                self.send_header("Retry-After", str(retry_after))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            payload = json.dumps(fake.answer(method, args, raw, token)).encode()
            if fake.take_drop(method):
                self.close_connection = True  # acted on, never answered
                return
            self.send_response(200)
            if method == "auth.test":
                self.send_header("X-OAuth-Scopes", ",".join(fake.scopes))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler

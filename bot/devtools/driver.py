"""Sends Slack-shaped, signed requests to the app's HTTP endpoint, as Slack would.

Payload shapes follow Slack's references: interaction payloads (``block_actions``,
``view_submission``, ``view_closed``, ``shortcut``, ``message_action``) as a form
field ``payload``; Events API callbacks (``app_home_opened``, ``function_executed``)
as JSON.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx


def sign(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackDriver:
    def __init__(
        self,
        *,
        app_url: str,
        signing_secret: str,
        response_url_base: str,
        team_id: str = "T0001",
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self.events_url = app_url.rstrip("/") + "/slack/events"
        self.secret = signing_secret
        self.team_id = team_id
        #: Set on Enterprise Grid: user ids are then organisation-wide.
        self.enterprise_id: str | None = None
        self.response_url_base = response_url_base
        self.clock = clock
        self.http = httpx.Client(timeout=timeout)
        #: The last request sent (body and headers), for replaying it byte for byte.
        self.last: tuple[bytes, dict[str, str]] | None = None
        #: The app's functions as its manifest declares them (callback id → definition),
        #: for ``function_executed`` events.
        self.functions: dict[str, dict[str, Any]] = {}
        #: What the person typed in each open view (view id → action id → value): like
        #: Slack's client, a view keeps it while it stays in the modal's stack (Back to
        #: it, an error answer, an update with the same input ids), so submitting it again
        #: sends it again unless typed over.
        self.typed: dict[str, dict[str, str]] = {}

    def post(
        self,
        body: str,
        content_type: str,
        *,
        secret: str | None = None,
        timestamp: float | None = None,
        retry_num: int | None = None,
    ) -> httpx.Response:
        ts = str(int(self.clock() if timestamp is None else timestamp))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(secret or self.secret, ts, body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        self.last = (body.encode(), headers)
        return self.http.post(self.events_url, content=body.encode(), headers=headers)

    def replay(self, request: tuple[bytes, dict[str, str]]) -> httpx.Response:
        """Send a captured request again, unchanged: what an attacker who saw it would do."""
        body, headers = request
        return self.http.post(self.events_url, content=body, headers=headers)

    def _form(self, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def in_workspace(self, team_id: str, enterprise_id: str | None = None) -> SlackDriver:
        """The same driver as Slack sends from another workspace (of an enterprise)."""
        other = copy.copy(self)
        other.team_id, other.enterprise_id = team_id, enterprise_id
        return other

    def _envelope(self, kind: str, user_id: str) -> dict[str, Any]:
        """What every interactive payload carries: its type, team, user and a trigger id."""
        envelope: dict[str, Any] = {
            "type": kind,
            "team": {"id": self.team_id, "domain": "example"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0001",
            "trigger_id": f"trigger-{time.monotonic_ns()}",
        }
        if self.enterprise_id:
            envelope["enterprise"] = {"id": self.enterprise_id, "name": "Example Org"}
            envelope["is_enterprise_install"] = False
        return envelope

    def event(self, user_id: str, event_type: str, **fields: Any) -> httpx.Response:
        """An Events API callback, as Slack delivers it (JSON, signed)."""
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": self.team_id,
                "api_app_id": "A0001",
                "type": "event_callback",
                "event_id": f"Ev{time.monotonic_ns()}",
                "event_time": int(self.clock()),
                "event": {
                    "type": event_type,
                    "user": user_id,
                    "channel": "D" + user_id[1:],
                    "tab": "home",
                    "event_ts": str(self.clock()),
                    **fields,
                },
            }
        )
        return self.post(body, "application/json")

    def function_executed(
        self,
        callback_id: str,
        inputs: dict[str, Any],
        *,
        function_execution_id: str,
        bot_access_token: str,
        **kwargs: Any,
    ) -> httpx.Response:
        """A Workflow Builder step of the app runs: Slack's ``function_executed`` event,
        with the function as declared (its parameters as a list, as Slack sends them)
        and a just-in-time token for the run."""
        declared = self.functions[callback_id]
        now = int(self.clock())

        def parameters(kind: str) -> list[dict[str, Any]]:
            group = declared.get(kind) or {}
            required = set(group.get("required") or [])
            return [
                {
                    "type": spec["type"],
                    "name": name,
                    "title": spec.get("title", name),
                    "description": spec.get("description", ""),
                    "is_required": bool(spec.get("is_required")) or name in required,
                }
                for name, spec in (group.get("properties") or {}).items()
            ]

        envelope: dict[str, Any] = {
            "token": "legacy",
            "team_id": self.team_id,
            "api_app_id": "A0001",
            "event": {
                "type": "function_executed",
                "function": {
                    "id": "Fn" + hashlib.sha256(callback_id.encode()).hexdigest()[:10].upper(),
                    "callback_id": callback_id,
                    "title": declared["title"],
                    "description": declared.get("description", ""),
                    "type": "app",
                    "input_parameters": parameters("input_parameters"),
                    "output_parameters": parameters("output_parameters"),
                    "app_id": "A0001",
                    "date_created": now - 86400,
                    "date_updated": now - 3600,
                    "date_deleted": 0,
                },
                "inputs": inputs,
                "function_execution_id": function_execution_id,
                "workflow_execution_id": f"Wx{time.monotonic_ns()}",
                "event_ts": f"{self.clock():.6f}",
                "bot_access_token": bot_access_token,
            },
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": self.enterprise_id,
                    "team_id": self.team_id,
                    "user_id": "UBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        if self.enterprise_id:
            envelope["enterprise_id"] = self.enterprise_id
        return self.post(json.dumps(envelope), "application/json", **kwargs)

    def global_shortcut(self, user_id: str, callback_id: str, **kwargs: Any) -> httpx.Response:
        """A global shortcut: no channel and no response_url, only a trigger id."""
        payload = {
            **self._envelope("shortcut", user_id),
            "token": "legacy",
            "action_ts": f"{self.clock():.6f}",
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
        }
        if self.enterprise_id:
            payload["enterprise"] = {"id": self.enterprise_id, "name": "Example Org"}
        return self._form(payload, **kwargs)

    def message_shortcut(
        self,
        user_id: str,
        callback_id: str,
        message: dict[str, Any],
        *,
        channel: str,
        **kwargs: Any,
    ) -> httpx.Response:
        """A message shortcut used on ``message`` (as Slack stores it: text, ts, user,
        blocks) in ``channel``: the whole message comes along, with a response_url."""
        payload = {
            **self._envelope("message_action", user_id),
            "token": "legacy",
            "action_ts": f"{self.clock():.6f}",
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "channel": {"id": channel, "name": "front-desk"},
            "response_url": f"{self.response_url_base}shortcuts/{user_id}",
            "message_ts": message["ts"],
            "message": {"type": "message", **message},
        }
        if self.enterprise_id:
            payload["enterprise"] = {"id": self.enterprise_id, "name": "Example Org"}
        return self._form(payload, **kwargs)

    def view_closed(
        self, user_id: str, view: dict[str, Any], *, is_cleared: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """The person closed a modal opened with ``notify_on_close`` (Cancel, the X, or
        Escape): the view as it was, and no trigger id."""
        payload = {**self._envelope("view_closed", user_id), "view": view}
        payload.pop("trigger_id")
        payload["is_cleared"] = is_cleared
        return self._form(payload, **kwargs)

    def command(self, user_id: str, command: str, text: str = "", **kwargs: Any) -> httpx.Response:
        body = urlencode(
            {
                "token": "legacy",
                "team_id": self.team_id,
                "team_domain": "example",
                "channel_id": "C0FRONT",
                "channel_name": "front-desk",
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A0001",
                "response_url": f"{self.response_url_base}commands/{user_id}",
                "trigger_id": f"trigger-{time.monotonic_ns()}",
                **({"enterprise_id": self.enterprise_id} if self.enterprise_id else {}),
            }
        )
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def click(
        self,
        user_id: str,
        action_id: str,
        value: str,
        *,
        channel: str,
        ts: str,
        response_url: str | None = None,
        ephemeral: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """A button on a message. ``ephemeral``: on a message only this user sees (Slack
        then sends no ``message``, and the container says so)."""
        container: dict[str, Any] = {"type": "message", "channel_id": channel, "message_ts": ts}
        if ephemeral:
            container["is_ephemeral"] = True
        payload = {
            **self._envelope("block_actions", user_id),
            "container": container,
            "channel": {"id": channel},
            **({} if ephemeral else {"message": {"ts": ts, "type": "message"}}),
            "response_url": response_url or f"{self.response_url_base}actions/{user_id}",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "action_ts": str(self.clock()),
                }
            ],
        }
        return self._form(payload, **kwargs)

    def select_in_view(
        self, user_id: str, view: dict[str, Any], block_id: str, action_id: str, value: str
    ) -> httpx.Response:
        payload = {
            **self._envelope("block_actions", user_id),
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
            "actions": [
                {
                    "type": "static_select",
                    "action_id": action_id,
                    "block_id": block_id,
                    "selected_option": {
                        "value": value,
                        "text": {"type": "plain_text", "text": value},
                    },
                    "action_ts": str(self.clock()),
                }
            ],
        }
        return self._form(payload)

    def click_in_view(
        self, user_id: str, view: dict[str, Any], action_id: str, value: str, **kwargs: Any
    ) -> httpx.Response:
        """A button inside a modal: Slack sends the view (and a fresh trigger id) along."""
        payload = {
            **self._envelope("block_actions", user_id),
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "action_ts": str(self.clock()),
                }
            ],
        }
        return self._form(payload, **kwargs)

    def submit_view(
        self, user_id: str, view: dict[str, Any], values: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        """Fill the view's inputs by action id and submit. Selects take an option value
        (several, comma-separated, for a multi-select); a user select takes a user id."""
        state: dict[str, dict[str, Any]] = {}
        response_urls: list[dict[str, str]] = []
        if view.get("id"):
            values = self.typed[view["id"]] = {**self.typed.get(view["id"], {}), **values}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            action_id = element["action_id"]
            entered = values.get(action_id)
            item: dict[str, Any]
            if element["type"] in ("static_select", "radio_buttons"):
                chosen = (
                    entered
                    if entered is not None
                    else (element.get("initial_option") or {}).get("value")
                )
                item = {
                    "type": element["type"],
                    "selected_option": (
                        {"value": chosen, "text": {"type": "plain_text", "text": chosen}}
                        if chosen is not None
                        else None
                    ),
                }
            elif element["type"] == "users_select":
                item = {"type": "users_select", "selected_user": entered}
            elif element["type"] == "conversations_select":
                chosen = entered if entered is not None else element.get("initial_conversation")
                item = {"type": "conversations_select", "selected_conversation": chosen}
                if chosen and element.get("response_url_enabled"):
                    # Slack hands the app a response_url for the conversation chosen.
                    response_urls.append(
                        {
                            "block_id": block["block_id"],
                            "action_id": action_id,
                            "channel_id": chosen,
                            "response_url": f"{self.response_url_base}views/{user_id}/{chosen}",
                        }
                    )
            elif element["type"] == "multi_static_select":
                chosen_values = (
                    entered.split(",")
                    if entered is not None
                    else [o["value"] for o in element.get("initial_options") or []]
                )
                item = {
                    "type": "multi_static_select",
                    "selected_options": [
                        {"value": v, "text": {"type": "plain_text", "text": v}}
                        for v in chosen_values
                    ],
                }
            elif element["type"] == "datepicker":
                chosen = entered if entered is not None else element.get("initial_date")
                item = {"type": "datepicker", "selected_date": chosen}
            else:
                if entered is None:
                    entered = element.get("initial_value")
                item = {"type": element["type"], "value": entered}
            state[block["block_id"]] = {action_id: item}
        payload = {
            **self._envelope("view_submission", user_id),
            "view": {**view, "state": {"values": state}},
            "response_urls": response_urls,
        }
        return self._form(payload, **kwargs)

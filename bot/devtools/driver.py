"""Sends Slack-shaped, signed requests to the app's HTTP endpoint, as Slack would."""

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
        **kwargs: Any,
    ) -> httpx.Response:
        payload = {
            **self._envelope("block_actions", user_id),
            "container": {"type": "message", "channel_id": channel, "message_ts": ts},
            "channel": {"id": channel},
            "message": {"ts": ts, "type": "message"},
            "response_url": f"{self.response_url_base}actions/{user_id}",
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
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            action_id = element["action_id"]
            entered = values.get(action_id)
            item: dict[str, Any]
            if element["type"] == "static_select":
                chosen = (
                    entered
                    if entered is not None
                    else (element.get("initial_option") or {}).get("value")
                )
                item = {
                    "type": "static_select",
                    "selected_option": (
                        {"value": chosen, "text": {"type": "plain_text", "text": chosen}}
                        if chosen is not None
                        else None
                    ),
                }
            elif element["type"] == "users_select":
                item = {"type": "users_select", "selected_user": entered}
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
            "response_urls": [],
        }
        return self._form(payload, **kwargs)

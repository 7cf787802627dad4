"""A password reset as a person plays it, through the real app (the tests and the demo):
from a channel (``/reset jane@example.com``: a private message there, Send, the
outcome in its place) or from the modal (``/reset``: the form, Next, the member in
full with Send, then "Sending…" and the outcome in the modal).

Every step is a signed request Slack would send; what Slack shows is what the fake
Slack keeps (ephemeral messages through response_urls, modals through acknowledgements
and views.update). ``taps`` counts what the person did: a command sent, a button
tapped, a form submitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, ResetAction, ResetView
from bot.workflows.resets import FINISHED, ResetStatus
from storage.models import ResetRequest

CHANNEL = "C0FRONT"  # where the driver's commands are typed


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """What a person reads in blocks: sections, contexts, and buttons as [Label]."""
    parts: list[str] = []
    for block in blocks:
        text = (block.get("text") or {}).get("text")
        if text:
            parts.append(text)
        for element in block.get("elements") or []:
            if block.get("type") == "context":
                parts.append(str(element.get("text", "")))
            elif element.get("type") == "button":
                parts.append(f"[{element['text']['text']}]")
    return " ".join(parts)


def view_text(view: dict[str, Any]) -> str:
    """A modal as a person reads it: title, blocks, and its footer buttons."""
    parts = [f"«{view['title']['text']}»", blocks_text(view.get("blocks") or [])]
    for key in ("submit", "close"):
        if view.get(key):
            parts.append(f"[{view[key]['text']}]")
    return " ".join(p for p in parts if p)


def button(blocks: list[dict[str, Any]], action_id: str) -> str:
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no button {action_id}")


@dataclass
class Person:
    """One person at the counter, with the count of their taps."""

    stack: Stack
    user: str = "UFRONT"
    taps: int = 0
    #: Every conversation (channel id) or modal they had to act in.
    places: list[str] = field(default_factory=list)

    # -- from a channel ---------------------------------------------------------------
    def command(self, text: str) -> httpx.Response:
        self.taps += 1
        self.places.append(CHANNEL)
        return self.stack.driver.command(self.user, Command.RESET, text)

    def reset_in_channel(self, text: str) -> dict[str, Any]:
        """``/reset <text>`` in #front-desk: the private message Slack shows there."""
        response = self.command(text)
        assert response.status_code == 200, response.text
        answer = response.json() if response.text else {}
        return self.stack.slack.show_ephemeral(self.user, CHANNEL, answer)

    def tap_on_message(self, message: dict[str, Any], action_id: str) -> httpx.Response:
        """A button on the private message (a new response_url, as Slack hands out)."""
        self.taps += 1
        self.places.append(message["channel"])
        value = button(message["blocks"], action_id)
        url = self.stack.slack.response_url(self.user, message["channel"], message["ts"])
        return self.stack.driver.click(
            self.user,
            action_id,
            value,
            channel=message["channel"],
            ts=message["ts"],
            response_url=url,
            ephemeral=True,
        )

    def sees_message(self, message: dict[str, Any]) -> dict[str, Any]:
        return self.stack.slack.ephemeral(message["channel"], message["ts"])

    # -- from the modal -----------------------------------------------------------------
    def open_modal(self, text: str = "") -> dict[str, Any]:
        before = len(self.stack.slack.calls_to("views.open"))
        self.command(text)
        wait_for(lambda: len(self.stack.slack.calls_to("views.open")) > before)
        return self.stack.slack.last_view()

    def submit(self, view: dict[str, Any], values: dict[str, str]) -> httpx.Response:
        self.taps += 1
        self.places.append(f"modal:{view['id']}")
        return self.stack.driver.submit_view(self.user, view, values)

    def next_view(self, view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        """Submit the form: the view Slack shows next (pushed by the acknowledgement)."""
        response = self.submit(view, values)
        answer = response.json()
        assert answer.get("response_action") in ("push", "update"), answer
        return self.stack.slack.acknowledged_view(view, answer)

    def tap_in_modal(self, view: dict[str, Any], action_id: str) -> httpx.Response:
        self.taps += 1
        self.places.append(f"modal:{view['id']}")
        value = button(view["blocks"], action_id)
        return self.stack.driver.click_in_view(self.user, view, action_id, value)

    def sees_modal(self, view: dict[str, Any]) -> dict[str, Any]:
        return self.stack.slack.views[view["id"]]

    # -- waiting ------------------------------------------------------------------------
    def request(self, request_id: str) -> ResetRequest:
        request = self.stack.frontdesk.services.resets.get(request_id)
        assert request is not None
        return request

    def settled(self, request_id: str, timeout: float = 15.0) -> ResetRequest:
        return wait_for(
            lambda: (r := self.request(request_id)) and ResetStatus(r.status) in FINISHED and r,
            timeout,
        )


def request_id_of(blocks: list[dict[str, Any]]) -> str:
    return button(blocks, ResetAction.SEND)


def is_screen(view: dict[str, Any]) -> bool:
    return view.get("callback_id") == ResetView.SCREEN

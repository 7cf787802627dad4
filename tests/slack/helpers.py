from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, ResetAction
from bot.workflows.resets import ResetStatus
from vendors.sandbox import Fault


def last_message_to(stack: Stack, channel: str) -> dict[str, Any]:
    return wait_for(lambda: (stack.slack.messages_in(channel) or [None])[-1])


def button_value(message: dict[str, Any], action_id: str) -> str:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no button {action_id}")


def message_text(stack: Stack, channel: str, ts: str) -> str:
    message = stack.slack.message(channel, ts)
    return " ".join(block.get("text", {}).get("text", "") for block in message["blocks"]) or str(
        message["text"]
    )


def new_message(stack: Stack, channel: str, action: Callable[[], Any]) -> dict[str, Any]:
    return stack.new_message(channel, action)


def refused_reset(stack: Stack, text: str = "ghost@example.com sparkle", **kwargs: Any) -> str:
    """A reset the vendor refuses for a reason support must look at (not "no such
    member", which is the front desk's to fix): a failure in triage."""
    vendor = stack.frontdesk.services.locations[text.split()[-1]].vendor
    stack.sandbox.inject(Fault("success_false", vendor=vendor, message="Brand is suspended."))
    return reset(stack, text, **kwargs)


def reset(stack: Stack, text: str, user: str = "UFRONT") -> str:
    """/reset, Send, wait for the outcome; the request id."""
    dm = "D" + user[1:]
    confirmation = new_message(stack, dm, lambda: stack.driver.command(user, Command.RESET, text))
    request_id = button_value(confirmation, ResetAction.SEND)
    stack.driver.click(user, ResetAction.SEND, request_id, channel=dm, ts=confirmation["ts"])
    wait_for(
        lambda: (
            stack.frontdesk.services.resets.get(request_id).status
            not in (ResetStatus.DRAFT, ResetStatus.QUEUED, ResetStatus.SENDING)
        )
    )
    return request_id

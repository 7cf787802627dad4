"""What the guest page tests share: a code from a real /reset, the page's address, its text."""

from __future__ import annotations

from bot.devtools.guest import visible_text
from bot.devtools.stack import Stack
from tests.slack.helpers import reset

LOCATION = "partner-bistro"
MERCHANT = "Partner Bistro Rewards"
MEMBER = "7001"  # the sandbox's guest at merchant 5678


def issue_code(stack: Stack, member: str = MEMBER) -> tuple[str, str]:
    """Front desk resets the member through Slack (signed requests); the code is what the
    guest's email would carry (as Paytronix received it)."""
    request_id = reset(stack, f"{member} {LOCATION}")
    sent = stack.sandbox.received("paytronix", "sendGuestResetPasswordCode")[-1]
    return request_id, sent.json["resetCode"]


def page_url(stack: Stack, code: str) -> str:
    return f"{stack.http.url}/guest/reset?resetCode={code}"


def guest_password(stack: Stack, account_id: int = 7001) -> str:
    state = stack.sandbox.vendors["paytronix"].state
    return next(g.password for g in state.guests if g.account_id == account_id)


def password_calls(stack: Stack) -> int:
    return len(stack.sandbox.received("paytronix", "resetGuestPassword"))


__all__ = ["visible_text", "issue_code", "page_url", "guest_password", "password_calls"]

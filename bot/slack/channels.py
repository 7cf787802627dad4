"""Can the bot post in every configured channel? Asked of Slack when ``serve`` starts.

``conversations.info`` needs ``channels:read`` for a public channel and
``groups:read`` for a private one (it only sees private channels the bot is in):
read-only metadata, the least that answers the question. A channel the bot
cannot post in is reported at start, in the log and on admins' App Home, instead
of failing at the first triage or approval post.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Location

log = logging.getLogger("frontdesk.slack.channels")

_ERRORS = {
    "channel_not_found": "no such channel, or a private channel the bot is not in",
    "missing_scope": "the app lacks channels:read or groups:read to check it "
    "(reinstall it from manifest.yml)",
    "not_authed": "the bot token was refused",
    "invalid_auth": "the bot token was refused",
}


def unreachable(client: WebClient, locations: dict[str, Location]) -> list[str]:
    """One line per configured channel the bot cannot post in: the channel, what it is
    for, and why; logged as a warning each."""
    uses: dict[str, list[str]] = {}
    for location in locations.values():
        for purpose, channel in location.channels().items():
            uses.setdefault(channel, []).append(f"{purpose} of {location.id}")
    problems = []
    for channel, purposes in sorted(uses.items()):
        reason = _why_not(client, channel)
        if reason is None:
            continue
        line = f"{channel} ({', '.join(purposes)}): {reason}"
        log.warning(
            "the bot cannot post in a configured channel",
            extra={"channel": channel, "uses": ", ".join(purposes), "reason": reason},
        )
        problems.append(line)
    return problems


def _why_not(client: WebClient, channel: str) -> str | None:
    try:
        answer = client.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown error")
        return _ERRORS.get(error, f"Slack answered {error}")
    except Exception as exc:  # a network failure must not stop the app
        return f"could not ask Slack ({type(exc).__name__})"
    info = answer.get("channel") or {}
    if info.get("is_archived"):
        return "the channel is archived"
    if not info.get("is_member"):
        return "the bot is not a member: invite it with /invite @frontdesk"
    return None

"""How anyone who acted is named in what people read: the one home for it.

A Slack user (``U…``/``W…``) is mentioned, so Slack shows their name; frontdesk
itself (a guest page that finished a reset, the worker) and the command line are
named in words, never as a mention Slack cannot resolve.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SLACK_USER = re.compile(r"[UW][A-Z0-9]+")
#: Who acted, when no person did.
NAMES = {"frontdesk": "frontdesk", "cli": "an admin at the command line"}


def named(user: str | None) -> str:
    """A mention for a Slack user id (or an ``org:user`` key); words for anyone else."""
    who = (user or "frontdesk").rsplit(":", 1)[-1]
    if _SLACK_USER.fullmatch(who):
        return f"<@{who}>"
    text = NAMES.get(who, who)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def any_of(users: Sequence[str]) -> str:
    """``<@A>``, ``<@A> or <@B>``, ``<@A>, <@B> or <@C>``."""
    names = [named(user) for user in users]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

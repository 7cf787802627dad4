"""How frontdesk words things for people, in one place: names instead of ids, plain
words instead of status codes, Slack's own date formatting, sentences that end once.

Every builder in ``bot/slack`` (views, sale views, Homes, posts) words what it shows
through these helpers, so a status, a date or a place reads the same everywhere.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from bot.config import Location

VENDOR_NAMES = {"clubready": "ClubReady", "registrar": "Registrar", "paytronix": "Paytronix"}

#: A reset's or a sale's status as a person reads it (Home lists, counts, history).
STATUS_WORDS = {
    "sent": ":white_check_mark: sent",
    "sold": ":white_check_mark: sold",
    "refused": ":x: refused",
    "not_found": ":mag: no such member",
    "failed": ":warning: vendor unavailable",
    "unknown": ":grey_question: outcome unknown",
    "not_sold": ":heavy_minus_sign: not sold",
    "queued": ":hourglass_flowing_sand: queued",
    "sending": ":hourglass_flowing_sand: sending",
    "submitting": ":hourglass_flowing_sand: sending",
    "approved": ":hourglass_flowing_sand: approved",
    "pending_approval": ":hourglass: waiting for approval",
    "rejected": ":no_entry: rejected",
    "expired": ":alarm_clock: expired",
    "cancelled": "cancelled",
    "draft": "draft",
}

#: The same, without the emoji (counts, where the words sit in a row).
PLAIN_STATUS = {
    "sent": "sent",
    "sold": "sold",
    "refused": "refused",
    "not_found": "no such member",
    "failed": "vendor unavailable",
    "unknown": "outcome unknown",
    "not_sold": "not sold",
    "queued": "queued",
    "sending": "sending",
    "submitting": "sending",
    "approved": "approved",
    "pending_approval": "waiting for approval",
    "rejected": "rejected",
    "expired": "expired",
    "cancelled": "cancelled",
    "draft": "draft",
}

#: A Slack notice as an admin reads it (the notices frontdesk gave up delivering).
NOTICE_WORDS = {
    "reset.confirmation": "a reset's confirmation",
    "reset.triage": "a reset's triage post",
    "reset.retry_note": "a retry's note in triage",
    "sale.approval": "a sale's approval message",
    "sale.dm": "a sale's message to its requester",
    "sale.triage": "a sale's triage post",
    "sale.note": "a note on an approval message",
    "sale.tell": "a sale's outcome for its requester",
    "reply": "a private answer to a click",
    "home": "an App Home",
    "homes": "App Homes",
}

#: What each role may do, one line each (the roles modal, Home, help).
ROLE_LINES = {
    "front_desk": "resets members' passwords and asks for sales at its locations",
    "manager": "does what the front desk does, and approves, rejects and sells "
    "directly at its locations",
    "support": "resets passwords anywhere, works on failures (claim, retry, resolve, "
    "reconcile) and reads members' history; never sells",
    "admin": "grants and revokes roles",
}


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so user input cannot format or mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: mrkdwn has no escape for its formatting characters: what a person typed (a member's
#: name, a promo code) shows them as look-alikes, so it cannot bold, strike or quote.
_INERT = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})


def inert(text: str) -> str:
    """:func:`escape`, and mrkdwn's formatting characters (``*_~` ``) made harmless:
    for free text someone typed that others read (never for what is copied, an email)."""
    return escape(text).translate(_INERT)


def role_name(role: str) -> str:
    """A role as people say it: ``front_desk`` → ``front desk``."""
    return role.replace("_", " ")


def vendor_name(vendor: str) -> str:
    return VENDOR_NAMES.get(vendor, vendor)


def status_words(status: str, *, emoji: bool = True) -> str:
    words = STATUS_WORDS if emoji else PLAIN_STATUS
    return words.get(status, status.replace("_", " "))


def place(location: Location | None, location_id: str | None = None) -> str:
    """A location by its name (its id only when it is no longer configured), escaped."""
    if location is not None:
        return escape(location.name)
    return escape(location_id or "all locations")


def slack_date(moment: datetime) -> str:
    """A moment in each reader's own time zone and words (Slack date formatting), with
    a UTC fallback for clients that cannot format it."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


_END = re.compile(r"[\s.!?:;,]+$")


#: The most of a vendor's or a person's words placed in one block: Slack takes 3000
#: characters in a section, and the sentence around them needs room.
CLAUSE_LIMIT = 1000
_CUT_ENTITY = re.compile(r"&[a-z]*$")


def clause(text: str | None, limit: int = CLAUSE_LIMIT) -> str:
    """A vendor's or a person's words, to be placed inside a sentence: escaped, cut to
    ``limit`` characters (never inside an escape), with their own closing punctuation
    dropped (so the sentence ends once)."""
    words = escape(text or "").strip()
    if len(words) > limit:
        words = _CUT_ENTITY.sub("", words[: limit - 1]).rstrip() + "…"
    return _END.sub("", words)


def sentence(text: str) -> str:
    """``text`` ending with exactly one full stop (or its own ? or !)."""
    text = text.rstrip()
    if text.endswith(("?", "!", ".", "…")):
        return re.sub(r"\.{2,}$", ".", text)
    return f"{text}."


def day(value: date) -> str:
    """A calendar day as people write it: ``Tue, Dec 1, 2026``."""
    return f"{value:%a}, {value:%b} {value.day}, {value.year}"

"""Masked forms of member data for anything a channel can see."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

DOT = "•"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    if not domain:
        return mask_text(email)
    return f"{local[:1]}{DOT * 3}@{domain}"


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return f"{DOT * 3}{digits[-2:]}" if len(digits) >= 4 else DOT * 3


def mask_card(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return f"{DOT * 4} {digits[-4:]}" if len(digits) >= 8 else DOT * 4


def mask_text(value: str) -> str:
    return f"{value[:1]}{DOT * 3}" if value else ""


def mask_identifier(kind: str, value: str) -> str:
    if kind == "email":
        return mask_email(value)
    if kind == "card":
        return mask_card(value)
    if kind == "account_id":
        return f"{DOT * 3}{value[-3:]}" if len(value) > 3 else DOT * 3
    return mask_text(value)


def identifier_hash(kind: str, value: str) -> str:
    """A stable key for rate limits and history lookups that is not the value itself."""
    normalised = value.strip().lower() if kind in ("email", "username") else value.strip()
    return hashlib.sha256(f"{kind}:{normalised}".encode()).hexdigest()


#: Anything shaped like an email address in free text.
_EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_member_in(text: str, identity: Mapping[str, str | None]) -> str:
    """Free text someone else wrote (a vendor's message, which may echo what it was
    sent) with the member's identifiers in it masked, and anything email-like too."""
    for kind, value in sorted(identity.items(), key=lambda item: -len(item[1] or "")):
        if not value:
            continue
        masked = mask_identifier(kind, value)
        # As sent, and as a URL or a form carries it (a stored exchange's query string).
        for form in sorted({value, quote(value, safe=""), quote_plus(value)}, key=len)[::-1]:
            pattern = re.compile(rf"(?<!\w){re.escape(form)}(?!\w)", re.IGNORECASE)
            text = pattern.sub(lambda _: masked, text)  # noqa: B023 - used at once
    return _EMAIL_LIKE.sub(lambda match: mask_email(match.group(0)), text)

"""A member's identifier in a message someone shared: the first email, username or
card number in it, whichever comes first.

A username is only taken where the text says so (``username: jdoe``, ``login is
jdoe``, ``user: jdoe``): any other word could be anything. A card number is 12 to 25
digits, single spaces or dashes allowed between them (shorter runs are phone
numbers, amounts, times).
"""

from __future__ import annotations

import re

from bot.workflows.resets import ResetInput

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_USERNAME = re.compile(
    r"\b(?:(?:user\s?name|login)\s*(?:[:=]|\bis\b)?|user\s*[:=])"
    r"\s*([A-Za-z0-9][\w.-]{2,253}\w)(?![\w@])",
    re.IGNORECASE,
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){11,24}(?![\d-])")


def find_identifier(text: str) -> ResetInput | None:
    """The first identifier in ``text`` (plain text), or None."""
    found: list[tuple[int, ResetInput]] = []
    if match := _EMAIL.search(text):
        found.append((match.start(), ResetInput(email=match.group(0))))
    if match := _USERNAME.search(text):
        found.append((match.start(), ResetInput(username=match.group(1))))
    if match := _CARD.search(text):
        found.append((match.start(), ResetInput(card=re.sub(r"[ -]", "", match.group(0)))))
    if not found:
        return None
    return min(found, key=lambda pair: pair[0])[1]

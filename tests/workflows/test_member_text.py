"""The member a shared message names: the first email, username or card number."""

from __future__ import annotations

import pytest

from bot.workflows.member_text import find_identifier
from bot.workflows.resets import ResetInput


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("please reset jane@example.com, thanks", ResetInput(email="jane@example.com")),
        ("card 6000 1000 2000 3000 then bob@x.io", ResetInput(card="6000100020003000")),
        ("bob@x.io then card 6000-1000-2000-3000", ResetInput(email="bob@x.io")),
        ("Username: jdoe99 cannot log in", ResetInput(username="jdoe99")),
        ("her login is j.doe.", ResetInput(username="j.doe")),
        ("user name = maria_g. Email maria@ex.com", ResetInput(username="maria_g")),
        ("user@example.com wrote in", ResetInput(email="user@example.com")),
        ("user: ann.b asked", ResetInput(username="ann.b")),
    ],
)
def test_the_first_identifier_is_found(text: str, found: ResetInput) -> None:
    assert find_identifier(text) == found


@pytest.mark.parametrize(
    "text",
    [
        "call 555-123-4567 at 10:30 about $49.00",  # a phone, a time, an amount
        "user: abc",  # too short for a username
        "the user wants a refund",  # "user" followed by an ordinary word: no label
        "order 12345678901",  # 11 digits: no card
        "",
    ],
)
def test_nothing_is_guessed(text: str) -> None:
    assert find_identifier(text) is None

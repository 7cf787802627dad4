"""Hypothesis fuzzing of every modal input and slash command text: long strings,
control characters, Unicode, injection attempts. Nothing raises anything but the
typed refusal (with a message for the user); through the real app no request
meets an unexpected error and every log line stays one JSON object."""

from __future__ import annotations

import io
import json
import logging
import textwrap
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_locations
from bot.devtools import sale_steps
from bot.devtools.stack import LOCATIONS_YAML, Stack
from bot.observability import json_handler
from bot.slack.ids import SALE_FIELDS, Command
from bot.workflows.errors import InvalidInput
from bot.workflows.resets import (
    ResetInput,
    guess_identity,
    validate_input,
)
from bot.workflows.sales import (
    MEMBER_FIELDS,
    PaymentInput,
    SaleDetails,
    SaleStart,
    validate_details,
    validate_start,
)

NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\n\r\t",
        "<@U123> <!channel> *bold* `code`",
        "'; DROP TABLE sales; --",
        "{{7*7}} ${jndi:ldap://x}",
        "../../etc/passwd",
        "Ω≈ç√∫˜µ≤≥÷ 田中さん 👩‍👩‍👧‍👦 \u202e\u200b",
        "a" * 5000,
        "jane@example.com\njane2@example.com",
        "1e400",
        "-49.00",
        "NaN",
        "49.001",
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=300), st.none())
NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def locations(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("fuzz") / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    return load_locations(path)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    email=TEXT,
    username=TEXT,
    account=TEXT,
    card=TEXT,
    where=st.sampled_from(["downtown", "sparkle", "bistro", "partner-bistro"]),
)
def test_reset_inputs(locations: dict, email, username, account, card, where) -> None:
    raw = ResetInput(email=email, username=username, account_id=account, card=card)
    try:
        identity = validate_input(locations[where], raw)
    except InvalidInput as refused:
        assert refused.errors and all(message.strip() for message in refused.errors.values())
        return
    assert identity and all(isinstance(v, str) and v for v in identity.values())
    assert all(ord(ch) >= 32 for value in identity.values() for ch in value)


@settings(max_examples=300)
@given(text=st.one_of(NASTY, st.text(max_size=300)))
def test_reset_command_text(text: str) -> None:
    guessed = guess_identity(text)
    assert isinstance(guessed, ResetInput)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    member=st.fixed_dictionaries({name: TEXT for name in MEMBER_FIELDS}),
    amount=TEXT,
    profile=TEXT,
    acct=TEXT,
    package=st.one_of(NASTY, st.sampled_from(["2001:3001", "2003:3003", "9:9"]), st.none()),
    promo=TEXT,
)
def test_sale_inputs(locations: dict, member, amount, profile, acct, package, promo) -> None:
    downtown = locations["downtown"]
    try:
        validate_start(downtown, SaleStart("downtown", package, date(2026, 11, 23), promo), NOW)
    except InvalidInput as refused:
        assert all(message.strip() for message in refused.errors.values())
    try:
        details = SaleDetails(member=member, payments=(PaymentInput(amount, profile, acct),))
        clean, methods = validate_details(downtown, downtown.catalog[0].amount, details, NOW)
    except InvalidInput as refused:
        assert refused.errors and all(message.strip() for message in refused.errors.values())
        # A refusal never echoes a token back.
        for token in (profile, acct):
            if token and len(token) > 8:
                assert all(token not in message for message in refused.errors.values())
        return
    assert clean["email"] and methods


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_through_the_app(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """Slash commands and view submissions with hostile text, over signed HTTP."""
    caplog.set_level(logging.INFO)
    lines = io.StringIO()
    handler = json_handler(lines)
    logging.getLogger().addHandler(handler)
    details_view = sale_steps.acknowledged(
        stack, start := sale_steps.open_sell(stack), sale_steps.submit_start(stack, start)
    )
    try:

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(text=st.one_of(NASTY, st.text(min_size=1, max_size=200)))
        def commands(text: str) -> None:
            for command in (Command.RESET, Command.SELL, Command.FRONTDESK):
                assert stack.driver.command("UFRONT", command, text).status_code == 200
            response = sale_steps.submit_details(
                stack,
                details_view,
                member={name: text for name in ("first_name", "last_name", "email", "phone")},
                payments=[{"amount": text, "token": text}],
            )
            assert response.status_code == 200
            answer = response.json() if response.text else {}
            if answer.get("response_action") == "errors":
                assert all(isinstance(m, str) and m for m in answer["errors"].values())
                assert set(answer["errors"]) <= {block for block, _ in SALE_FIELDS.values()}

        commands()
    finally:
        logging.getLogger().removeHandler(handler)
    boom = [c for c in stack.slack.calls if "Something went wrong" in c.raw]
    assert boom == [], boom[0].raw if boom else ""
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert records, "the requests were logged"
    assert not [r for r in records if r.get("level") in ("error", "critical")]


def test_log_lines_survive_hostile_text() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("frontdesk.fuzz")
    handler = json_handler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("refused %s", "line one\nline two\x00\u2028", extra={"input": "a\nb"})
    finally:
        logger.removeHandler(handler)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"].startswith("refused line one\nline two") and record["input"] == "a\nb"

"""Plant secrets and member data, run the flows, scan logs, rows and Slack payloads."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from bot.devtools.stack import BOT_TOKEN, DEMO_SECRETS, SIGNING_SECRET, Stack
from bot.slack.ids import Command, ResetAction
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Role
from tests.slack.helpers import button_value, new_message, wait_for
from vendors.sandbox import Fault

API_KEY = "PLANTED-clubready-key-93ad1"
PX_SECRET = "PLANTED-px-secret-55e0"
B2B_PASS = "PLANTED-b2b-pass-1c7f"
MEMBER_EMAIL = "jane@example.com"


def test_no_secret_or_member_data_leaks(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = {
        **DEMO_SECRETS,
        "FRONTDESK_DEMO_CLUBREADY_KEY": API_KEY,
        "FRONTDESK_DEMO_PX_CLIENT_SECRET": PX_SECRET,
        "FRONTDESK_DEMO_PX_B2B_PASS": B2B_PASS,
    }
    stack = Stack(workdir=tmp_path, database_url=database_url, secrets=secrets, read_timeout=0.5)
    planted = [
        API_KEY,
        PX_SECRET,
        B2B_PASS,
        base64.b64encode(f"sandbox-client:{PX_SECRET}".encode()).decode(),
        SIGNING_SECRET,
        BOT_TOKEN,
    ]
    try:
        state = stack.sandbox.vendors
        state["clubready"].state.api_keys[API_KEY] = 1
        state["paytronix"].state.clients["sandbox-client"] = PX_SECRET
        state["paytronix"].state.partners["sandbox-partner"] = B2B_PASS
        stack.grant("UFRONT", Role.FRONT_DESK)
        stack.sandbox.inject(Fault("read_timeout", vendor="clubready", seconds=2))
        stack.sandbox.inject(Fault("drop_after", vendor="paytronix"))
        for text in (
            f"{MEMBER_EMAIL} downtown",
            f"{MEMBER_EMAIL} downtown",
            f"{MEMBER_EMAIL} sparkle",
            f"{MEMBER_EMAIL} bistro",
            "7001 partner-bistro",
            "ghost@example.com sparkle",
        ):
            confirmation = new_message(
                stack, "DFRONT", lambda t=text: stack.driver.command("UFRONT", Command.RESET, t)
            )
            request_id = button_value(confirmation, ResetAction.SEND)
            stack.driver.click(
                "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts=confirmation["ts"]
            )
            wait_for(
                lambda r=request_id: (
                    stack.frontdesk.services.resets.get(r).status
                    not in (ResetStatus.DRAFT, ResetStatus.QUEUED, ResetStatus.SENDING)
                )
            )
        statuses = {stack.frontdesk.services.resets.get(r).status for r in [request_id]}
        assert statuses
        # Every table, every row, as text.
        rows: list[str] = []
        metadata = MetaData()
        metadata.reflect(stack.frontdesk.db.engine)
        with stack.frontdesk.db.engine.connect() as connection:
            for table in metadata.sorted_tables:
                rows.extend(str(tuple(row)) for row in connection.execute(select(table)))
        stored = "\n".join(rows)
        assert "[REDACTED]" in stored  # the redacted exchanges are there...
        slack_bodies = [call.raw for call in stack.slack.calls]
        channel_posts = [
            str(message)
            for message in stack.slack.messages.values()
            if message["channel"].startswith("C")
        ]
        assert channel_posts, "the failures should have reached triage"
    finally:
        stack.stop()
    for text in (stored, caplog.text, *slack_bodies):
        for secret in planted:
            assert secret not in text, f"planted secret {secret[:14]}… leaked"
    for text in slack_bodies:
        assert MEMBER_EMAIL not in text and "ghost@example.com" not in text
    assert any("j•••@example.com" in post for post in channel_posts)

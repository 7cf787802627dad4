"""Faults around the app: Slack rate limits, PostgreSQL restarting mid-burst."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.devtools.postgres import PostgresServer
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, ResetAction
from bot.workflows.resets import FINISHED
from bot.workflows.roles import Role
from storage.models import ResetRequest
from tests.slack.helpers import button_value


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_slack_429_is_waited_out_as_retry_after_says(stack: Stack) -> None:
    stack.slack.rate_limit("chat.postMessage", times=2, retry_after=1)
    started = time.monotonic()
    assert stack.driver.command("UFRONT", Command.RESET, "jane@example.com").status_code == 200
    confirmation = wait_for(lambda: stack.slack.messages_in("DFRONT"), 15)
    posted_at = time.monotonic()
    limited = [when for method, when in stack.slack.rate_limited if method == "chat.postMessage"]
    assert len(limited) == 2
    # Two 429s answered with Retry-After: 1, then the post: at least 2 s of waiting.
    assert posted_at - started >= 2.0
    assert len(confirmation) == 1  # waited and sent once, not twice
    assert len(stack.slack.calls_to("chat.postMessage")) == 1


@pytest.mark.postgres
def test_postgres_restarted_during_a_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    if os.environ.get("FRONTDESK_REQUIRE_POSTGRES") is None:
        try:
            server = PostgresServer()
        except Exception as exc:
            pytest.skip(f"PostgreSQL server binaries are not available: {exc}")
    else:
        server = PostgresServer()
    url = server.create_database("burst")
    stack = Stack(workdir=tmp_path, database_url=url)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK)
        acknowledged: list[int] = []

        def burst(first: int) -> None:
            for n in range(first, first + 10):
                response = stack.driver.command(
                    "UFRONT", Command.RESET, f"member{n}@example.com downtown"
                )
                acknowledged.append(response.status_code)
                time.sleep(0.05)

        senders = [threading.Thread(target=burst, args=(n * 10,)) for n in range(3)]
        for sender in senders:
            sender.start()
        time.sleep(0.3)
        server.restart()  # every open connection is cut mid-burst
        for sender in senders:
            sender.join()
        # Answered at once: 200, or 503 while the database could not record the request
        # as seen (so it could not be told from a replay): nothing was done for those.
        assert len(acknowledged) == 30 and set(acknowledged) <= {200, 503}
        # Slack retries a request that failed; whatever was not recorded is asked again.
        recorded = _identities(stack)
        for n in range(30):
            email = f"member{n}@example.com"
            if email not in recorded:
                stack.driver.command("UFRONT", Command.RESET, f"{email} downtown")
        wait_for(lambda: len(stack.slack.messages_in("DFRONT")) >= 30, 30)
        confirmations = _settled_messages(stack, "DFRONT")
        for message in confirmations:
            request_id = button_value(message, ResetAction.SEND)
            for _ in range(2):  # a double click across the restart's aftermath
                stack.driver.click(
                    "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts=message["ts"]
                )

        def settled() -> bool:
            # Every request someone clicked Send on is finished (an unclicked
            # confirmation stays a draft: nothing was asked of the vendor).
            with stack.frontdesk.db.session() as session:
                rows = session.scalars(select(ResetRequest)).all()
            return all(r.status in FINISHED or r.status == "draft" for r in rows)

        wait_for(settled, 30)
        time.sleep(1)
        with stack.frontdesk.db.session() as session:
            rows = session.scalars(select(ResetRequest)).all()
        emails = Counter((r.identity or {}).get("email") for r in rows)
        calls = Counter(
            r.json["Email"] for r in stack.sandbox.received("clubready", "password_reset")
        )
        # No request lost: every member's reset was recorded and reached the vendor...
        assert {f"member{n}@example.com" for n in range(30)} <= set(calls)
        # ...and none doubled: one vendor call per recorded request that was sent.
        sent = Counter((r.identity or {}).get("email") for r in rows if r.status != "draft")
        for email, count in calls.items():
            assert count <= sent[email], email
        assert sum(calls.values()) == sum(1 for r in rows if r.status in FINISHED)
        assert all(r.status in FINISHED for r in rows if r.status != "draft")
        assert set(emails) >= {f"member{n}@example.com" for n in range(30)}
    finally:
        stack.stop()
        server.stop()


def _settled_messages(stack: Stack, channel: str) -> list[dict]:
    """The channel's messages once no new one has arrived for a second."""
    seen = -1
    while True:
        messages = stack.slack.messages_in(channel)
        if len(messages) == seen:
            return messages
        seen = len(messages)
        time.sleep(1.0)


def _identities(stack: Stack) -> set[str]:
    for _ in range(50):
        try:
            with stack.frontdesk.db.session() as session:
                return {
                    (r.identity or {}).get("email", "")
                    for r in session.scalars(select(ResetRequest))
                }
        except Exception:
            time.sleep(0.2)  # the server is still coming back
    raise AssertionError("PostgreSQL did not come back")

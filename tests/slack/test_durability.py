"""Work after the acknowledgement survives restarts; acknowledgements never wait for vendors."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from bot.devtools.fake_slack import FakeSlack
from bot.devtools.stack import Stack
from bot.slack.ids import Command, ResetAction
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Role
from storage.models import ResetRequest
from tests.slack.helpers import button_value, last_message_to, message_text, wait_for
from vendors.sandbox import Fault

DM = "DFRONT"


def make_stack(database_url: str, tmp_path: Path, **kwargs: object) -> Stack:
    stack = Stack(workdir=tmp_path, database_url=database_url, **kwargs)  # type: ignore[arg-type]
    stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
    return stack


def test_restart_between_ack_and_vendor_call(database_url: str, tmp_path: Path) -> None:
    slack = FakeSlack().start()  # the workspace outlives the process
    first = make_stack(database_url, tmp_path, start_worker=False, shared_slack=slack)
    try:
        first.driver.command("UFRONT", Command.RESET, "jane@example.com")
        confirmation = last_message_to(first, DM)
        request_id = button_value(confirmation, ResetAction.SEND)
        first.driver.click(
            "UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"]
        )
        wait_for(
            lambda: first.frontdesk.services.resets.get(request_id).status == ResetStatus.QUEUED
        )
    finally:
        first.stop()  # the process "dies": acknowledged, queued, not sent (Slack lives on)
    assert first.sandbox.received() == []

    second = Stack(workdir=tmp_path, database_url=database_url, shared_slack=first.slack)
    try:
        wait_for(
            lambda: second.frontdesk.services.resets.get(request_id).status == ResetStatus.SENT
        )
        assert len(second.sandbox.received("clubready")) == 1
        # The confirmation the user saw is updated by the new process.
        wait_for(lambda: "Reset sent" in message_text(second, DM, confirmation["ts"]))
    finally:
        second.stop()
        slack.stop()


def test_abandoned_mid_call_becomes_unknown_never_resent(database_url: str, tmp_path: Path) -> None:
    stack = make_stack(database_url, tmp_path, start_worker=False)
    try:
        stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
        confirmation = last_message_to(stack, DM)
        request_id = button_value(confirmation, ResetAction.SEND)
        stack.driver.click(
            "UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"]
        )
        resets = stack.frontdesk.services.resets
        wait_for(lambda: resets.get(request_id).status == ResetStatus.QUEUED)
        # A worker claims it and dies before recording the outcome.
        assert resets.claim_next("dead-worker") == [request_id]
        with stack.frontdesk.db.session() as session:
            row = session.get(ResetRequest, request_id)
            row.lease_until = row.lease_until - timedelta(hours=1)
        stack.frontdesk.worker.recover()
        assert resets.get(request_id).status == ResetStatus.UNKNOWN
        assert stack.frontdesk.worker.run_once() == 0
        assert stack.sandbox.received() == []
        triage = last_message_to(stack, "C0TRIAGE")
        assert "outcome unknown" in triage["text"]
    finally:
        stack.stop()


def test_acknowledgements_never_wait_for_the_vendor(database_url: str, tmp_path: Path) -> None:
    stack = make_stack(database_url, tmp_path, read_timeout=10.0)
    try:
        stack.sandbox.inject(Fault("latency", vendor="clubready", seconds=5, times=-1))
        started = time.monotonic()
        response = stack.driver.command("UFRONT", Command.RESET, "")
        command_seconds = time.monotonic() - started
        assert response.status_code == 200
        view = wait_for(lambda: stack.slack.calls_to("views.open") and stack.slack.last_view())
        started = time.monotonic()
        response = stack.driver.submit_view("UFRONT", view, {ResetAction.EMAIL: "jane@example.com"})
        submit_seconds = time.monotonic() - started
        assert response.status_code == 200
        confirmation = last_message_to(stack, DM)
        request_id = button_value(confirmation, ResetAction.SEND)
        started = time.monotonic()
        response = stack.driver.click(
            "UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"]
        )
        send_seconds = time.monotonic() - started
        assert response.status_code == 200
        assert max(command_seconds, submit_seconds, send_seconds) < 1.0, (
            command_seconds,
            submit_seconds,
            send_seconds,
        )
        # ...while the vendor is still working on it.
        wait_for(
            lambda: (
                stack.frontdesk.services.resets.get(request_id).status
                in (ResetStatus.QUEUED, ResetStatus.SENDING)
            )
        )
        wait_for(
            lambda: stack.frontdesk.services.resets.get(request_id).status == ResetStatus.SENT, 15
        )
    finally:
        stack.stop()

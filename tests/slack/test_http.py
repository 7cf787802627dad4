"""The HTTP endpoint besides Slack's: health, metrics, request ids in the logs."""

from __future__ import annotations

import io
import json
import logging
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from bot.devtools import sale_steps
from bot.devtools.stack import Stack, wait_for
from bot.observability import json_handler
from bot.slack.ids import Command, ResetAction
from bot.workflows.resets import ResetStatus
from tests.slack.helpers import button_value, new_message


def test_healthz_reports_the_database(stack: Stack) -> None:
    answer = httpx.get(f"{stack.http.url}/healthz")
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    real = stack.frontdesk.db.engine
    stack.frontdesk.db.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        down = httpx.get(f"{stack.http.url}/healthz")
    finally:
        stack.frontdesk.db.engine = real
    assert (down.status_code, down.json()) == (503, {"ok": False, "error": "database"})
    assert httpx.get(f"{stack.http.url}/nope").status_code == 404


def test_metrics_over_http(stack: Stack) -> None:
    confirmation = new_message(
        stack, "DFRONT", lambda: stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    )
    request_id = button_value(confirmation, ResetAction.SEND)
    stack.driver.click(
        "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts=confirmation["ts"]
    )
    wait_for(lambda: stack.frontdesk.services.resets.get(request_id).status == ResetStatus.SENT)
    sale_steps.request_approval(stack)
    assert httpx.get(f"{stack.http.url}/metrics").status_code == 404  # not on Slack's listener
    answer = httpx.get(f"{stack.metrics.url}/metrics")
    assert answer.status_code == 200
    samples = {
        (family.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    counts = {
        dict(labels)["kind"]: value
        for (name, labels), value in samples.items()
        if name == "frontdesk_ack_seconds" and dict(labels).get("le") is None and value
    }
    assert {"command", "block_actions", "view_submission"} <= set(counts)
    outcome = (
        "frontdesk_vendor_outcomes",
        (("operation", "password_reset"), ("outcome", "succeeded"), ("vendor", "clubready")),
    )
    assert samples[outcome] == 1.0
    pending = ("frontdesk_queue_depth", (("queue", "sales"), ("state", "pending_approval")))
    assert samples[pending] == 1.0
    assert samples[("frontdesk_queue_depth", (("queue", "resets"), ("state", "queued")))] == 0.0


def test_an_unexpected_error_gives_a_reference_that_finds_the_log_lines(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lines = io.StringIO()
    handler = json_handler(lines)
    logging.getLogger().addHandler(handler)

    def broken(actor: object) -> list:
        raise RuntimeError("the database melted\nwith a second line")

    monkeypatch.setattr(stack.frontdesk.services.resets, "where_to_reset", broken)
    try:
        stack.driver.command("UFRONT", Command.RESET, "")
        told = wait_for(lambda: stack.slack.calls_to("commands/UFRONT"))[0]
    finally:
        logging.getLogger().removeHandler(handler)
    reference = re.search(r"reference: `(\w+)`", told.args["text"]).group(1)
    assert "melted" not in told.args["text"]
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    mine = [r for r in records if r.get("request_id") == reference]
    assert any("melted" in r.get("exception", "") for r in mine)
    assert any(r["event"] == "slack request answered" for r in mine)

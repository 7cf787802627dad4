"""Issue 12 through the real app: one retry per failure, late answers kept beside the
outcome, errors that never close a modal silently, and Enterprise Grid persons."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.devtools.sale_steps import (
    acknowledged,
    open_review,
    open_sell,
    request_approval,
    sale,
    submit_details,
    submit_start,
)
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, HomeAction, ResetAction, SaleAction, TriageAction
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Actor, Role
from bot.workflows.sales import SaleStatus
from storage.models import AuditEvent, ResetRequest, RoleGrant, SaleApproval
from tests.slack.helpers import button_value, new_message, reset
from vendors.sandbox import Fault

TRIAGE = "C0TRIAGE"


def _failed_reset(stack: Stack) -> tuple[str, dict[str, Any]]:
    """A reset ClubReady refused, and its triage post."""
    stack.sandbox.inject(Fault("success_false", vendor="clubready", operation="password_reset"))
    post = new_message(stack, TRIAGE, lambda: reset(stack, "jane@example.com downtown"))
    request_id = button_value(post, TriageAction.RETRY)
    assert stack.frontdesk.services.resets.get(request_id).status == ResetStatus.REFUSED
    return request_id, post


def _retries_of(stack: Stack, request_id: str) -> list[ResetRequest]:
    with stack.frontdesk.db.session() as session:
        return list(
            session.scalars(select(ResetRequest).where(ResetRequest.retry_of == request_id))
        )


def test_retry_sends_one_new_request_whatever_the_clicks(stack: Stack) -> None:
    """Defect 1: two people click Retry, one click is redelivered three times, and the
    App Home menu is used too, all at once: one new request, one more call to ClubReady;
    every later click is told who retried it and when."""
    request_id, post = _failed_reset(stack)
    calls_before = len(stack.sandbox.received("clubready", "password_reset"))

    def click(job: tuple[str, int | None]) -> int:
        user, retry_num = job
        return stack.driver.click(
            user, TriageAction.RETRY, request_id, channel=TRIAGE, ts=post["ts"], retry_num=retry_num
        ).status_code

    def from_home() -> int:
        return stack.driver.select_in_view(
            "USUPPORT2",
            {"id": "VHOME", "type": "home", "blocks": []},
            "b",
            HomeAction.FAILURE_MENU,
            f"retry:reset:{request_id}",
        ).status_code

    jobs = [("USUPPORT", None), ("USUPPORT2", None), *[("USUPPORT", n) for n in (1, 2, 3)]]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(click, jobs)) + [pool.submit(from_home).result()]
    assert set(statuses) == {200}
    retries = wait_for(lambda: _retries_of(stack, request_id))
    time.sleep(1.0)  # anything doubled would be queued by now
    assert len(_retries_of(stack, request_id)) == 1
    wait_for(
        lambda: (
            stack.frontdesk.services.resets.get(retries[0].id).status
            not in (ResetStatus.QUEUED, ResetStatus.SENDING)
        )
    )
    assert len(stack.sandbox.received("clubready", "password_reset")) == calls_before + 1
    original = stack.frontdesk.services.resets.get(request_id)
    assert original.retried_by in ("USUPPORT", "USUPPORT2") and original.retry_id == retries[0].id
    told = [c.args.get("text", "") for c in stack.slack.calls if c.method.startswith("actions/")]
    assert sum("Retrying as a new request" in t for t in told) <= 1
    assert sum(f"<@{original.retried_by}> already retried this one" in t for t in told) >= 4
    # The triage post now says who retried it, and offers no Retry any more.
    wait_for(lambda: "Retried by" in json.dumps(stack.slack.message(TRIAGE, post["ts"])))
    updated = stack.slack.message(TRIAGE, post["ts"])
    actions = [e.get("action_id") for b in updated["blocks"] for e in b.get("elements", [])]
    assert TriageAction.RETRY not in actions


def test_a_late_vendor_answer_is_kept_beside_the_settled_reset(
    database_url: str, tmp_path: Path
) -> None:
    """Defect 2: the lease ran out while ClubReady was still answering; recovery settled
    the reset unknown and posted it to triage. The answer that comes afterwards is
    recorded and shown on that same post; the reset is not "sent" and no second post
    is made."""
    clock = ManualClock(datetime.now(UTC))
    stack = Stack(workdir=tmp_path, database_url=database_url, clock=clock, read_timeout=10)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
        stack.sandbox.inject(
            Fault("latency", vendor="clubready", operation="password_reset", seconds=2.5)
        )
        confirmation = new_message(
            stack,
            "DFRONT",
            lambda: stack.driver.command("UFRONT", Command.RESET, "jane@example.com"),
        )
        request_id = button_value(confirmation, ResetAction.SEND)
        stack.driver.click(
            "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts=confirmation["ts"]
        )
        resets = stack.frontdesk.services.resets
        # ClubReady has the request (claimed, and called: not merely claimed, which a
        # recovery would rightly stop before the call).
        wait_for(lambda: stack.sandbox.received("clubready", "password_reset"))
        assert resets.get(request_id).status == ResetStatus.SENDING
        clock.advance(seconds=stack.settings.worker_lease_seconds + 1)
        post = new_message(stack, TRIAGE, stack.frontdesk.worker.recover)
        assert resets.get(request_id).status == ResetStatus.UNKNOWN
        late = wait_for(lambda: (row := resets.get(request_id)).late_at and row, 15)
        assert late.status == ResetStatus.UNKNOWN and late.late_outcome_kind == "succeeded"
        wait_for(
            lambda: (
                "after frontdesk had given up"
                in json.dumps(stack.slack.message(TRIAGE, post["ts"]))
            )
        )
        assert len(stack.slack.messages_in(TRIAGE)) == 1
        with stack.frontdesk.db.session() as session:
            actions = list(
                session.scalars(
                    select(AuditEvent.action).where(AuditEvent.subject_id == request_id)
                )
            )
        assert "reset.sent" not in actions
        assert actions.count("reset.abandoned") == 1 and actions.count("reset.late_answer") == 1
    finally:
        stack.stop()
    assert stack.slack.invalid == []


def test_no_retry_after_the_vendor_said_late_that_it_sent_the_reset(
    database_url: str, tmp_path: Path
) -> None:
    """Review of issue 16 (finding 1): once a late answer says the reset was sent, Retry
    is offered nowhere (the post, support's Home) and a stale or redelivered Retry is
    refused, telling the clicker why: a second email never goes to the member."""
    from tests.slack.test_counter_posts import open_home

    clock = ManualClock(datetime.now(UTC))
    stack = Stack(workdir=tmp_path, database_url=database_url, clock=clock, read_timeout=10)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
        stack.grant("USUPPORT", Role.SUPPORT)
        stack.sandbox.inject(
            Fault("latency", vendor="clubready", operation="password_reset", seconds=2.5)
        )
        confirmation = new_message(
            stack,
            "DFRONT",
            lambda: stack.driver.command("UFRONT", Command.RESET, "jane@example.com"),
        )
        request_id = button_value(confirmation, ResetAction.SEND)
        stack.driver.click(
            "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts=confirmation["ts"]
        )
        resets = stack.frontdesk.services.resets
        wait_for(lambda: stack.sandbox.received("clubready", "password_reset"))
        clock.advance(seconds=stack.settings.worker_lease_seconds + 1)
        post = new_message(stack, TRIAGE, stack.frontdesk.worker.recover)
        wait_for(lambda: resets.get(request_id).late_outcome_kind == "succeeded", 15)
        updated = wait_for(
            lambda: (
                "after frontdesk had given up"
                in json.dumps(m := stack.slack.message(TRIAGE, post["ts"]))
                and m
            )
        )
        actions = [e.get("action_id") for b in updated["blocks"] for e in b.get("elements", [])]
        assert TriageAction.RETRY not in actions and TriageAction.RESOLVE in actions
        home = json.dumps(open_home(stack, "USUPPORT")["blocks"])
        assert f"resolve:reset:{request_id}" in home and f"retry:reset:{request_id}" not in home
        sent_before = len(stack.sandbox.received("clubready", "password_reset"))

        # The Retry of a client still showing the first post (or a redelivery).
        stack.driver.click(
            "USUPPORT", TriageAction.RETRY, request_id, channel=TRIAGE, ts=post["ts"]
        )
        told = wait_for(lambda: stack.slack.calls_to("actions/USUPPORT"))
        assert "it did send this reset: nothing was sent again" in told[-1].args["text"]
        assert resets.get(request_id).retry_id is None
        time.sleep(0.5)  # a wrongly queued retry would have reached ClubReady by now
        assert len(stack.sandbox.received("clubready", "password_reset")) == sent_before
    finally:
        stack.stop()
    assert stack.slack.invalid == []


def test_an_unexpected_error_never_closes_a_modal_silently(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 6: a bug while a modal is submitted keeps the modal open with a short
    reference on it (what was typed stays); a bug behind an App Home button opens a
    notice with the reference. Support finds the reference in the logs."""
    services = stack.frontdesk.services

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    start = open_sell(stack, "UFRONT")
    view = acknowledged(stack, start, submit_start(stack, start, "UFRONT"))
    monkeypatch.setattr(services.sales, "add_details_for_review", boom)
    with caplog.at_level(logging.ERROR, logger="frontdesk.slack"):
        answer = submit_details(stack, view, "UFRONT").json()
    assert answer["response_action"] == "errors"
    [shown] = answer["errors"].values()
    assert "Give support this reference" in shown
    reference = shown.split("`")[1]
    assert any(getattr(r, "reference", None) == reference for r in caplog.records)

    # The /reset modal too.
    monkeypatch.setattr(services.resets, "prepare", boom)
    opened_before = len(stack.slack.calls_to("views.open"))
    stack.driver.command("UFRONT", Command.RESET, "")
    reset_view = wait_for(lambda: stack.slack.calls_to("views.open")[opened_before:])[0].args[
        "view"
    ]
    reset_view = {**reset_view, "id": "VRESET"}
    answer = stack.driver.submit_view(
        "UFRONT", reset_view, {"reset_email_input": "jane@example.com"}
    ).json()
    assert answer["response_action"] == "errors"
    assert "reference" in json.dumps(answer["errors"])

    # A button on App Home: a notice modal with the reference.
    monkeypatch.setattr(services.sales, "open_review", boom)
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click_in_view(
        "UMANAGER", {"id": "VHOME", "type": "home", "blocks": []}, HomeAction.REVIEW, "sale-1"
    )
    opened = wait_for(lambda: stack.slack.calls_to("views.open")[before:])
    assert "Give support this reference" in json.dumps(opened[0].args["view"])


def test_one_person_across_workspaces_of_an_enterprise(stack: Stack) -> None:
    """Defect 7: on Enterprise Grid a user id is organisation-wide. A requester acting
    from another workspace cannot approve their own sale, and a manager whose grants
    were made under two workspaces is one approval, not two."""
    roles = stack.frontdesk.services.resets.roles
    with stack.frontdesk.db.session() as session:
        for team in ("T1", "T2"):
            for user, role in (("UGRIDFRONT", Role.MANAGER), ("UBOSS", Role.MANAGER)):
                roles.grant(
                    session,
                    by="setup",
                    target=Actor(team_id=team, user_id=user, enterprise_id="E1"),
                    role=role,
                    location_id="downtown",
                )
    with stack.frontdesk.db.session() as session:
        grants = session.scalar(
            select(func.count()).select_from(RoleGrant).where(RoleGrant.org_id == "E1")
        )
    home = stack.driver
    stack.driver = home.in_workspace("T1", "E1")
    annual = [{"amount": "599.00", "token": "tok_profile_grid_0001"}]
    sale_id = request_approval(stack, "UGRIDFRONT", package="2003:3003", payments=annual)
    assert sale(stack, sale_id).required_approvals == 2
    # The requester, from the other workspace: their own sale.
    stack.driver = home.in_workspace("T2", "E1")
    message_calls = len(stack.slack.calls_to("views.open"))
    record = sale(stack, sale_id)
    stack.driver.click(
        "UGRIDFRONT",
        SaleAction.REVIEW,
        sale_id,
        channel=record.approval_channel_id,
        ts=record.approval_ts,
    )
    told = wait_for(lambda: stack.slack.calls_to("actions/UGRIDFRONT"))
    assert "another manager has to approve it" in told[-1].args["text"]
    assert len(stack.slack.calls_to("views.open")) == message_calls
    # UBOSS approves from T1, then again from T2: one approval.
    stack.driver = home.in_workspace("T1", "E1")
    view = open_review(stack, "UBOSS", sale_id)
    assert stack.driver.submit_view("UBOSS", view, {}).status_code == 200
    stack.driver = home.in_workspace("T2", "E1")
    stack.driver.submit_view("UBOSS", view, {})
    time.sleep(0.5)
    with stack.frontdesk.db.session() as session:
        approvers = list(
            session.scalars(select(SaleApproval.approver).where(SaleApproval.sale_id == sale_id))
        )
    assert approvers == ["E1:UBOSS"]
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    assert stack.sandbox.received("clubready", "contract_sale") == []
    stack.driver = home
    # Grants made under two workspaces of one enterprise are one grant each.
    assert grants == 2


def test_only_those_who_may_resolve_open_the_resolve_modal(stack: Stack) -> None:
    """Review finding: anyone in the triage channel could open Resolve."""
    request_id, post = _failed_reset(stack)
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        "UFRONT", TriageAction.RESOLVE, f"reset:{request_id}", channel=TRIAGE, ts=post["ts"]
    )
    told = wait_for(lambda: stack.slack.calls_to("actions/UFRONT"))
    assert "You can't work on support's failures" in told[-1].args["text"]
    assert len(stack.slack.calls_to("views.open")) == opened

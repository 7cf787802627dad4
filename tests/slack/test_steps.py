"""Workflow Builder steps end to end: Slack's ``function_executed`` events, signed, into
the real app; the step's end checked where Slack keeps it (the fake Slack validates
the outputs against the manifest, as Slack does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select

from bot.devtools import sale_steps
from bot.devtools.stack import BOT_TOKEN, Stack
from bot.slack.ids import Command, ResetAction, SaleAction, Step
from bot.slack.steps import StepCompleter
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Actor, Role
from bot.workflows.sales import SaleStatus
from bot.workflows.steps import StepEnd, StepService
from storage.models import AuditEvent, ResetRequest, Sale, StepRun
from tests.slack.helpers import button_value, new_message, reset, wait_for
from vendors.sandbox import Fault


def ended(stack: Stack, execution_id: str, timeout: float = 15.0):  # noqa: ANN201
    wait_for(lambda: stack.slack.execution(execution_id).state != "running", timeout)
    return stack.slack.execution(execution_id)


def completions(stack: Stack, execution_id: str) -> list:  # noqa: ANN201
    return [
        call
        for method in ("functions.completeSuccess", "functions.completeError")
        for call in stack.slack.calls_to(method)
        if call.args.get("function_execution_id") == execution_id
    ]


def audit_actions(stack: Stack, subject_id: str) -> list[str]:
    with stack.frontdesk.db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == subject_id)
                .order_by(AuditEvent.id)
            )
        )


def step_run(stack: Stack, execution_id: str) -> StepRun:
    """The step's run, once the listener (after the acknowledgement) has recorded it
    and what it started."""

    def recorded() -> StepRun | None:
        with stack.frontdesk.db.session() as session:
            run = session.get(StepRun, execution_id)
        return run if run is not None and (run.subject_id or run.completed_at) else None

    return wait_for(recorded)


# -- Reset a member's password ---------------------------------------------------------
def test_reset_step_waits_for_the_vendor_then_completes_with_its_outcome(stack: Stack) -> None:
    stack.sandbox.inject(Fault("latency", vendor="clubready", seconds=1.5))
    execution_id = stack.run_step(
        Step.RESET, "UFRONT", {"location": "Downtown Fitness", "identifier": "jane@example.com"}
    )
    run = step_run(stack, execution_id)
    request_id = run.subject_id
    # The vendor has not answered yet: Slack has not been told anything.
    wait_for(lambda: stack.frontdesk.services.resets.get(request_id).status == ResetStatus.SENDING)
    assert stack.slack.execution(execution_id).state == "running"
    assert completions(stack, execution_id) == []

    execution = ended(stack, execution_id)
    assert execution.state == "completed"
    assert execution.outputs == {
        "outcome": "sent",
        "masked_address": "j•••@example.com",
        "reference": request_id,
    }
    request = stack.frontdesk.services.resets.get(request_id)
    assert request.status == ResetStatus.SENT and request.user_id == "UFRONT"
    assert len(stack.sandbox.received("clubready", "password_reset")) == 1
    # Told once, from the worker, with the app's own token (never the workflow's).
    (call,) = completions(stack, execution_id)
    assert call.token == BOT_TOKEN
    wait_for(lambda: step_run(stack, execution_id).outcome == "completed")
    wait_for(lambda: audit_actions(stack, execution_id) == ["step.start", "step.completed"])
    assert audit_actions(stack, request_id)[0] == "reset.prepare"


def test_reset_step_is_checked_like_anyone_and_fails_in_plain_words(stack: Stack) -> None:
    # No role at all.
    execution_id = stack.run_step(
        Step.RESET, "UNOBODY", {"location": "downtown", "identifier": "jane@example.com"}
    )
    execution = ended(stack, execution_id)
    assert execution.state == "failed"
    assert execution.error.startswith("You can't reset members' passwords at Downtown Fitness")
    # A manager of another location only: refused there too.
    stack.grant("UELSEWHERE", Role.MANAGER, "sparkle")
    other = stack.run_step(
        Step.RESET, "UELSEWHERE", {"location": "downtown", "identifier": "jane@example.com"}
    )
    assert ended(stack, other).state == "failed"
    # Bad input: the field's words.
    bad = stack.run_step(
        Step.RESET, "UFRONT", {"location": "sparkle", "identifier": "not an email"}
    )
    assert ended(stack, bad).state == "failed"
    assert "email" in stack.slack.execution(bad).error
    unknown = stack.run_step(Step.RESET, "UFRONT", {"location": "moon", "identifier": "j@x.io"})
    assert "no location called 'moon'" in ended(stack, unknown).error
    with stack.frontdesk.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ResetRequest)) == 0
    assert stack.sandbox.received() == []
    assert audit_actions(stack, execution_id) == ["step.refused"]


def test_reset_step_respects_the_members_hourly_limit(stack: Stack) -> None:
    for _ in range(3):
        reset(stack, "jane@example.com downtown")
    execution_id = stack.run_step(
        Step.RESET, "UFRONT", {"location": "downtown", "identifier": "jane@example.com"}
    )
    execution = ended(stack, execution_id)
    assert execution.state == "failed"
    assert "3 password resets at Downtown Fitness in the last hour" in execution.error
    assert len(stack.sandbox.received("clubready", "password_reset")) == 3
    request_id = step_run(stack, execution_id).subject_id
    assert stack.frontdesk.services.resets.get(request_id).status == ResetStatus.CANCELLED


def test_reset_step_with_no_answer_completes_unknown_and_goes_to_triage(stack: Stack) -> None:
    stack.sandbox.inject(Fault("read_timeout", vendor="registrar", seconds=4))
    execution_id = stack.run_step(
        Step.RESET, "UFRONT", {"location": "sparkle", "identifier": "jane@example.com"}
    )
    execution = ended(stack, execution_id, 20.0)
    assert execution.state == "completed"
    assert execution.outputs["outcome"] == "unknown"
    assert "masked_address" not in execution.outputs
    triage = wait_for(lambda: stack.slack.messages_in("C0TRIAGE"))
    assert "j•••@example.com" in triage[-1]["text"]


def test_a_redelivered_step_event_starts_nothing_twice(stack: Stack) -> None:
    inputs = {"location": "downtown", "identifier": "jane@example.com"}
    execution_id = stack.run_step(Step.RESET, "UFRONT", inputs)
    # Slack delivers the same run again (same function_execution_id).
    declared = stack.slack.functions[Step.RESET]["input_parameters"]["properties"]
    assert "requester" in declared
    stack.driver.function_executed(
        Step.RESET,
        {"requester": {"id": "UFRONT", "secret": "s"}, **inputs},
        function_execution_id=execution_id,
        bot_access_token="workflow-token-again",
        retry_num=1,
    )
    assert ended(stack, execution_id).state == "completed"
    wait_for(lambda: len(stack.sandbox.received("clubready")) == 1)
    with stack.frontdesk.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ResetRequest)) == 1
    assert len(completions(stack, execution_id)) == 1


def test_step_end_survives_a_restart_before_the_vendor_call(
    database_url: str, tmp_path: Path
) -> None:
    """The listener's process dies after the step was recorded and queued: the next
    process sends the reset and completes the step from its worker."""
    first = Stack(workdir=tmp_path, database_url=database_url, start_worker=False)
    try:
        first.grant("UFRONT", Role.FRONT_DESK, "downtown")
        execution_id = first.run_step(
            Step.RESET, "UFRONT", {"location": "downtown", "identifier": "jane@example.com"}
        )
        run = step_run(first, execution_id)
        wait_for(
            lambda: first.frontdesk.services.resets.get(run.subject_id).status == ResetStatus.QUEUED
        )
    finally:
        first.stop()
    assert first.sandbox.received() == []

    second = Stack(workdir=tmp_path, database_url=database_url, start_worker=False)
    try:
        second.slack.start_execution(execution_id, Step.RESET)  # Slack still waits for it
        second.frontdesk.start_worker()
        execution = ended(second, execution_id)
        assert execution.state == "completed" and execution.outputs["outcome"] == "sent"
        assert len(second.sandbox.received("clubready", "password_reset")) == 1
    finally:
        second.stop()


def test_step_end_is_told_later_when_slack_was_unreachable(stack: Stack) -> None:
    """Slack refuses the completion for a while: the outcome stays recorded and the
    worker's sweep tells Slack once it answers."""
    stack.slack.rate_limit("functions.completeSuccess", times=4, retry_after=0)
    execution_id = stack.run_step(
        Step.RESET, "UFRONT", {"location": "downtown", "identifier": "jane@example.com"}
    )
    request_id = step_run(stack, execution_id).subject_id
    wait_for(lambda: stack.frontdesk.services.resets.get(request_id).status == ResetStatus.SENT)
    wait_for(lambda: len(stack.slack.rate_limited) >= 4)
    assert step_run(stack, execution_id).completed_at is None
    execution = ended(stack, execution_id, 20.0)
    assert execution.state == "completed" and execution.outputs["outcome"] == "sent"
    wait_for(lambda: step_run(stack, execution_id).outcome == "completed")
    assert len(stack.sandbox.received("clubready")) == 1


# -- Request a membership sale approval -------------------------------------------------
def continue_message(stack: Stack, user: str, execution_id: str) -> dict:  # type: ignore[type-arg]
    sale_id = step_run(stack, execution_id).subject_id
    return wait_for(
        lambda: next(
            (m for m in stack.slack.messages_in("D" + user[1:]) if sale_id in str(m)), None
        )
    )


def test_sale_step_requests_approval_and_completes_with_the_outcome(stack: Stack) -> None:
    execution_id = stack.run_step(
        Step.SALE,
        "UFRONT",
        {"location": "downtown", "package": "Monthly Basic", "promo_code": "SPRING"},
    )
    message = continue_message(stack, "UFRONT", execution_id)
    sale_id = button_value(message, SaleAction.CONTINUE)
    sale = sale_steps.sale(stack, sale_id)
    assert sale.status == SaleStatus.DRAFT and sale.user_id == "UFRONT"
    assert sale.package_name == "Monthly Basic" and sale.promo_code == "SPRING"
    assert sale.start_date == stack.frontdesk.services.sales.today_at(
        stack.frontdesk.services.locations["downtown"]
    )
    # Continue: the member and the payment, privately, then the usual review.
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click("UFRONT", SaleAction.CONTINUE, sale_id, channel="DFRONT", ts=message["ts"])
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    details = stack.slack.last_view()
    review = sale_steps.acknowledged(
        stack, details, sale_steps.submit_details(stack, details, "UFRONT")
    )
    sale_steps.decide(stack, "UFRONT", review)
    wait_for(lambda: sale_steps.sale(stack, sale_id).approval_ts)
    assert stack.slack.execution(execution_id).state == "running"  # waits for the decision
    # The requester's DM about this sale is the message the step sent, kept up to date.
    assert sale_steps.sale(stack, sale_id).dm_ts == message["ts"]

    modal = sale_steps.open_review(stack, "UMANAGER", sale_id)
    sale_steps.approve(stack, "UMANAGER", modal)
    sale_steps.wait_finished(stack, sale_id)
    execution = ended(stack, execution_id)
    assert execution.state == "completed"
    assert execution.outputs == {
        "outcome": "sold",
        "reference": sale_id,
        "member": "Jane W. · j•••@example.com",
        "amount": "49.00",
    }
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1
    wait_for(lambda: audit_actions(stack, execution_id) == ["step.start", "step.completed"])


def test_sale_step_rejected_and_withdrawn(stack: Stack) -> None:
    rejected = stack.run_step(Step.SALE, "UFRONT", {"location": "downtown", "package": "2001"})
    message = continue_message(stack, "UFRONT", rejected)
    sale_id = button_value(message, SaleAction.CONTINUE)
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click("UFRONT", SaleAction.CONTINUE, sale_id, channel="DFRONT", ts=message["ts"])
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    details = stack.slack.last_view()
    review = sale_steps.acknowledged(
        stack, details, sale_steps.submit_details(stack, details, "UFRONT")
    )
    sale_steps.decide(stack, "UFRONT", review)
    wait_for(lambda: sale_steps.sale(stack, sale_id).approval_ts)
    modal = sale_steps.open_review(stack, "UMANAGER", sale_id)
    pushed = len(stack.slack.calls_to("views.push"))
    stack.driver.click_in_view("UMANAGER", modal, SaleAction.REJECT, sale_id)
    wait_for(lambda: len(stack.slack.calls_to("views.push")) > pushed)
    stack.driver.submit_view(
        "UMANAGER", stack.slack.last_view(), {sale_steps.action("reason"): "Wrong package"}
    )
    execution = ended(stack, rejected)
    assert execution.state == "completed" and execution.outputs["outcome"] == "rejected"

    withdrawn = stack.run_step(Step.SALE, "UFRONT", {"location": "downtown", "package": "2001"})
    message = continue_message(stack, "UFRONT", withdrawn)
    stack.driver.click(
        "UFRONT",
        SaleAction.WITHDRAW,
        button_value(message, SaleAction.WITHDRAW),
        channel="DFRONT",
        ts=message["ts"],
    )
    execution = ended(stack, withdrawn)
    assert execution.state == "failed"
    assert "withdrawn" in execution.error and "nothing was sold" in execution.error
    assert stack.sandbox.received("clubready", "contract_sale") == []


def test_sale_step_checks_roles_and_input(stack: Stack) -> None:
    cases = {
        # A support person may reset anywhere but sells nowhere.
        ("USUPPORT", "downtown", "Monthly Basic"): "You can't sell memberships",
        ("UFRONT", "sparkle", "Monthly Basic"): "does not sell memberships",
        ("UFRONT", "downtown", "Gold Forever"): "sells no 'Gold Forever'",
    }
    for (user, location, package), words in cases.items():
        execution_id = stack.run_step(Step.SALE, user, {"location": location, "package": package})
        execution = ended(stack, execution_id)
        assert execution.state == "failed" and words in execution.error, execution.error
    past = stack.run_step(
        Step.SALE,
        "UFRONT",
        {"location": "downtown", "package": "Monthly Basic", "start_date": "2020-01-01"},
    )
    assert "cannot be in the past" in ended(stack, past).error
    with stack.frontdesk.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Sale)) == 0


def test_a_step_without_the_person_running_it_fails(stack: Stack) -> None:
    """A workflow with no person (a scheduled trigger and no step setting one): Slack
    sends no user context; nothing is done for anyone."""
    execution_id = "FxNOBODY"
    stack.slack.start_execution(execution_id, Step.RESET)
    stack.driver.function_executed(
        Step.RESET,
        {"location": "downtown", "identifier": "jane@example.com"},
        function_execution_id=execution_id,
        bot_access_token="workflow-token",
    )
    execution = ended(stack, execution_id)
    assert execution.state == "failed" and "person running the workflow" in execution.error
    assert stack.sandbox.received() == []


def test_the_workflow_token_and_user_context_secret_are_never_kept(stack: Stack) -> None:
    execution_id = stack.run_step(
        Step.RESET, "UFRONT", {"location": "downtown", "identifier": "jane@example.com"}
    )
    ended(stack, execution_id)
    secrets = [f"workflow-token-{execution_id}", f"user-context-secret-{execution_id}"]
    with stack.frontdesk.db.session() as session:
        for table in (StepRun, ResetRequest, AuditEvent):
            for row in session.scalars(select(table)):
                text = str({c.key: getattr(row, c.key) for c in table.__table__.columns})
                assert not any(secret in text for secret in secrets)
    # Slack calls after the event went with the app's token only.
    assert {call.token for call in stack.slack.calls} <= {BOT_TOKEN}


def test_reset_step_beside_a_typed_reset(stack: Stack) -> None:
    """A typed /reset and a step of the same person share one history."""
    confirmation = new_message(
        stack, "DFRONT", lambda: stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    )
    assert button_value(confirmation, ResetAction.SEND)
    execution_id = stack.run_step(
        Step.RESET, "UFRONT", {"location": "downtown", "identifier": "jane@example.com"}
    )
    assert ended(stack, execution_id).outputs["outcome"] == "sent"
    items = stack.frontdesk.services.triage.history(Actor("T0001", "USUPPORT"), "jane@example.com")
    assert len(items) == 2


def test_step_ends_are_checked_as_slack_checks_them(stack: Stack) -> None:
    """The fake Slack holds outputs to the manifest; the app ends a run whose outputs
    Slack refused with an error instead of leaving it running."""
    client = stack.frontdesk.app.client
    stack.slack.start_execution("FxCHECK", Step.RESET)
    for outputs, problem in (
        ({"reference": "r"}, "outcome: required"),
        ({"outcome": 5, "reference": "r"}, "outcome: not a string"),
        ({"outcome": "sent", "reference": "r", "extra": "x"}, "extra: not an output"),
    ):
        with pytest.raises(SlackApiError) as refused:
            client.functions_completeSuccess(function_execution_id="FxCHECK", outputs=outputs)
        assert refused.value.response["error"] == "parameter_validation_failed"
        assert any(problem in p for p in refused.value.response["errors"])
    with pytest.raises(SlackApiError) as unknown:
        client.functions_completeError(function_execution_id="FxNEVER", error="x")
    assert unknown.value.response["error"] == "function_execution_not_found"

    services = stack.frontdesk.services
    steps = StepService(
        db=stack.frontdesk.db,
        clock=services.sales.clock,
        resets=services.resets,
        sales=services.sales,
        locations=services.locations,
    )
    completer = StepCompleter(client=client, steps=steps)
    completer.tell(StepEnd("FxCHECK", Step.RESET, outputs={"outcome": 5, "reference": "r"}))
    execution = stack.slack.execution("FxCHECK")
    assert execution.state == "failed" and "could not report its outcome" in execution.error
    with pytest.raises(SlackApiError) as again:
        client.functions_completeSuccess(
            function_execution_id="FxCHECK", outputs={"outcome": "sent", "reference": "r"}
        )
    assert again.value.response["error"] == "execution_not_in_running_state"
    stack.slack.invalid.clear()  # the refusals above were the point

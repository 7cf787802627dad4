"""manifest.yml and the listeners the app registers, held together by dispatching."""

from __future__ import annotations

from itertools import chain
from pathlib import Path

import pytest
import yaml

from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import (
    GLOBAL_SHORTCUTS,
    MESSAGE_SHORTCUTS,
    SALE_FIELDS,
    STEP_INPUTS,
    STEP_OUTPUTS,
    AdminAction,
    AdminView,
    Event,
    HistoryView,
    HomeAction,
    ResetAction,
    ResetView,
    SaleAction,
    SaleView,
    Shortcut,
    Step,
    TriageAction,
    TriageView,
)
from bot.slack.sale_drafts import DRAFT_VIEWS

ROOT = Path(__file__).resolve().parents[2]
#: Inputs of a view: Slack delivers them with the submission, not as actions.
INPUTS = {
    ResetAction.EMAIL,
    ResetAction.USERNAME,
    ResetAction.ACCOUNT,
    ResetAction.CARD,
    ResetAction.FILTER,
}


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_manifest_command_has_a_listener_and_nothing_else_does(stack: Stack) -> None:
    commands = [c["command"] for c in manifest()["features"]["slash_commands"]]
    for command in commands:
        assert stack.driver.command("UNOBODY", command).status_code == 200, command
    # Bolt answers 404 to what no listener handles: the check above can fail.
    assert stack.driver.command("UNOBODY", "/not-a-command").status_code == 404
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) == {e.value for e in Event}
    for event in set(events) - {Event.FUNCTION_EXECUTED}:  # that one: per function, below
        assert stack.driver.event("UNOBODY", event).status_code == 200, event
    assert stack.driver.event("UNOBODY", "member_joined_channel").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_shortcut_and_step_has_a_listener_and_nothing_else_does(stack: Stack) -> None:
    shortcuts = {s["callback_id"]: s["type"] for s in manifest()["features"]["shortcuts"]}
    assert shortcuts == {
        **{s.value: "global" for s in GLOBAL_SHORTCUTS},
        **{s.value: "message" for s in MESSAGE_SHORTCUTS},
    }
    assert set(shortcuts) == {s.value for s in Shortcut}
    message = {"ts": "1700000000.000100", "text": "hello", "user": "UOTHER"}
    for callback_id, kind in shortcuts.items():
        if kind == "global":
            answer = stack.driver.global_shortcut("UNOBODY", callback_id)
        else:
            answer = stack.driver.message_shortcut("UNOBODY", callback_id, message, channel="C1")
        assert answer.status_code == 200, callback_id
    # A shortcut of one kind is not answered as the other, nor an unknown one.
    assert stack.driver.global_shortcut("UNOBODY", Shortcut.RESET_FROM_MESSAGE).status_code == 404
    assert stack.driver.global_shortcut("UNOBODY", "no_such_shortcut").status_code == 404
    # Every function the manifest declares is a step the app runs, with the inputs and
    # outputs the code reads and writes; nothing else runs.
    functions = manifest()["functions"]
    assert set(functions) == {s.value for s in Step}
    for step in Step:
        declared = functions[step]
        assert tuple(declared["input_parameters"]["properties"]) == STEP_INPUTS[step]
        assert tuple(declared["output_parameters"]["properties"]) == STEP_OUTPUTS[step]
        # Each step acts for the person running the workflow: a user context Slack fills.
        kinds = [p["type"] for p in declared["input_parameters"]["properties"].values()]
        assert kinds.count("slack#/types/user_context") == 1, step
        execution_id = stack.run_step(step, "UNOBODY", {})
        wait_for(lambda e=execution_id: stack.slack.execution(e).state != "running")
    stack.driver.functions["not_ours"] = functions[Step.RESET]
    answer = stack.driver.function_executed(
        "not_ours", {}, function_execution_id="Fx0", bot_access_token="x"
    )
    assert answer.status_code == 404
    # Views opened with notify_on_close have a view_closed listener.
    for callback in DRAFT_VIEWS:
        view = {"id": "V1", "type": "modal", "callback_id": callback, "blocks": []}
        assert stack.driver.view_closed("UNOBODY", view).status_code == 200, callback
    view = {"id": "V1", "type": "modal", "callback_id": SaleView.APPROVAL, "blocks": []}
    assert stack.driver.view_closed("UNOBODY", view).status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_action_and_view_id_has_a_listener(stack: Stack) -> None:
    buttons = chain(ResetAction, SaleAction, TriageAction, HomeAction, AdminAction)
    for action_id in buttons:
        if action_id in INPUTS:
            continue
        answer = stack.driver.click("UNOBODY", action_id, "x", channel="C1", ts="1.1")
        assert answer.status_code == 200, action_id
    # The location selects dispatch actions, so that the form follows the location.
    for dispatched in (ResetAction.LOCATION_SELECT, SALE_FIELDS["location"][1]):
        answer = stack.driver.click("UNOBODY", dispatched, "x", channel="C1", ts="1.1")
        assert answer.status_code == 200, dispatched
    answer = stack.driver.click("UNOBODY", "no_such_action", "x", channel="C1", ts="1.1")
    assert answer.status_code == 404
    without_submit = {SaleView.NOTICE}
    callbacks = [
        ResetView.CALLBACK,
        TriageView.RESOLVE,
        AdminView.ROLES,
        HistoryView.CALLBACK,
        *(set(SaleView) - without_submit),
    ]
    for callback in callbacks:
        view = {"id": "V1", "type": "modal", "callback_id": callback, "blocks": []}
        assert stack.driver.submit_view("UNOBODY", view, {}).status_code == 200, callback
    assert manifest()["settings"]["interactivity"]["is_enabled"] is True

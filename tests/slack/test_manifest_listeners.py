"""manifest.yml and the listeners the app registers, held together by dispatching."""

from __future__ import annotations

from itertools import chain
from pathlib import Path

import pytest
import yaml

from bot.devtools.stack import Stack
from bot.slack.ids import (
    SALE_FIELDS,
    AdminAction,
    AdminView,
    Event,
    HomeAction,
    ResetAction,
    ResetView,
    SaleAction,
    SaleView,
    TriageAction,
    TriageView,
)

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
    for event in events:
        assert stack.driver.event("UNOBODY", event).status_code == 200, event
    assert stack.driver.event("UNOBODY", "member_joined_channel").status_code == 404


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
    without_submit = {SaleView.NOTICE, SaleView.REVIEW}
    callbacks = [
        ResetView.CALLBACK,
        TriageView.RESOLVE,
        AdminView.ROLES,
        *(set(SaleView) - without_submit),
    ]
    for callback in callbacks:
        view = {"id": "V1", "type": "modal", "callback_id": callback, "blocks": []}
        assert stack.driver.submit_view("UNOBODY", view, {}).status_code == 200, callback
    assert manifest()["settings"]["interactivity"]["is_enabled"] is True

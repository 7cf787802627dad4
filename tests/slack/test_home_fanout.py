"""Whose Homes a change republishes is filtered in the database first (issue 15's
review): the requester who opened their Home this morning is republished even when
more than 200 colleagues opened theirs since."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.devtools.stack import Stack, wait_for
from bot.workflows.resets import FINISHED, ResetInput
from bot.workflows.roles import Actor
from storage.models import UserPreference
from tests.slack.test_outbox import all_delivered
from vendors.sandbox import Fault

FRONT = Actor(team_id="T0001", user_id="UFRONT")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_requesters_and_supports_homes_are_republished_whatever_the_number_of_viewers(
    stack: Stack,
) -> None:
    now = stack.frontdesk.services.home.clock.now()
    with stack.frontdesk.db.session() as session:
        # The requester and support looked this morning; 250 colleagues since.
        for user in ("UFRONT", "USUPPORT"):
            session.merge(
                UserPreference(
                    org_id="T0001", user_id=user, home_opened_at=now - timedelta(hours=3)
                )
            )
        for n in range(250):
            session.merge(
                UserPreference(
                    org_id="T0001",
                    user_id=f"UCOLLEAGUE{n:03d}",
                    home_opened_at=now - timedelta(minutes=n % 60),
                )
            )
    stack.sandbox.inject(Fault("success_false", vendor="clubready", operation="password_reset"))
    resets = stack.frontdesk.services.resets
    request = resets.prepare(FRONT, "downtown", ResetInput(email="jane@example.com"))
    resets.confirm(FRONT, request.id)
    wait_for(lambda: resets.get(request.id).status in FINISHED, 20)
    wait_for(lambda: all_delivered(stack), 20)
    published_to = {c.args["user_id"] for c in stack.slack.calls_to("views.publish")}
    assert {"UFRONT", "USUPPORT"} <= published_to, "a Home the change shows stayed stale"
    assert not any(u.startswith("UCOLLEAGUE") for u in published_to), "Homes it does not show"

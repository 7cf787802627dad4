"""The outbox end to end: posts once whatever Slack loses, messages never go back,
notices given up are visible, Homes republished only where they show a change and
within the publish budget."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.devtools.stack import Stack, wait_for
from bot.slack import home_views
from bot.slack.ids import Command, Event, ResetAction, SaleAction
from bot.workflows.outbox import NoticeStatus
from bot.workflows.resets import FINISHED, ResetInput, ResetStatus
from bot.workflows.roles import Actor, Role
from storage.models import Notice, UserPreference
from tests.slack.helpers import button_value, message_text, new_message
from vendors.sandbox import Fault

DM = "DFRONT"
FRONT = Actor(team_id="T0001", user_id="UFRONT")


def notices(stack: Stack, **where: Any) -> list[Notice]:
    with stack.frontdesk.db.session() as session:
        query = select(Notice).order_by(Notice.id)
        for column, value in where.items():
            query = query.where(getattr(Notice, column) == value)
        return list(session.scalars(query))


def all_delivered(stack: Stack) -> bool:
    return all(n.status in (NoticeStatus.DONE, NoticeStatus.ABANDONED) for n in notices(stack))


def test_a_post_whose_answer_was_lost_is_looked_up_not_posted_twice(stack: Stack) -> None:
    # Slack posts the confirmation, then the connection drops before its answer.
    stack.slack.drop_answers("chat.postMessage", times=1)
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: stack.slack.dropped and all_delivered(stack), 20)
    [confirmation] = stack.slack.messages_in(DM)  # one message, not two
    assert len(stack.slack.calls_to("chat.postMessage")) == 1
    assert stack.slack.calls_to("conversations.history")  # it was looked for
    # The stored ts is the message Slack has: Send updates it in place.
    request_id = button_value(confirmation, ResetAction.SEND)
    assert stack.frontdesk.services.resets.get(request_id).message_ts == confirmation["ts"]
    stack.driver.click("UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"])
    wait_for(lambda: "Reset sent" in message_text(stack, DM, confirmation["ts"]), 15)
    assert len(stack.slack.messages_in(DM)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_thread_note_whose_answer_was_lost_is_posted_once(stack: Stack) -> None:
    from bot.devtools import sale_steps

    sale_id = sale_steps.request_approval(stack, user="UFRONT")
    wait_for(lambda: sale_steps.sale(stack, sale_id).dm_ts and all_delivered(stack))
    sale = sale_steps.sale(stack, sale_id)
    stack.slack.drop_answers("chat.postMessage", times=1)
    # Withdraw: the approval thread gets a note (posted once despite the lost answer).
    stack.driver.click(
        "UFRONT", SaleAction.WITHDRAW, sale_id, channel=sale.dm_channel_id, ts=sale.dm_ts
    )
    wait_for(lambda: stack.slack.dropped and all_delivered(stack), 20)
    replies = [
        m
        for m in stack.slack.messages_in(sale_steps.APPROVALS)
        if m["thread_ts"] == sale.approval_ts
    ]
    assert [m["text"] for m in replies] == ["Withdrawn by <@UFRONT>."]
    assert stack.slack.calls_to("conversations.replies")


def _stage(text: str) -> int:
    if "Sending" in text:
        return 1
    if "Reset the password" in text:
        return 0
    return 2


def test_a_confirmation_never_goes_back_to_an_earlier_state(stack: Stack) -> None:
    # Updates are rate-limited now and then, and the vendor answers at once: the
    # notifier and the worker race; whatever the interleaving, no message regresses.
    stack.slack.rate_limit("chat.update", times=4, retry_after=1)
    messages = []
    for n in range(8):
        messages.append(
            new_message(
                stack,
                DM,
                lambda n=n: stack.driver.command(
                    "UFRONT", Command.RESET, f"m{n}@example.com sparkle"
                ),
            )
        )
    for message in messages:
        request_id = button_value(message, ResetAction.SEND)
        stack.driver.click("UFRONT", ResetAction.SEND, request_id, channel=DM, ts=message["ts"])
    wait_for(
        lambda: all(
            stack.frontdesk.services.resets.get(button_value(m, ResetAction.SEND)).status
            in FINISHED
            for m in messages
        ),
        20,
    )
    wait_for(lambda: all_delivered(stack), 20)
    for message in messages:
        versions = stack.slack.history_of(DM, message["ts"])
        stages = [_stage(v["text"] or json.dumps(v["blocks"])) for v in versions]
        assert stages == sorted(stages), [v["text"] for v in versions]
        assert stages[-1] == 2  # it shows the outcome


def test_a_notice_slack_refuses_for_good_is_abandoned_and_shown_to_admins(stack: Stack) -> None:
    stack.grant("UADMIN", Role.ADMIN)
    stack.slack.unknown_channels.add("C0TRIAGE")  # the bot was removed from it, say
    stack.sandbox.inject(Fault("success_false", vendor="clubready", operation="password_reset"))
    confirmation = new_message(
        stack, DM, lambda: stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    )
    request_id = button_value(confirmation, ResetAction.SEND)
    stack.driver.click("UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"])
    [given_up] = wait_for(lambda: notices(stack, status=NoticeStatus.ABANDONED), 20)
    assert given_up.kind == "reset.triage" and given_up.subject_id == request_id
    assert given_up.last_error == "slack: channel_not_found"
    metrics = stack.frontdesk.metrics.render().decode()
    assert 'frontdesk_notices_abandoned_total{kind="reset.triage",reason="slack"} 1.0' in metrics
    assert 'frontdesk_queue_depth{queue="notices",state="abandoned"} 1.0' in metrics
    stack.driver.event("UADMIN", Event.APP_HOME_OPENED)
    home = wait_for(lambda: stack.slack.homes.get("UADMIN"))
    text = json.dumps(home)
    assert "Slack notices given up" in text and request_id in text and "channel_not_found" in text


@pytest.fixture
def clocked(database_url: str, tmp_path: Path) -> Iterator[tuple[Stack, ManualClock]]:
    clock = ManualClock(datetime.now(UTC))
    running = Stack(workdir=tmp_path, database_url=database_url, clock=clock)
    running.grant("UFRONT", Role.FRONT_DESK, "downtown")
    yield running, clock
    running.stop()


def test_notices_expire_by_their_rule_while_slack_is_away(
    clocked: tuple[Stack, ManualClock],
) -> None:
    stack, clock = clocked
    stack.slack.go_down()
    try:
        stack.frontdesk.services.resets.prepare(
            FRONT, "downtown", ResetInput(email="a@example.com")
        )
        [waiting] = wait_for(
            lambda: [n for n in notices(stack) if n.attempts >= 1 and n.status == "pending"], 10
        )
        assert waiting.kind == "reset.confirmation" and waiting.last_error.startswith("unreachable")
        clock.advance(hours=23)  # still within its 24 hours: retried, kept
        time.sleep(1.5)
        assert notices(stack, id=waiting.id)[0].status in (NoticeStatus.PENDING, "sending")
        clock.advance(hours=2)
        wait_for(lambda: notices(stack, id=waiting.id)[0].status == NoticeStatus.ABANDONED, 10)
        assert notices(stack, id=waiting.id)[0].last_error.startswith("expired (unreachable")
    finally:
        stack.slack.come_back()


def _viewers(stack: Stack, count: int) -> list[str]:
    """``count`` people who looked at their Home in the last day (the fixture's five among
    them); the others hold roles that a change at downtown's approvals does not concern."""
    users = ["UFRONT", "UMANAGER", "UMANAGER2", "USUPPORT", "USUPPORT2"]
    users += [f"UVIEWER{n:03d}" for n in range(count - len(users))]
    for n, user in enumerate(users[5:]):
        role = (Role.FRONT_DESK, Role.MANAGER)[n % 2]
        stack.grant(user, role, ("sparkle", "bistro")[n % 2])
    now = stack.frontdesk.services.home.clock.now()
    with stack.frontdesk.db.session() as session:
        for user in users:
            session.merge(UserPreference(org_id="T0001", user_id=user, home_opened_at=now))
    return users


@pytest.fixture
def budgeted(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(
        workdir=tmp_path,
        database_url=database_url,
        overrides={
            "home_publishes_per_minute": 120.0,
            "home_publish_burst": 4.0,
            "resets_per_person_hour": 100,
        },
    )
    running.grant("UFRONT", Role.FRONT_DESK, "sparkle")
    running.grant("UMANAGER", Role.MANAGER, "downtown")
    running.grant("UMANAGER2", Role.MANAGER, "downtown")
    running.grant("USUPPORT", Role.SUPPORT)
    running.grant("USUPPORT2", Role.SUPPORT)
    yield running
    running.stop()


def test_home_storm_200_viewers_50_changes_only_affected_homes_within_budget(
    budgeted: Stack,
) -> None:
    """Issue 14, item 4: 200 recent viewers, a burst of 50 resets by one front desk.
    Only the Homes that show them are republished (the requester's, support's), as
    few times as the budget allows, and each ends showing the last state."""
    stack = budgeted
    viewers = _viewers(stack, 200)
    resets = stack.frontdesk.services.resets
    started = time.monotonic()
    ids = []
    for n in range(50):
        request = resets.prepare(FRONT, "sparkle", ResetInput(email=f"storm{n}@example.com"))
        resets.confirm(FRONT, request.id)
        ids.append(request.id)
    wait_for(lambda: all(resets.get(i).status in FINISHED for i in ids), 60)
    wait_for(lambda: all_delivered(stack), 60)
    elapsed = time.monotonic() - started
    publishes = stack.slack.calls_to("views.publish")
    published_to = {c.args["user_id"] for c in publishes}
    assert published_to == {"UFRONT", "USUPPORT", "USUPPORT2"}, published_to - {"UFRONT"}
    # Within the budget: 4 at once, then 2 a second.
    assert len(publishes) <= 4 + 2 * elapsed, (len(publishes), elapsed)
    # Every affected Home is current: exactly what it would show now.
    for user in sorted(published_to):
        actor = Actor(team_id="T0001", user_id=user)
        home = stack.frontdesk.services.home.home(actor, {})
        expected = home_views.home_view(home, stack.frontdesk.services.locations)
        shown = {k: v for k, v in stack.slack.homes[user].items() if k not in ("id", "hash")}
        assert shown == json.loads(json.dumps(expected)), user
    # (The sandbox's Registrar knows none of these members: support's counts show them,
    # in words, though no failure is support's to fix.)
    assert "Registrar: 50 resets no such member" in json.dumps(stack.slack.homes["USUPPORT"])
    assert len(viewers) == 200
    assert all(resets.get(i).status == ResetStatus.NOT_FOUND for i in ids)


@pytest.fixture
def polling_rarely(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(
        workdir=tmp_path, database_url=database_url, overrides={"worker_poll_seconds": 30.0}
    )
    running.grant("UFRONT", Role.FRONT_DESK, "downtown")
    yield running
    running.stop()


def test_the_worker_and_the_notifier_are_woken_not_polled(polling_rarely: Stack) -> None:
    """Issue 15, item 3 in one process: with polling every 30 s, a click still reaches
    the vendor, and its confirmation Slack, within moments (the commit wakes them)."""
    stack = polling_rarely
    time.sleep(0.5)  # past the workers' first round
    started = time.monotonic()
    confirmation = new_message(
        stack, DM, lambda: stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    )
    posted = time.monotonic() - started
    request_id = button_value(confirmation, ResetAction.SEND)
    clicked = time.monotonic()
    stack.driver.click("UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"])
    wait_for(lambda: stack.sandbox.received("clubready", "password_reset"), 10)
    reached = time.monotonic() - clicked
    wait_for(lambda: "Reset sent" in message_text(stack, DM, confirmation["ts"]), 10)
    told = time.monotonic() - clicked
    assert max(posted, reached, told) < 2.0, (posted, reached, told)

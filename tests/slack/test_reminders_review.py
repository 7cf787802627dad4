"""Issue 18 item 1, the independent review's findings (each failed before its fix) and
what held up under it: rounds (a sale changed back to an earlier version), who may act
on an escalation, and what the requester and the thread are told. End to end, with a
controlled clock, the fake Slack and both databases (helpers: test_reminders.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.devtools.sale_steps import (
    APPROVALS,
    approval_message,
    approve,
    change,
    request_approval,
    sale,
)
from bot.devtools.stack import TEAM, Stack, wait_for
from bot.slack import reminder_views
from bot.slack.ids import SaleAction
from bot.workflows.errors import NotAuthorized
from bot.workflows.reminders import AskReason, Reminders
from bot.workflows.roles import Actor
from bot.workflows.sales import SaleStatus
from storage.db import Database
from storage.models import Sale, SaleAsk
from tests.slack.test_reminders import (
    MORNING,
    audit_actions,
    locations,
    make_stack,
    reminders_of,
    requester_dm,
    settled,
    staffed,
    submit_at,
    sweep,
    thread_replies,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MORNING)


@pytest.fixture
def stack(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Stack]:
    running = staffed(make_stack(database_url, tmp_path, clock))
    yield running
    running.stop()
    assert running.slack.invalid == []


# -- rounds: a sale changed back to an earlier version (A, B, A) ----------------------------


def test_changing_a_sale_back_to_an_earlier_version_still_updates_slack(
    stack: Stack, clock: ManualClock
) -> None:
    """The change back to A commits, and so do its notices: the approval message, the
    "changed" note and the requester's DM (they were lost with a savepoint that
    rolled back on A's earlier request row)."""
    sale_id = request_approval(stack)
    clock.advance(minutes=10)
    assert change(stack, sale_id, promo_code="SPRING").text == ""
    settled(stack)
    assert "SPRING" in json.dumps(approval_message(stack, sale_id)["blocks"])
    clock.advance(minutes=5)
    assert change(stack, sale_id, promo_code="").text == ""
    assert sale(stack, sale_id).promo_code is None
    settled(stack)
    assert "SPRING" not in json.dumps(approval_message(stack, sale_id)["blocks"])
    notes = [r for r in thread_replies(stack, sale_id) if "changed this sale" in r["text"]]
    assert len(notes) == 2
    assert "SPRING" not in requester_dm(stack, sale_id)


def test_a_sale_changed_back_to_an_earlier_version_is_reminded_again(
    stack: Stack, clock: ManualClock
) -> None:
    """A is reminded and escalated; after A, B, A the new round is reminded again (the
    escalation counts from the submission: it is not repeated)."""
    sale_id = request_approval(stack)
    clock.advance(hours=2)
    assert sweep(stack) == [AskReason.REMINDER, AskReason.ESCALATION]
    clock.advance(minutes=5)
    assert change(stack, sale_id, promo_code="SPRING").text == ""
    clock.advance(minutes=5)
    assert change(stack, sale_id, promo_code="").text == ""  # version A again
    settled(stack)
    replies_before = len(thread_replies(stack, sale_id))
    clock.advance(minutes=29)
    assert sweep(stack) == []
    clock.advance(minutes=1)  # 30 minutes after the change back
    assert sweep(stack) == [AskReason.REMINDER]
    assert len(thread_replies(stack, sale_id)) == replies_before + 1
    clock.advance(hours=3)
    assert sweep(stack) == []  # once per round
    actions = audit_actions(stack, sale_id)
    assert actions.count("sale.remind") == 2 and actions.count("sale.escalate") == 1


def test_the_requesters_dm_dates_a_version_changed_back_from_its_new_request(
    stack: Stack, clock: ManualClock
) -> None:
    sale_id = request_approval(stack)
    first = int(clock.now().timestamp())
    clock.advance(minutes=40)
    assert sweep(stack) == [AskReason.REMINDER]
    assert change(stack, sale_id, promo_code="SPRING").text == ""
    clock.advance(minutes=5)
    assert change(stack, sale_id, promo_code="").text == ""
    again = int(clock.now().timestamp())
    settled(stack)
    asked = requester_dm(stack, sale_id)
    assert f"Sent for approval <!date^{again}^" in asked
    assert f"<!date^{first}^" not in asked
    assert "Reminder" not in asked  # nobody has been reminded about this round yet


def test_a_requester_cannot_hold_off_escalation_forever_by_editing(
    stack: Stack, clock: ManualClock
) -> None:
    """A change restarts the reminder, not the escalation: it counts from the
    submission, so changing the promo code every 100 minutes does not keep the sale
    from escalating."""
    sale_id = request_approval(stack)
    submitted = sale(stack, sale_id).submitted_at
    assert submitted is not None
    clock.advance(minutes=100)
    sweep(stack)
    assert change(stack, sale_id, promo_code="CODE1").text == ""
    clock.advance(minutes=19)
    assert AskReason.ESCALATION not in sweep(stack)  # 1:59 after the submission
    clock.advance(minutes=1)
    assert sweep(stack) == [AskReason.ESCALATION]  # 2:00, though changed 20 minutes ago
    for n in range(2, 5):
        clock.advance(minutes=100)
        sweep(stack)
        assert change(stack, sale_id, promo_code=f"CODE{n}").text == ""
    assert audit_actions(stack, sale_id).count("sale.escalate") == 1
    reply = [r for r in thread_replies(stack, sale_id) if r["text"].startswith(":rotating")]
    assert f"since <!date^{int(submitted.timestamp())}^" in reply[0]["text"]


# -- who may act on an escalation -----------------------------------------------------------


def test_escalated_people_can_act_on_the_escalation(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """UAREA1 (escalation group, no manager role at downtown) may decide the sale
    escalated to them, from the DM, and is reminded of its later versions; nothing
    else (a sale not escalated to them stays refused)."""
    running = staffed(
        make_stack(database_url, tmp_path, clock, locations_yaml=locations("[UAREA1]"))
    )
    try:
        sale_id = request_approval(running)
        clock.advance(hours=2)
        assert sweep(running) == [AskReason.REMINDER, AskReason.ESCALATION]
        [dm] = running.slack.messages_in("DAREA1")
        assert dm["text"].startswith(":rotating_light: Escalated to you")
        assert "You may decide it" in dm["text"]
        # Another sale at the same location, not escalated to them: refused.
        other = submit_at(running, "downtown")
        area = Actor(team_id=TEAM, user_id="UAREA1")
        with pytest.raises(NotAuthorized):
            running.frontdesk.services.sales.review(area, other)
        # The sale escalated to them: Review from the DM opens the approval modal.
        before = len(running.slack.calls_to("views.open"))
        running.driver.click("UAREA1", SaleAction.REVIEW, sale_id, channel="DAREA1", ts=dm["ts"])
        wait_for(lambda: len(running.slack.calls_to("views.open")) > before)
        assert "Approve" in json.dumps(running.slack.last_view())
        # A change: its reminder reaches them too (they have not seen this version).
        assert change(running, sale_id, promo_code="SPRING").text == ""
        clock.advance(minutes=30)
        assert sweep(running) == [AskReason.REMINDER, AskReason.REMINDER]  # and `other`
        assert len(running.slack.messages_in("DAREA1")) == 2
        before = len(running.slack.calls_to("views.open"))
        running.driver.click("UAREA1", SaleAction.REVIEW, sale_id, channel="DAREA1", ts=dm["ts"])
        wait_for(lambda: len(running.slack.calls_to("views.open")) > before)
        approve(running, "UAREA1", running.slack.last_view())
        wait_for(lambda: sale(running, sale_id).status == SaleStatus.APPROVED)
    finally:
        running.stop()


def test_members_of_an_escalation_user_group_can_act_on_it(
    stack: Stack, clock: ManualClock
) -> None:
    """escalation_group: S0LEADS (the demo's): its members as last read from Slack may
    decide the sale once it escalated to the group, not before."""
    stack.frontdesk.services.admin.replace_group_members(
        org_id=TEAM, usergroup_id="S0LEADS", user_ids=["ULEAD"]
    )
    sale_id = request_approval(stack)
    lead = Actor(team_id=TEAM, user_id="ULEAD")
    with pytest.raises(NotAuthorized):
        stack.frontdesk.services.sales.review(lead, sale_id)
    clock.advance(hours=2)
    assert AskReason.ESCALATION in sweep(stack)
    assert stack.frontdesk.services.sales.review(lead, sale_id).id == sale_id


def test_the_escalation_user_group_is_read_from_slack(stack: Stack, clock: ManualClock) -> None:
    """The user-group sync reads the escalation group's members too (S0LEADS is mapped
    to no role: it gives none, only the right to decide what escalated to it)."""
    stack.slack.usergroups["S0LEADS"] = ["ULEAD"]
    assert stack.frontdesk.usergroup_sync.refresh()["S0LEADS"] == 1
    sale_id = request_approval(stack)
    clock.advance(hours=2)
    assert AskReason.ESCALATION in sweep(stack)
    reply = thread_replies(stack, sale_id)[-1]
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click("ULEAD", SaleAction.REVIEW, sale_id, channel=APPROVALS, ts=reply["ts"])
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    assert "Approve" in json.dumps(stack.slack.last_view())
    with stack.frontdesk.db.session() as session:
        roles = stack.frontdesk.services.sales.roles
        assert roles.grants(session, Actor(team_id=TEAM, user_id="ULEAD")) == []


def test_an_escalation_group_of_only_the_requester_is_not_called_empty(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    running = staffed(
        make_stack(database_url, tmp_path, clock, locations_yaml=locations("[UFRONT]"))
    )
    try:
        sale_id = request_approval(running)
        clock.advance(hours=2)
        assert sweep(running) == [AskReason.REMINDER, AskReason.ESCALATION]
        reply = thread_replies(running, sale_id)[-1]["text"]
        assert "empty" not in reply
        assert "nobody could be asked to decide it" in reply
        assert "<@UFRONT> requested it" in reply and "escalation_group" in reply
        assert "Escalation due" in requester_dm(running, sale_id)
    finally:
        running.stop()


# -- what the requester is told -------------------------------------------------------------


def test_the_requesters_dm_does_not_claim_a_thread_reply_that_was_never_posted(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """Slack refuses the approval message for good (channel_not_found): the DM says
    so, and the reminder went by direct message only (no thread to reply in)."""
    running = staffed(make_stack(database_url, tmp_path, clock))
    running.slack.unknown_channels.add("C0APPROVALS")  # deleted after start
    try:
        sale_id = submit_at(running, "downtown")
        settled(running)
        assert sale(running, sale_id).approval_ts is None  # never posted
        # Told at once, not only at the next reminder.
        assert "Slack refused the message in <#C0APPROVALS>" in requester_dm(running, sale_id)
        clock.advance(minutes=30)
        assert sweep(running) == [AskReason.REMINDER]
        asked = requester_dm(running, sale_id)
        assert "in the approval thread" not in asked
        assert "Slack refused the message in <#C0APPROVALS>" in asked
        assert "by direct message <@UMANAGER" in asked
    finally:
        running.stop()


def test_many_people_asked_are_summarised_within_slacks_limits() -> None:
    """Hundreds of managers (a user group mapped to manager in a whole chain): the
    requester's DM and the escalation reply name the first ones and count the others,
    within Slack's 3000 characters a section."""
    now = MORNING
    users = [f"UMGR{n:05d}" for n in range(200)]
    asks = [
        SaleAsk(
            sale_id="s",
            fingerprint="f",
            round_at=now,
            reason=reason,
            target_kind="channel",
            target_id="C0APPROVALS",
            at=now,
        )
        for reason in ("request", "reminder", "escalation")
    ] + [
        SaleAsk(
            sale_id="s",
            fingerprint="f",
            round_at=now,
            reason=reason,
            target_kind="user",
            target_id=user,
            at=now + timedelta(minutes=1),
        )
        for reason in ("reminder", "escalation")
        for user in users
    ]
    block = reminder_views.asked_block(asks)
    assert block is not None
    text = block.to_dict()["text"]["text"]  # slack_sdk refuses a section over 3000
    assert "and 180 others" in text and "<@UMGR00019>" in text and "<@UMGR00020>" not in text
    pending = Sale(id="s", user_id="UFRONT", submitted_at=now, changed_at=None)
    reply, blocks = reminder_views.thread_reply(
        pending, AskReason.ESCALATION, {"users": users, "usergroup": None}
    )
    assert "and 180 others" in reply and len(blocks[0]["text"]["text"]) < 3000


# -- what held up under the review ----------------------------------------------------------


def test_decisions_racing_sweeps_in_other_processes(
    stack: Stack, clock: ManualClock, database_url: str
) -> None:
    """Rejections (one engine) race two sweeps (their own engines) at the instant the
    reminder falls due: no errors, no doubles, no reminder after a rejection."""
    sale_ids = [submit_at(stack, "downtown") for _ in range(8)]
    settled(stack)
    clock.advance(minutes=30)
    sweepers = [reminders_of(stack, Database(database_url)) for _ in range(2)]
    sales = stack.frontdesk.services.sales
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def decide() -> None:
        try:
            start.wait()
            for sale_id in sale_ids:
                sales.reject(Actor(team_id=TEAM, user_id="UMANAGER"), sale_id, "no")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def sweep_(worker: Reminders) -> None:
        try:
            start.wait()
            for _ in range(3):
                worker.sweep()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=decide)] + [
        threading.Thread(target=sweep_, args=(w,)) for w in sweepers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        settled(stack)
        for sale_id in sale_ids:
            actions = audit_actions(stack, sale_id)
            assert actions.count("sale.remind") <= 1
            if "sale.remind" in actions:
                assert actions.index("sale.remind") < actions.index("sale.reject"), actions
            # A reminder recorded before the rejection may be dropped, never doubled.
            assert len(thread_replies(stack, sale_id)) <= 1
    finally:
        for worker in sweepers:
            worker.db.engine.dispose()


def test_twenty_overdue_sales_after_downtime_remind_before_they_escalate(
    stack: Stack, clock: ManualClock
) -> None:
    """Back after 3 hours down: each sale's reminder comes before its escalation in its
    thread, and each sale is asked once."""
    sale_ids = [submit_at(stack, "downtown") for _ in range(20)]
    settled(stack)
    clock.advance(hours=3)
    taken = [a.reason for a in stack.frontdesk.reminders.sweep()]
    settled(stack)
    assert taken.count(AskReason.REMINDER) == taken.count(AskReason.ESCALATION) == 20
    for sale_id in sale_ids:
        texts = [r["text"][:6] for r in thread_replies(stack, sale_id)]
        assert texts == [":bell:", ":rotat"], texts

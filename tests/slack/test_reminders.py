"""Issue 18 item 1: a pending sale nobody decides reminds the location's managers (30
minutes), then escalates to its escalation group (2 hours), with a controlled clock,
end to end: the real app over signed requests, the fake Slack, real databases.

The vendor worker is not started here: each test runs the housekeeping sweep itself,
at the moments it chooses (the notifier runs, and delivers through the fake Slack)."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.devtools.sale_steps import (
    APPROVALS,
    approve,
    change,
    open_review,
    request_approval,
    sale,
)
from bot.devtools.stack import LOCATIONS_YAML, TEAM, Stack, wait_for
from bot.slack.ids import SaleAction
from bot.workflows.outbox import NoticeKind, NoticeStatus, Outbox
from bot.workflows.reminders import AskReason, Reminders
from bot.workflows.roles import Actor, Role, Roles
from bot.workflows.sales import PaymentInput, SaleDetails, SaleStart, SaleStatus
from storage.db import Database
from storage.models import AuditEvent, GroupMembership, Notice, SaleAsk

#: Monday 30 November 2026, 10:00 in New York (downtown's time zone): working hours.
MORNING = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
#: The same day, 20:45 in New York: a quarter of an hour before quiet hours.
EVENING = datetime(2026, 12, 1, 1, 45, tzinfo=UTC)
QUIET = '    quiet_hours: {start: "21:00", end: "07:00"}\n'


def locations(escalation: str = "S0LEADS", quiet: bool = False) -> str:
    old = "    escalation_group: S0LEADS\n"
    assert old in LOCATIONS_YAML
    return LOCATIONS_YAML.replace(old, f"    escalation_group: {escalation}\n" + (QUIET * quiet))


def make_stack(database_url: str, workdir: Path, clock: ManualClock, **kwargs: Any) -> Stack:
    workdir.mkdir(exist_ok=True)
    running = Stack(
        workdir=workdir, database_url=database_url, clock=clock, start_worker=False, **kwargs
    )
    # Slack's clock is the app's, as in life (message timestamps, history lookups).
    running.slack.clock = lambda: clock.now().timestamp()
    return running


def staffed(running: Stack) -> Stack:
    running.grant("UFRONT", Role.FRONT_DESK, "downtown")
    running.grant("UMANAGER", Role.MANAGER, "downtown")
    running.grant("UMANAGER2", Role.MANAGER, "downtown")
    running.grant("USELLER", Role.MANAGER, "sparkle")  # a manager elsewhere: not reminded
    return running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MORNING)


@pytest.fixture
def stack(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Stack]:
    running = staffed(make_stack(database_url, tmp_path, clock))
    yield running
    running.stop()
    assert running.slack.invalid == [], "the app sent Slack an invalid view or blocks"


# -- reading what happened ------------------------------------------------------------------
def thread_replies(stack: Stack, sale_id: str) -> list[dict[str, Any]]:
    ts = sale(stack, sale_id).approval_ts
    return [m for m in stack.slack.messages_in(APPROVALS) if m["thread_ts"] == ts]


def dms(stack: Stack, user: str) -> list[str]:
    return [str(m["text"]) for m in stack.slack.messages_in("D" + user[1:])]


def requester_dm(stack: Stack, sale_id: str) -> str:
    record = sale(stack, sale_id)
    message = stack.slack.message(str(record.dm_channel_id), str(record.dm_ts))
    return json.dumps(message["blocks"])


def audit_actions(stack: Stack, sale_id: str) -> list[str]:
    with stack.frontdesk.db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == sale_id)
                .order_by(AuditEvent.id)
            )
        )


def asks_notices(stack: Stack) -> int:
    with stack.frontdesk.db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Notice)
                .where(Notice.kind.in_([NoticeKind.SALE_REMINDER, NoticeKind.SALE_ESCALATION]))
            )
            or 0
        )


def _undelivered(stack: Stack) -> int:
    with stack.frontdesk.db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Notice)
                .where(
                    Notice.kind.like("sale.%"),
                    Notice.status.in_([NoticeStatus.PENDING, NoticeStatus.SENDING]),
                )
            )
            or 0
        )


def settled(stack: Stack) -> None:
    """Every sale notice recorded so far delivered (or dropped) by the notifier."""
    wait_for(lambda: _undelivered(stack) == 0, 15.0)


def reminders_of(stack: Stack, db: Database, **kwargs: Any) -> Reminders:
    """Another worker's sweep over ``db`` (its own engine: as another process's)."""
    settings = stack.frontdesk.services.settings
    clock = stack.frontdesk.clock
    return Reminders(
        db=db,
        clock=clock,
        roles=Roles(clock=clock, usergroup_roles=settings.load_usergroup_roles()),
        locations=stack.frontdesk.services.locations,
        outbox=Outbox(db=db, clock=clock, signals=stack.frontdesk.services.outbox.signals),
        remind_after_minutes=settings.sale_reminder_minutes,
        escalate_after_minutes=settings.sale_escalation_minutes,
        **kwargs,
    )


def sweep(stack: Stack) -> list[AskReason]:
    taken = [asked.reason for asked in stack.frontdesk.reminders.sweep()]
    settled(stack)
    return taken


# -- the story ------------------------------------------------------------------------------
def test_reminder_at_30_minutes_then_escalation_at_2_hours(
    stack: Stack, clock: ManualClock
) -> None:
    sale_id = request_approval(stack)
    open_review(stack, "UMANAGER", sale_id)  # UMANAGER has seen it; UMANAGER2 has not
    settled(stack)
    assert "Who has been asked" in requester_dm(stack, sale_id)
    assert "Sent for approval <!date^" in requester_dm(stack, sale_id)
    assert "in <#C0APPROVALS>" in requester_dm(stack, sale_id)

    clock.advance(minutes=29, seconds=59)
    assert sweep(stack) == []
    assert thread_replies(stack, sale_id) == [] and dms(stack, "UMANAGER2") == []

    clock.advance(seconds=1)  # 30 minutes
    assert sweep(stack) == [AskReason.REMINDER]
    [reply] = thread_replies(stack, sale_id)
    assert reply["text"].startswith(":bell: Still waiting for a decision since <!date^")
    assert "Reminded by direct message: 1 manager who has not opened it yet." in reply["text"]
    assert SaleAction.REVIEW in json.dumps(reply["blocks"])
    [reminder] = dms(stack, "UMANAGER2")
    assert reminder.startswith(":bell: A sale waits for your decision since <!date^")
    assert "requested by <@UFRONT>" in reminder and "Monthly Basic" in reminder
    assert "jane.walker@example.com" not in reminder  # masked, as in the channel
    assert dms(stack, "UMANAGER") == []  # already opened it
    # Review right from the direct message, on a phone: the approval modal.
    dm = stack.slack.messages_in("DMANAGER2")[0]
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click("UMANAGER2", SaleAction.REVIEW, sale_id, channel="DMANAGER2", ts=dm["ts"])
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    assert "Approve" in json.dumps(stack.slack.last_view())
    assert dms(stack, "USELLER") == []  # another location's manager
    asked = requester_dm(stack, sale_id)
    stamp = int(clock.now().timestamp())
    assert f"Reminder <!date^{stamp}^" in asked
    assert "in the approval thread, and by direct message <@UMANAGER2>" in asked
    assert audit_actions(stack, sale_id).count("sale.remind") == 1

    clock.advance(minutes=89, seconds=59)  # 1:59:59 since the request
    assert sweep(stack) == []
    clock.advance(seconds=1)
    assert sweep(stack) == [AskReason.ESCALATION]
    replies = thread_replies(stack, sale_id)
    assert len(replies) == 2
    assert replies[-1]["text"].startswith(":rotating_light: Escalated to <!subteam^S0LEADS>")
    asked = requester_dm(stack, sale_id)
    assert f"Escalated <!date^{int(clock.now().timestamp())}^" in asked
    assert "to <!subteam^S0LEADS>" in asked
    assert audit_actions(stack, sale_id).count("sale.escalate") == 1
    with stack.frontdesk.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sale.escalate")
        ).one()
    assert event.actor == "frontdesk" and event.details["usergroup"] == "S0LEADS"

    # Nothing more, however long it waits (until it expires).
    for hours in (1, 5, 15):
        clock.advance(hours=hours)
        assert sweep(stack) == []
    assert len(thread_replies(stack, sale_id)) == 2 and len(dms(stack, "UMANAGER2")) == 1

    # Approved at last: the "who has been asked" list leaves the requester's DM.
    approve(stack, "UMANAGER2", open_review(stack, "UMANAGER2", sale_id))
    wait_for(lambda: sale(stack, sale_id).status == SaleStatus.APPROVED)
    settled(stack)
    assert "Who has been asked" not in requester_dm(stack, sale_id)


def test_escalation_to_people_named_in_the_locations_file(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    running = staffed(
        make_stack(
            database_url, tmp_path, clock, locations_yaml=locations("[UAREA1, UAREA2, UFRONT]")
        )
    )
    try:
        sale_id = request_approval(running)
        clock.advance(hours=2)
        # Both due at once (nobody swept in between): the reminder, then the escalation.
        assert sweep(running) == [AskReason.REMINDER, AskReason.ESCALATION]
        reply = thread_replies(running, sale_id)[-1]["text"]
        assert reply.startswith(":rotating_light: Escalated to <@UAREA1>, <@UAREA2>:")
        for person in ("UAREA1", "UAREA2"):
            [dm] = dms(running, person)
            assert dm.startswith(":rotating_light: Escalated to you: nobody has decided")
        # The requester is never asked to decide their own sale.
        assert not any("Escalated to you" in text for text in dms(running, "UFRONT"))
        assert "Escalated <!date^" in requester_dm(running, sale_id)
        assert "to <@UAREA1>, <@UAREA2>" in requester_dm(running, sale_id)
        # Both managers had not opened it: each got the reminder.
        assert len(dms(running, "UMANAGER")) == len(dms(running, "UMANAGER2")) == 1
    finally:
        running.stop()
    assert running.slack.invalid == []


def test_a_location_without_an_escalation_group_is_only_reminded(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    yaml = LOCATIONS_YAML.replace("    escalation_group: S0LEADS\n", "")
    running = staffed(make_stack(database_url, tmp_path, clock, locations_yaml=yaml))
    try:
        sale_id = request_approval(running)
        clock.advance(hours=3)
        assert sweep(running) == [AskReason.REMINDER]
        assert len(thread_replies(running, sale_id)) == 1
    finally:
        running.stop()


def test_a_changed_sale_is_asked_about_again_from_its_change(
    stack: Stack, clock: ManualClock
) -> None:
    sale_id = request_approval(stack)
    clock.advance(minutes=30)
    assert sweep(stack) == [AskReason.REMINDER]
    clock.advance(minutes=20)
    assert change(stack, sale_id, promo_code="SPRING").text == ""
    clock.advance(minutes=29)  # 79 minutes since the request, 29 since the change
    assert sweep(stack) == []
    clock.advance(minutes=1)
    assert sweep(stack) == [AskReason.REMINDER]
    assert audit_actions(stack, sale_id).count("sale.remind") == 2


# -- stopping the moment it is decided -------------------------------------------------------
def _approve(stack: Stack, sale_id: str) -> None:
    approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id))
    wait_for(lambda: sale(stack, sale_id).status == SaleStatus.APPROVED)


def _reject(stack: Stack, sale_id: str) -> None:
    manager = Actor(team_id=TEAM, user_id="UMANAGER")
    assert stack.frontdesk.services.sales.reject(manager, sale_id, "wrong package")


def _withdraw(stack: Stack, sale_id: str) -> None:
    record = sale(stack, sale_id)
    stack.driver.click(
        "UFRONT", SaleAction.WITHDRAW, sale_id, channel=record.dm_channel_id, ts=record.dm_ts
    )
    wait_for(lambda: sale(stack, sale_id).status == SaleStatus.CANCELLED)


DECISIONS: dict[str, Callable[[Stack, str], None]] = {
    "approve": _approve,
    "reject": _reject,
    "withdraw": _withdraw,
}


@pytest.mark.parametrize("decision", sorted(DECISIONS))
@pytest.mark.parametrize("when", ["before the reminder", "between reminder and escalation"])
def test_no_reminder_after_a_decision(
    stack: Stack, clock: ManualClock, decision: str, when: str
) -> None:
    sale_id = request_approval(stack)
    if when != "before the reminder":
        clock.advance(minutes=31)
        assert sweep(stack) == [AskReason.REMINDER]
    DECISIONS[decision](stack, sale_id)
    settled(stack)
    before = len(thread_replies(stack, sale_id)), asks_notices(stack)
    for minutes in (30, 90, 600):
        clock.advance(minutes=minutes)
        assert sweep(stack) == []
    assert (len(thread_replies(stack, sale_id)), asks_notices(stack)) == before
    assert "sale.escalate" not in audit_actions(stack, sale_id)


def test_no_reminder_once_expired_even_before_the_expiry_sweep(
    stack: Stack, clock: ManualClock
) -> None:
    sale_id = request_approval(stack)
    clock.advance(hours=24, seconds=1)  # nobody swept for a day: every step is overdue
    assert sweep(stack) == []
    assert thread_replies(stack, sale_id) == [] and asks_notices(stack) == 0


def test_a_reminder_queued_before_a_decision_is_dropped_not_sent(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """The reminder is recorded, then the manager rejects before the notifier comes to
    it (here: the process's notifier stopped; another process delivers the notices)."""
    first, restarted = staffed(make_stack(database_url, tmp_path / "one", clock)), None
    try:
        sale_id = request_approval(first)
        settled(first)
        first.frontdesk.notifier.stop()
        clock.advance(minutes=30)
        assert [a.reason for a in first.frontdesk.reminders.sweep()] == [AskReason.REMINDER]
        manager = Actor(team_id=TEAM, user_id="UMANAGER")
        assert first.frontdesk.services.sales.reject(manager, sale_id, "wrong package")
        assert asks_notices(first) == 3  # the thread reply and two DMs, waiting
        first.frontdesk.close()
        restarted = restart(first, database_url, tmp_path / "two", clock)
        settled(restarted)
        record = sale(restarted, sale_id)
        rejection = restarted.slack.message(
            str(record.approval_channel_id), str(record.approval_ts)
        )
        assert "Rejected" in json.dumps(rejection["blocks"])  # the notifier did run
        assert thread_replies(restarted, sale_id) == []
        assert dms(restarted, "UMANAGER2") == [] and dms(restarted, "UMANAGER") == []
        # The audit trail keeps that the reminder was taken (and when it was decided).
        assert audit_actions(restarted, sale_id)[-2:] == ["sale.remind", "sale.reject"]
    finally:
        stop(first, restarted)


def restart(first: Stack, database_url: str, workdir: Path, clock: ManualClock) -> Stack:
    """Another process on the same database and Slack workspace, after ``first`` ended."""
    return make_stack(database_url, workdir, clock, shared_slack=first.slack)


def stop(first: Stack, restarted: Stack | None) -> None:
    if restarted is not None:
        restarted.stop()
        assert restarted.slack.invalid == []
    first.stop()


# -- quiet hours ------------------------------------------------------------------------------
def test_quiet_hours_hold_reminders_until_their_end(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(EVENING)  # 20:45 in New York; quiet from 21:00 to 07:00
    running = staffed(
        make_stack(database_url, tmp_path, clock, locations_yaml=locations(quiet=True))
    )
    try:
        sale_id = request_approval(running)
        clock.advance(minutes=30)  # 21:15: the reminder is due, inside quiet hours
        assert sweep(running) == []
        clock.advance(hours=2)  # 23:15: the escalation is due too
        assert sweep(running) == []
        clock.advance(hours=7, minutes=44, seconds=59)  # 06:59:59
        assert sweep(running) == []
        assert thread_replies(running, sale_id) == [] and asks_notices(running) == 0
        clock.advance(seconds=1)  # 07:00: both, at the end of the quiet hours
        assert sweep(running) == [AskReason.REMINDER, AskReason.ESCALATION]
        assert len(thread_replies(running, sale_id)) == 2
        assert sweep(running) == []
    finally:
        running.stop()
    assert running.slack.invalid == []


UPTOWN = """\
  - id: uptown
    name: Uptown Fitness
    vendor: clubready
    store_id: 102
    chain_id: 1
    api_key_env: FRONTDESK_DEMO_CLUBREADY_KEY
    triage_channel: C0TRIAGE
    approvals_channel: C0APPROVALS
    timezone: America/New_York
    quiet_hours: {start: "09:00", end: "12:00"}
    catalog:
      - {package_id: 2001, installment_plan_id: 3001, name: Monthly Basic, amount: "49.00"}
"""


def submit_at(stack: Stack, location_id: str) -> str:
    """A sale submitted for approval at ``location_id`` (through the workflow)."""
    sales = stack.frontdesk.services.sales
    requester = Actor(team_id=TEAM, user_id="UFRONT")
    draft = sales.start(
        requester,
        SaleStart(
            location_id=location_id,
            package="2001:3001",
            start_date=sales.today_at(stack.frontdesk.services.locations[location_id]),
        ),
    )
    details = SaleDetails(
        member={"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"},
        payments=(PaymentInput(amount="49.00", token="tok_profile_1111", kind="profile"),),
    )
    added = sales.add_details(requester, draft.id, details)
    sales.submit(requester, added.id, added.fingerprint)
    return added.id


def test_sales_in_quiet_hours_do_not_hold_up_others(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """Quiet locations are left out of the due query: however many of their sales wait
    (here more than one sweep's batch), another location's are reminded on time."""
    yaml = LOCATIONS_YAML.replace("  - id: sparkle\n", UPTOWN + "  - id: sparkle\n", 1)
    running = staffed(make_stack(database_url, tmp_path, clock, locations_yaml=yaml))
    try:
        running.grant("UFRONT", Role.FRONT_DESK, "uptown")
        running.grant("UUPTOWN", Role.MANAGER, "uptown")
        quiet = submit_at(running, "uptown")  # 10:00 in New York: uptown is quiet
        clock.advance(minutes=1)
        loud = submit_at(running, "downtown")
        clock.advance(minutes=30)
        one_at_a_time = reminders_of(running, running.frontdesk.db, batch=1)
        assert [(a.sale_id, a.reason) for a in one_at_a_time.sweep()] == [
            (loud, AskReason.REMINDER)
        ]
        clock.advance(hours=1, minutes=29)  # 12:00: uptown's quiet hours are over
        taken = [(a.sale_id, a.reason) for a in one_at_a_time.sweep()]
        assert taken == [(quiet, AskReason.REMINDER)]
        settled(running)
        assert len(dms(running, "UUPTOWN")) == 1
    finally:
        running.stop()


def test_managers_by_user_group_are_reminded(stack: Stack, clock: ManualClock) -> None:
    """The configuration maps S0MANAGERS to managers at downtown: its members (as last
    synced from Slack) are reminded like managers granted in frontdesk."""
    with stack.frontdesk.db.session() as session:
        session.add(
            GroupMembership(
                org_id=TEAM, usergroup_id="S0MANAGERS", user_id="UGROUPED", refreshed_at=MORNING
            )
        )
        session.add(
            GroupMembership(
                org_id=TEAM, usergroup_id="S0SUPPORT", user_id="USUPPORTER", refreshed_at=MORNING
            )
        )
    request_approval(stack)
    clock.advance(minutes=30)
    assert sweep(stack) == [AskReason.REMINDER]
    assert len(dms(stack, "UGROUPED")) == 1
    assert dms(stack, "USUPPORTER") == []  # support never approves sales


# -- once, whatever the processes and restarts ----------------------------------------------
def test_a_restart_in_the_middle_of_an_escalation_neither_loses_nor_repeats_it(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    first, restarted = staffed(make_stack(database_url, tmp_path / "one", clock)), None
    try:
        sale_id = request_approval(first)
        clock.advance(minutes=30)
        assert sweep(first) == [AskReason.REMINDER]
        first.frontdesk.notifier.stop()
        clock.advance(minutes=90)
        assert [a.reason for a in first.frontdesk.reminders.sweep()] == [AskReason.ESCALATION]
        first.frontdesk.close()  # the process ends: the escalation recorded, not delivered
        assert len(thread_replies(first, sale_id)) == 1
        restarted = restart(first, database_url, tmp_path / "two", clock)
        assert sweep(restarted) == []  # not taken again
        settled(restarted)
        replies = thread_replies(restarted, sale_id)
        assert [r["text"][:16] for r in replies] == [":bell: Still wai", ":rotating_light:"]
        assert "Escalated <!date^" in requester_dm(restarted, sale_id)
        clock.advance(hours=3)
        assert sweep(restarted) == []
        assert len(thread_replies(restarted, sale_id)) == 2
        assert audit_actions(restarted, sale_id).count("sale.escalate") == 1
    finally:
        stop(first, restarted)


def test_two_workers_racing_ask_once(stack: Stack, clock: ManualClock, database_url: str) -> None:
    """Workers of separate processes (each its own engine and connections) sweep at the
    same moment, many times: each reminder and escalation is taken once."""
    sale_ids = [request_approval(stack) for _ in range(3)]
    workers = [reminders_of(stack, Database(database_url)) for _ in range(4)]
    try:
        taken: list[tuple[str, AskReason]] = []
        errors: list[BaseException] = []
        for minutes in (30, 90):
            clock.advance(minutes=minutes)
            start = threading.Barrier(len(workers))

            def run(worker: Reminders, start: threading.Barrier) -> None:
                try:
                    start.wait()
                    for _ in range(3):
                        taken.extend((a.sale_id, a.reason) for a in worker.sweep())
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(w, start)) for w in workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert errors == []
        assert sorted(taken) == sorted(
            (s, r) for s in sale_ids for r in (AskReason.REMINDER, AskReason.ESCALATION)
        )
        settled(stack)
        for sale_id in sale_ids:
            assert len(thread_replies(stack, sale_id)) == 2
            actions = audit_actions(stack, sale_id)
            assert actions.count("sale.remind") == actions.count("sale.escalate") == 1
        # Two managers reminded per sale, by one DM each.
        assert len(dms(stack, "UMANAGER")) == len(dms(stack, "UMANAGER2")) == len(sale_ids)
        with stack.frontdesk.db.session() as session:
            reasons = session.scalars(
                select(SaleAsk.reason).where(SaleAsk.reason != "request")
            ).all()
        # Per sale: the reminder's thread row and two managers; the escalation's thread
        # row and its user group.
        assert sorted(reasons).count("reminder") == 3 * len(sale_ids)
        assert sorted(reasons).count("escalation") == 2 * len(sale_ids)
    finally:
        for worker in workers:
            worker.db.engine.dispose()


def _sweep_in_a_process(
    database_url: str, locations_file: str, now: str, start_at: float
) -> list[tuple[str, str]]:
    """A separate process's worker: its own interpreter, engine and connections, the
    same database and configuration, its clock at ``now``; sweeps from ``start_at``."""
    from bot.config import load_locations, load_usergroup_roles
    from bot.workflows.outbox import Signals

    clock = ManualClock(datetime.fromisoformat(now))
    db = Database(database_url)
    path = Path(locations_file)
    reminders = Reminders(
        db=db,
        clock=clock,
        roles=Roles(clock=clock, usergroup_roles=load_usergroup_roles(path)),
        locations=load_locations(path),
        outbox=Outbox(db=db, clock=clock, signals=Signals()),
    )
    while time.time() < start_at:
        time.sleep(0.005)
    taken = [(a.sale_id, a.reason.value) for _ in range(3) for a in reminders.sweep()]
    db.engine.dispose()
    return taken


def test_worker_processes_racing_ask_once(
    stack: Stack, clock: ManualClock, database_url: str
) -> None:
    """Real processes (spawned interpreters) sweep the same due sales at the same moment."""
    sale_ids = [request_approval(stack) for _ in range(2)]
    taken: list[tuple[str, str]] = []
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        for minutes in (30, 90):
            clock.advance(minutes=minutes)
            start_at = time.time() + 8  # after every process has started and loaded
            args = (database_url, str(stack.locations_file), clock.now().isoformat(), start_at)
            runs = [pool.submit(_sweep_in_a_process, *args) for _ in range(3)]
            taken += [item for run in runs for item in run.result(timeout=120)]
    assert sorted(taken) == sorted((s, r) for s in sale_ids for r in ("reminder", "escalation"))
    settled(stack)
    for sale_id in sale_ids:
        assert len(thread_replies(stack, sale_id)) == 2
        actions = audit_actions(stack, sale_id)
        assert actions.count("sale.remind") == actions.count("sale.escalate") == 1
    assert len(dms(stack, "UMANAGER")) == len(dms(stack, "UMANAGER2")) == len(sale_ids)

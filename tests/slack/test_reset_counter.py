"""Issue 16, items 1-3, end to end (signed requests → the real app → sandbox vendors →
the fake Slack): the confirmation where the person is, their own input in full on
their private screens (masked everywhere else), and the words after /reset, /sell and
/frontdesk read as meant. Each test asserts what the person sees."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.devtools.reset_steps import Person, blocks_text, is_screen, request_id_of, view_text
from bot.devtools.stack import Stack
from bot.slack.ids import Command, ResetAction, ResetView
from bot.workflows.outbox import NoticeStatus
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Role
from storage.models import Notice, ResetRequest
from tests.slack.helpers import last_message_to, message_text, wait_for
from vendors.sandbox import Fault

DM = "DFRONT"


def dm_record(stack: Stack, request_id: str) -> str:
    request = stack.frontdesk.services.resets.get(request_id)
    assert request is not None and request.message_ts
    return message_text(stack, DM, request.message_ts)


def count_requests(stack: Stack) -> int:
    with stack.frontdesk.db.session() as session:
        return session.query(ResetRequest).count()


# -- item 1: the confirmation where the person is -----------------------------------------


def test_reset_from_a_channel_confirms_there_and_shows_the_outcome_there(stack: Stack) -> None:
    fran = Person(stack)
    shown = fran.reset_in_channel("jane@example.com")
    words = blocks_text(shown["blocks"])
    # Before: nothing came back in the channel; the confirmation went to the DM, masked.
    assert words == (
        "Reset the password of `jane@example.com` at *Downtown Fitness* (ClubReady)? "
        "[Send] [Cancel]"
    )
    request_id = request_id_of(shown["blocks"])
    fran.tap_on_message(shown, ResetAction.SEND)
    assert fran.settled(request_id).status == ResetStatus.SENT
    seen = wait_for(
        lambda: (
            "Reset sent" in blocks_text(fran.sees_message(shown)["blocks"])
            and fran.sees_message(shown)
        )
    )
    assert blocks_text(seen["blocks"]) == (
        ":white_check_mark: Reset sent for `jane@example.com` at *Downtown Fitness* "
        "(ClubReady) to j•••@example.com. "
        "The record stays in your messages with frontdesk (the member masked)."
    )
    # The DM keeps the record, masked.
    wait_for(lambda: "Reset sent" in dm_record(stack, request_id))
    assert "jane@" not in str(stack.slack.messages_in(DM))
    assert "j•••@example.com" in dm_record(stack, request_id)
    assert len(stack.sandbox.received("clubready", "password_reset")) == 1


def test_reset_from_the_modal_confirms_in_the_modal(stack: Stack) -> None:
    fran = Person(stack)
    form = fran.open_modal()
    assert form["submit"]["text"] == "Next"  # was "Review", and the modal just closed
    confirm = fran.next_view(form, {ResetAction.EMAIL: "jane@example.com"})
    assert view_text(confirm) == (
        "«Confirm the reset» Reset the password of `jane@example.com` at *Downtown Fitness* "
        "(ClubReady)? Check the member as you typed it: the vendor emails a reset link to "
        "them. [Send] [Back]"
    )
    request_id = request_id_of(confirm["blocks"])
    fran.tap_in_modal(confirm, ResetAction.SEND)
    fran.settled(request_id)
    outcome = wait_for(
        lambda: "Reset sent" in view_text(fran.sees_modal(confirm)) and fran.sees_modal(confirm)
    )
    assert is_screen(outcome) and outcome["clear_on_close"] is True
    assert view_text(outcome) == (
        "«Reset a password» :white_check_mark: Reset sent for `jane@example.com` at "
        "*Downtown Fitness* (ClubReady) to j•••@example.com. The record stays in your "
        "messages with frontdesk (the member masked). [Done]"
    )
    wait_for(lambda: "Reset sent" in dm_record(stack, request_id))
    assert "jane@" not in str(stack.slack.messages_in(DM))


def test_back_from_the_confirmation_keeps_the_form_to_fix_a_typo(stack: Stack) -> None:
    fran = Person(stack)
    form = fran.open_modal()
    response = fran.submit(form, {ResetAction.EMAIL: "jnae@example.com"})
    answer = response.json()
    # Pushed, not replacing: Slack's Back returns to the form as it was left.
    assert answer["response_action"] == "push"
    assert answer["view"]["close"]["text"] == "Back" and "submit" not in answer["view"]
    typo = stack.slack.acknowledged_view(form, answer)
    typo_id = request_id_of(typo["blocks"])
    # Back: Slack tells the app (notify_on_close); the unsent draft is dropped.
    assert stack.driver.view_closed("UFRONT", typo).status_code == 200
    wait_for(lambda: fran.request(typo_id).status == ResetStatus.CANCELLED)
    wait_for(lambda: "Cancelled" in dm_record(stack, typo_id))
    confirm = fran.next_view(form, {ResetAction.EMAIL: "jane@example.com"})
    fran.tap_in_modal(confirm, ResetAction.SEND)
    assert fran.settled(request_id_of(confirm["blocks"])).status == ResetStatus.SENT
    # A Back after Send changes nothing: the Send stands.
    stack.driver.view_closed("UFRONT", confirm)
    time.sleep(0.3)
    assert fran.request(request_id_of(confirm["blocks"])).status == ResetStatus.SENT
    assert len(stack.sandbox.received("clubready", "password_reset")) == 1


def test_clicks_redeliveries_and_replays_stay_one_send(stack: Stack) -> None:
    fran = Person(stack)
    shown = fran.reset_in_channel("jane@example.com")
    request_id = request_id_of(shown["blocks"])
    fran.tap_on_message(shown, ResetAction.SEND)
    replay = stack.driver.last
    fran.tap_on_message(shown, ResetAction.SEND)
    assert replay is not None and stack.driver.replay(replay).status_code == 200  # refused quietly
    form = fran.open_modal()
    confirm = fran.next_view(form, {ResetAction.EMAIL: "jane@example.com"})
    modal_id = request_id_of(confirm["blocks"])
    for _ in range(3):
        fran.tap_in_modal(confirm, ResetAction.SEND)
    fran.settled(request_id)
    fran.settled(modal_id)
    time.sleep(0.5)
    assert len(stack.sandbox.received("clubready", "password_reset")) == 2


def test_a_spent_response_url_falls_back_to_the_dm_record(stack: Stack) -> None:
    stack.sandbox.inject(Fault("latency", vendor="clubready", seconds=1.0))
    fran = Person(stack)
    shown = fran.reset_in_channel("jane@example.com")
    request_id = request_id_of(shown["blocks"])
    fran.tap_on_message(shown, ResetAction.SEND)
    wait_for(lambda: fran.request(request_id).status != ResetStatus.DRAFT)
    stack.slack.expire_response_urls()  # 30 minutes later, say
    fran.settled(request_id)
    wait_for(lambda: "Reset sent" in dm_record(stack, request_id))
    time.sleep(0.5)
    assert "Reset sent" not in blocks_text(fran.sees_message(shown)["blocks"])
    # Not an incident: the screen is short-lived and the DM has the outcome.
    with stack.frontdesk.db.session() as session:
        abandoned = session.query(Notice).filter(Notice.status == NoticeStatus.ABANDONED).count()
    assert abandoned == 0


def test_cancel_on_the_private_message(stack: Stack) -> None:
    fran = Person(stack)
    shown = fran.reset_in_channel("jane@example.com sparkle")
    request_id = request_id_of(shown["blocks"])
    fran.tap_on_message(shown, ResetAction.CANCEL)
    seen = wait_for(
        lambda: (
            "Cancelled" in blocks_text(fran.sees_message(shown)["blocks"])
            and fran.sees_message(shown)
        )
    )
    assert blocks_text(seen["blocks"]).startswith(
        "Cancelled: no reset sent for `jane@example.com` at *Sparkle Car Wash* (Registrar)."
    )
    assert fran.request(request_id).status == ResetStatus.CANCELLED
    assert stack.sandbox.received() == []


def test_the_hourly_limit_shows_on_the_private_message(stack: Stack) -> None:
    fran = Person(stack)
    for _ in range(3):
        shown = fran.reset_in_channel("jane@example.com")
        fran.tap_on_message(shown, ResetAction.SEND)
        fran.settled(request_id_of(shown["blocks"]))
    shown = fran.reset_in_channel("jane@example.com")
    fran.tap_on_message(shown, ResetAction.SEND)
    seen = wait_for(
        lambda: (
            "already been sent" in blocks_text(fran.sees_message(shown)["blocks"])
            and fran.sees_message(shown)
        )
    )
    assert blocks_text(seen["blocks"]) == (
        ":no_entry: `jane@example.com` at *Downtown Fitness* (ClubReady) has already been "
        "sent 3 resets in the last hour. Ask the member to check their spam folder, or ask "
        "support. [Cancel]"
    )


# -- item 2: their own input in full where only they see it; masked where it stays ---------


def test_full_on_private_screens_masked_in_the_record_and_triage(stack: Stack) -> None:
    fran = Person(stack)
    shown = fran.reset_in_channel("ghost@example.com")
    assert "`ghost@example.com`" in blocks_text(shown["blocks"])
    request_id = request_id_of(shown["blocks"])
    # A refusal support must look at (a member the vendor does not know is not one).
    stack.sandbox.inject(Fault("success_false", vendor="clubready", message="Brand is suspended."))
    fran.tap_on_message(shown, ResetAction.SEND)
    assert fran.settled(request_id).status == ResetStatus.REFUSED
    seen = wait_for(
        lambda: (
            "refused" in blocks_text(fran.sees_message(shown)["blocks"])
            and fran.sees_message(shown)
        )
    )
    assert "`ghost@example.com`" in blocks_text(seen["blocks"])
    triage = last_message_to(stack, "C0TRIAGE")
    assert "g•••@example.com" in str(triage) and "ghost@" not in str(triage)
    wait_for(lambda: "refused" in dm_record(stack, request_id))
    assert "ghost@" not in str(stack.slack.messages_in(DM))
    with stack.frontdesk.db.session() as session:
        audit = session.execute(
            __import__("sqlalchemy").text("select details from audit_events")
        ).all()
    assert "ghost@" not in str(audit)


# -- item 3: the words after /reset, /sell and /frontdesk ----------------------------------


def ack_text(stack: Stack, user: str, command: str, text: str) -> str:
    response = stack.driver.command(user, command, text)
    assert response.status_code == 200
    return str(response.json()["text"]) if response.text else ""


def test_reset_help_is_role_aware_with_examples_for_the_persons_locations(stack: Stack) -> None:
    words = ack_text(stack, "UFRONT", Command.RESET, "help")
    assert (
        "`/reset jane@example.com` asks you to confirm here, privately, at Downtown Fitness"
        in words
    )
    assert "`/reset jane@example.com Sparkle Car Wash` (or `sparkle`, any case)" in words
    assert (
        "• *Bistro Rewards* (`bistro`, Paytronix): an email, a username, an account id or "
        "a printed card number, e.g. `/reset jane@example.com bistro`" in words
    )
    assert "Send anyway" not in words
    support = ack_text(stack, "USUPPORT", Command.RESET, "HELP")
    assert "As support you reset at every location" in support
    assert count_requests(stack) == 0  # "help" is not a member called help


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("downtown", "downtown"),
        ("Sparkle Car Wash", "sparkle"),
        ("PARTNER BISTRO", "partner-bistro"),
    ],
)
def test_a_lone_location_opens_the_modal_there(stack: Stack, text: str, location: str) -> None:
    view = Person(stack).open_modal(text)
    assert view["callback_id"] == ResetView.CALLBACK
    assert view["blocks"][0]["element"]["initial_option"]["value"] == location
    assert count_requests(stack) == 0


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "jane@example.com Downtown Fitness",
            "`jane@example.com` at *Downtown Fitness* (ClubReady)",
        ),
        ("Sparkle car wash jane@example.com", "`jane@example.com` at *Sparkle Car Wash*"),
        ("6000 1000 2000 3000 bistro", "card `6000100020003000` at *Bistro Rewards*"),
        ("7001", "account id `7001` at *Bistro Rewards* (Paytronix)"),
    ],
)
def test_member_and_location_by_id_or_name(stack: Stack, text: str, shown: str) -> None:
    message = Person(stack).reset_in_channel(text)
    assert shown in blocks_text(message["blocks"])


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "jane@example.com Downtwon Fitness",
            ":thinking_face: “Downtwon Fitness” is not one of your locations. Did you mean "
            "Downtown Fitness (`downtown`)?",
        ),
        (
            "downtwon",
            ":thinking_face: “downtwon” is not one of your locations: did you mean Downtown "
            "Fitness (`downtown`)? If it is a member's username, type `/reset` and enter it "
            "in the form.",
        ),
        (
            "jane@example.com nowhere sparkle",
            ":thinking_face: “nowhere” is not one of your locations. Your locations: "
            "Downtown Fitness (`downtown`), Sparkle Car Wash (`sparkle`), Bistro Rewards "
            "(`bistro`), Partner Bistro (`partner-bistro`).",
        ),
        (
            "7001 sparkle",
            ":thinking_face: “7001” looks like an account id, and Sparkle Car Wash (Registrar) "
            "finds members by an email. Nothing was started.",
        ),
        (
            "jane@example.com downtown sparkle",
            ":thinking_face: Name one location at a time: you named Downtown Fitness and "
            "Sparkle Car Wash.",
        ),
        ("abc", ":warning: “abc”: A username is 4 to 255 characters long."),
        (
            "jane@example..com",
            ":warning: “jane@example..com”: This is not a valid email address (like "
            "jane@example.com).",
        ),
    ],
)
def test_words_not_understood_are_pointed_out_and_nothing_started(
    stack: Stack, text: str, said: str
) -> None:
    assert ack_text(stack, "UFRONT", Command.RESET, text) == said
    assert count_requests(stack) == 0
    assert stack.slack.messages_in(DM) == []


def test_sell_help_and_locations(stack: Stack) -> None:
    front = ack_text(stack, "UFRONT", Command.SELL, "help")
    assert "• *Downtown Fitness* (`downtown`, ClubReady): Monthly Basic $49.00" in front
    assert "a manager of the location approves each sale before it is charged" in front
    manager = ack_text(stack, "UMANAGER", Command.SELL, "help")
    assert "you may sell now, without approval, up to $100.00" in manager
    assert ack_text(stack, "UFRONT", Command.SELL, "downtwon") == (
        ":thinking_face: “downtwon” is not one of your locations. Did you mean Downtown "
        "Fitness (`downtown`)? `/sell help` shows examples."
    )
    assert ack_text(stack, "UFRONT", Command.SELL, "sparkle") == (
        ":thinking_face: Sparkle Car Wash does not sell memberships through frontdesk. You "
        "sell at Downtown Fitness (`downtown`). `/sell help` shows examples."
    )
    before = len(stack.slack.calls_to("views.open"))
    assert ack_text(stack, "UFRONT", Command.SELL, "Downtown Fitness") == ""
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)


def test_frontdesk_help_matches_the_persons_roles(stack: Stack) -> None:
    front = ack_text(stack, "UFRONT", Command.FRONTDESK, "help")
    assert "`/reset jane@example.com`" in front and "`/sell`" in front
    assert "history" not in front and "roles" not in front
    support = ack_text(stack, "USUPPORT", Command.FRONTDESK, "")
    assert "`/frontdesk history jane@example.com`" in support and "`/sell`" not in support
    nobody = ack_text(stack, "UNOBODY", Command.FRONTDESK, "help")
    assert "You can't reset members' passwords" in nobody and "(its admin)" in nobody
    odd = ack_text(stack, "UFRONT", Command.FRONTDESK, "histroy jane@example.com")
    assert odd.startswith(":thinking_face: `/frontdesk` does not know “histroy”.")


# -- the taps the common tasks take --------------------------------------------------------


def test_taps_for_a_reset_from_a_channel_and_from_the_modal(stack: Stack) -> None:
    """README ("How a reset works") states these counts."""
    fran = Person(stack)
    shown = fran.reset_in_channel("jane@example.com")
    fran.tap_on_message(shown, ResetAction.SEND)
    fran.settled(request_id_of(shown["blocks"]))
    wait_for(lambda: "Reset sent" in blocks_text(fran.sees_message(shown)["blocks"]))
    assert fran.taps == 2  # the command, Send
    assert set(fran.places) == {"C0FRONT"}  # no trip to another conversation

    fran = Person(stack)
    form = fran.open_modal()
    confirm = fran.next_view(form, {ResetAction.EMAIL: "jane@example.com"})
    fran.tap_in_modal(confirm, ResetAction.SEND)
    fran.settled(request_id_of(confirm["blocks"]))
    wait_for(lambda: "Reset sent" in view_text(fran.sees_modal(confirm)))
    assert fran.taps == 3  # the command, Next, Send


# -- short-lived screens end quietly: the DM keeps the record ---------------------------------


def abandoned_notices(stack: Stack) -> int:
    with stack.frontdesk.db.session() as session:
        return session.query(Notice).filter(Notice.status == NoticeStatus.ABANDONED).count()


def test_a_modal_closed_before_the_outcome_is_not_an_incident(stack: Stack) -> None:
    stack.sandbox.inject(Fault("latency", vendor="clubready", seconds=1.0))
    fran = Person(stack)
    confirm = fran.next_view(fran.open_modal(), {ResetAction.EMAIL: "jane@example.com"})
    request_id = request_id_of(confirm["blocks"])
    fran.tap_in_modal(confirm, ResetAction.SEND)
    stack.slack.closed_views.add(confirm["id"])  # Done, or the phone locked
    fran.settled(request_id)
    wait_for(lambda: "Reset sent" in dm_record(stack, request_id))

    def screens() -> list[Notice]:
        with stack.frontdesk.db.session() as session:
            return session.query(Notice).filter(Notice.kind == "reset.screen").all()

    wait_for(lambda: all(n.status == NoticeStatus.DONE for n in screens()))
    assert any("not_found" in (n.last_error or "") for n in screens())  # it was tried
    assert abandoned_notices(stack) == 0


def test_the_private_message_is_left_alone_after_30_minutes(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(datetime.now(UTC))
    stack = Stack(workdir=tmp_path, database_url=database_url, clock=clock, start_worker=False)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
        fran = Person(stack)
        shown = fran.reset_in_channel("jane@example.com")
        request_id = request_id_of(shown["blocks"])
        fran.tap_on_message(shown, ResetAction.SEND)
        wait_for(lambda: "Sending" in blocks_text(fran.sees_message(shown)["blocks"]))
        clock.advance(minutes=31)  # the worker was away; Slack no longer takes the URL
        wait_for(lambda: stack.frontdesk.worker.run_once() or True)
        fran.settled(request_id)
        wait_for(lambda: "Reset sent" in dm_record(stack, request_id))
        time.sleep(0.5)
        assert "Sending" in blocks_text(fran.sees_message(shown)["blocks"])
        assert abandoned_notices(stack) == 0
    finally:
        stack.stop()


def test_what_the_person_typed_stays_out_of_the_logs(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Their private screens show it in full; the logs (Bolt's debug record of each
    acknowledgement included) never do."""
    caplog.set_level(logging.DEBUG)
    fran = Person(stack)
    shown = fran.reset_in_channel("maria.lopez@example.com")
    fran.tap_on_message(shown, ResetAction.SEND)
    confirm = fran.next_view(fran.open_modal(), {ResetAction.EMAIL: "maria.lopez@example.com"})
    fran.tap_in_modal(confirm, ResetAction.SEND)
    fran.settled(request_id_of(shown["blocks"]))
    fran.settled(request_id_of(confirm["blocks"]))
    # The sandbox knows no such member: the front desk's to fix, shown where they are.
    wait_for(lambda: "found no member" in view_text(fran.sees_modal(confirm)))
    wait_for(lambda: "found no member" in blocks_text(fran.sees_message(shown)["blocks"]))
    # The screens had it in full...
    assert "`maria.lopez@example.com`" in view_text(fran.sees_modal(confirm))
    # ...the logs, at DEBUG, never.
    assert "Slack request" in caplog.text or caplog.records
    assert "maria.lopez@" not in caplog.text

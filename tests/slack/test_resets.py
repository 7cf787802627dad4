"""Password resets end to end: signed requests → real app → sandbox vendors → fake Slack."""

from __future__ import annotations

import time

import pytest

from bot.devtools.stack import Stack
from bot.slack.ids import Command, ResetAction, ResetView, TriageAction
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Actor, Role
from storage.models import ResetRequest
from tests.slack.helpers import button_value, last_message_to, message_text, new_message, wait_for
from vendors.sandbox import Fault

DM = "DFRONT"  # the fake Slack's DM channel with UFRONT


def stack_actor(user_id: str) -> Actor:
    return Actor(team_id="T0001", user_id=user_id)


def open_modal(stack: Stack, user: str = "UFRONT") -> dict:
    response = stack.driver.command(user, Command.RESET)
    assert response.status_code == 200
    return wait_for(lambda: stack.slack.calls_to("views.open") and stack.slack.last_view())


def choose_location(stack: Stack, view: dict, location_id: str) -> dict:
    before = len(stack.slack.calls_to("views.update"))
    stack.driver.select_in_view(
        "UFRONT", view, ResetView.LOCATION_BLOCK, ResetAction.LOCATION_SELECT, location_id
    )
    wait_for(lambda: len(stack.slack.calls_to("views.update")) > before)
    return stack.slack.views[view["id"]]


def reset(stack: Stack, text: str, user: str = "UFRONT") -> dict:
    """/reset <text> and the confirmation it posts."""
    return new_message(
        stack, "D" + user[1:], lambda: stack.driver.command(user, Command.RESET, text)
    )


def send_and_wait(stack: Stack, user: str = "UFRONT") -> tuple[str, str, str]:
    confirmation = last_message_to(stack, "D" + user[1:])
    request_id = button_value(confirmation, ResetAction.SEND)
    stack.driver.click(
        user, ResetAction.SEND, request_id, channel=confirmation["channel"], ts=confirmation["ts"]
    )
    wait_for(
        lambda: (
            (r := stack.frontdesk.services.resets.get(request_id))
            and r.status not in (ResetStatus.DRAFT, ResetStatus.QUEUED, ResetStatus.SENDING)
        )
    )
    return request_id, confirmation["channel"], confirmation["ts"]


def input_ids(view: dict) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if b["type"] == "input"]


@pytest.mark.parametrize(
    ("location", "fields", "sandbox_vendor", "shown"),
    [
        ("downtown", {ResetAction.EMAIL: "jane@example.com"}, "clubready", "j•••@example.com"),
        ("sparkle", {ResetAction.EMAIL: "jane@example.com"}, "registrar", "j•••@example.com"),
        ("bistro", {ResetAction.CARD: "6000100020003000"}, "paytronix", "•••• 3000"),
        ("partner-bistro", {ResetAction.ACCOUNT: "7001"}, "paytronix", "•••001"),
        # Issue 13, deviation 4: b2b credentials travel in HTTP Basic, so a guest's
        # username is an identifier there too (it was refused after Send).
        ("partner-bistro", {ResetAction.USERNAME: "thirdparty"}, "paytronix", "t•••"),
    ],
)
def test_happy_path_for_every_vendor(
    stack: Stack, location: str, fields: dict, sandbox_vendor: str, shown: str
) -> None:
    view = open_modal(stack)
    if location != "downtown":
        view = choose_location(stack, view, location)
    response = stack.driver.submit_view(
        "UFRONT", view, {ResetAction.LOCATION_SELECT: location, **fields}
    )
    # The modal's next view confirms (issue 16); the DM keeps the record, masked.
    assert response.status_code == 200 and response.json()["response_action"] == "push"
    confirmation = last_message_to(stack, DM)
    assert shown in message_text(stack, DM, confirmation["ts"])
    request_id, channel, ts = send_and_wait(stack)
    request = stack.frontdesk.services.resets.get(request_id)
    assert request.status == ResetStatus.SENT, request.outcome_message
    assert len(stack.sandbox.received(sandbox_vendor)) == 1
    # The outcome is stored before the worker updates the message: wait for that.
    wait_for(lambda: "Reset sent" in message_text(stack, channel, ts))
    assert stack.slack.messages_in("C0TRIAGE") == []


def test_modal_fields_follow_the_vendor(stack: Stack) -> None:
    view = open_modal(stack)
    assert input_ids(view) == [
        "reset_location",
        "reset_email",
        "reset_username",
        "reset_member_filter",
    ]
    view = choose_location(stack, view, "sparkle")
    assert input_ids(view) == ["reset_location", "reset_email"]
    view = choose_location(stack, view, "bistro")
    assert input_ids(view) == [
        "reset_location",
        "reset_email",
        "reset_username",
        "reset_account_id",
        "reset_card",
    ]


@pytest.mark.parametrize(
    ("location", "fields", "errors"),
    [
        ("downtown", {}, {"reset_email"}),
        ("downtown", {ResetAction.EMAIL: "not-an-email"}, {"reset_email"}),
        ("downtown", {ResetAction.USERNAME: "abc"}, {"reset_username"}),
        (
            "bistro",
            {ResetAction.EMAIL: "a@example.com", ResetAction.CARD: "6000100020003000"},
            {"reset_email", "reset_card"},
        ),
        ("bistro", {ResetAction.ACCOUNT: "12ab"}, {"reset_account_id"}),
    ],
)
def test_field_errors_inline_and_nothing_sent(
    stack: Stack, location: str, fields: dict, errors: set
) -> None:
    view = open_modal(stack)
    if location != "downtown":
        view = choose_location(stack, view, location)
    response = stack.driver.submit_view(
        "UFRONT", view, {ResetAction.LOCATION_SELECT: location, **fields}
    )
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == errors
    assert stack.sandbox.received() == []
    assert stack.slack.messages_in(DM) == []


def test_fast_path_and_vendor_refusal_goes_to_triage(stack: Stack) -> None:
    stack.sandbox.inject(
        Fault("success_false", vendor="clubready", message="Member account is locked.")
    )
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com downtown")
    request_id, channel, ts = send_and_wait(stack)
    request = stack.frontdesk.services.resets.get(request_id)
    assert request.status == ResetStatus.REFUSED
    # The vendor's own full stop is not doubled.
    wait_for(lambda: "Member account is locked. Check" in message_text(stack, channel, ts))
    triage = last_message_to(stack, "C0TRIAGE")
    assert "j•••@example.com" in triage["text"] and "jane@" not in str(triage)
    assert triage["text"].startswith(":rotating_light: Password reset refused by the vendor")
    assert button_value(triage, TriageAction.CLAIM) == request_id


def test_no_such_member_is_the_front_desks_to_fix_not_supports(stack: Stack) -> None:
    stack.driver.command("UFRONT", Command.RESET, "ghost@example.com downtown")
    request_id, channel, ts = send_and_wait(stack)
    assert stack.frontdesk.services.resets.get(request_id).status == ResetStatus.NOT_FOUND
    wait_for(lambda: "found no member matching" in message_text(stack, channel, ts))
    shown = message_text(stack, channel, ts)
    assert shown.startswith(":mag: ClubReady found no member matching *g•••@example.com* at ")
    assert "at *Downtown Fitness*. Check the spelling" in shown and "try again" in shown
    # Try again opens the form at that location with what was typed, to fix the typo.
    message = stack.slack.message(channel, ts)
    assert button_value(message, ResetAction.TRY_AGAIN) == request_id
    stack.driver.click("UFRONT", ResetAction.TRY_AGAIN, request_id, channel=channel, ts=ts)
    view = wait_for(lambda: stack.slack.calls_to("views.open") and stack.slack.last_view())
    location = view["blocks"][0]["element"]["initial_option"]["value"]
    email = next(b for b in view["blocks"] if b.get("block_id") == "reset_email")
    assert (location, email["element"]["initial_value"]) == ("downtown", "ghost@example.com")
    assert "found no such member" in str(view["blocks"][-1])
    # Support's channel and open list never hear of it.
    time.sleep(0.5)
    assert stack.slack.messages_in("C0TRIAGE") == []
    support = stack.frontdesk.services.triage.open_failures(
        stack_actor("USUPPORT"), cursor=None, limit=10
    )
    assert support.items == []


def test_fast_path_bad_input_is_answered_and_nothing_recorded(stack: Stack) -> None:
    answer = stack.driver.command("UFRONT", Command.RESET, "abc")
    assert "4 to 255" in answer.json()["text"]  # answered where it was typed
    with stack.frontdesk.db.session() as session:
        assert session.query(ResetRequest).count() == 0


def test_vendor_timeout_is_unknown_and_triaged(stack: Stack) -> None:
    stack.sandbox.inject(Fault("read_timeout", vendor="clubready", seconds=5))
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    request_id, channel, ts = send_and_wait(stack)
    assert stack.frontdesk.services.resets.get(request_id).status == ResetStatus.UNKNOWN
    assert len(stack.sandbox.received("clubready")) == 1  # never retried after a timeout
    wait_for(lambda: "support has it" in message_text(stack, channel, ts))
    assert "outcome unknown" in last_message_to(stack, "C0TRIAGE")["text"]


def test_double_click_and_retried_delivery_send_once(stack: Stack) -> None:
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    confirmation = last_message_to(stack, DM)
    request_id = button_value(confirmation, ResetAction.SEND)
    for retry in (None, None, 1, 2):
        response = stack.driver.click(
            "UFRONT",
            ResetAction.SEND,
            request_id,
            channel=confirmation["channel"],
            ts=confirmation["ts"],
            retry_num=retry,
        )
        assert response.status_code == 200
    wait_for(lambda: stack.frontdesk.services.resets.get(request_id).status == ResetStatus.SENT)
    time.sleep(0.5)
    assert len(stack.sandbox.received("clubready")) == 1


@pytest.mark.parametrize("kind", ["forged", "stale"])
def test_forged_and_stale_signatures_refused_and_nothing_written(stack: Stack, kind: str) -> None:
    if kind == "forged":
        response = stack.driver.command("UFRONT", Command.RESET, "jane@example.com", secret="wrong")
    else:
        response = stack.driver.command(
            "UFRONT", Command.RESET, "jane@example.com", timestamp=time.time() - 600
        )
    assert response.status_code == 401
    with stack.frontdesk.db.session() as session:
        assert session.query(ResetRequest).count() == 0
    # Only the worker's own background calls (reading the mapped user groups).
    background = {"auth.test", "usergroups.users.list"}
    assert [c.method for c in stack.slack.calls if c.method not in background] == []


def test_user_without_role_refused_and_nothing_sent(stack: Stack) -> None:
    stack.driver.command("UNOBODY", Command.RESET, "jane@example.com")
    call = wait_for(lambda: [c for c in stack.slack.calls if c.method.startswith("commands/")])
    assert "front desk" in call[0].raw and "(its admin)" in call[0].raw
    # A forged Send click on someone else's request, from a user with no role.
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    confirmation = last_message_to(stack, DM)
    request_id = button_value(confirmation, ResetAction.SEND)
    stack.driver.click("UNOBODY", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"])
    refusal = wait_for(lambda: [c for c in stack.slack.calls if c.method == "actions/UNOBODY"])
    assert "role" in refusal[0].raw
    assert stack.frontdesk.services.resets.get(request_id).status == ResetStatus.DRAFT
    assert stack.sandbox.received() == []


def test_role_scope_is_per_location(stack: Stack) -> None:
    stack.grant("UOTHER", Role.FRONT_DESK, "sparkle")
    stack.driver.command("UOTHER", Command.RESET, "jane@example.com downtown")
    call = wait_for(lambda: [c for c in stack.slack.calls if c.method == "commands/UOTHER"])
    assert "front desk" in call[0].raw and "Downtown Fitness" in call[0].raw
    with stack.frontdesk.db.session() as session:
        assert session.query(ResetRequest).count() == 0
    confirmation = new_message(
        stack, "DOTHER", lambda: stack.driver.command("UOTHER", Command.RESET, "jane@example.com")
    )
    request = stack.frontdesk.services.resets.get(button_value(confirmation, ResetAction.SEND))
    assert request.location_id == "sparkle"


def test_rate_limit_and_support_override(stack: Stack) -> None:
    for _ in range(3):
        reset(stack, "jane@example.com")
        send_and_wait(stack)
    confirmation = reset(stack, "jane@example.com")
    request_id = button_value(confirmation, ResetAction.SEND)
    stack.driver.click("UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"])
    wait_for(lambda: "already been sent 3 resets" in message_text(stack, DM, confirmation["ts"]))
    limited = stack.slack.message(DM, confirmation["ts"])
    with pytest.raises(AssertionError):
        button_value(limited, ResetAction.OVERRIDE)  # front desk cannot override
    assert len(stack.sandbox.received("clubready")) == 3
    # Support may override.
    stack.driver.click(
        "USUPPORT", ResetAction.OVERRIDE, request_id, channel=DM, ts=confirmation["ts"]
    )
    wait_for(lambda: stack.frontdesk.services.resets.get(request_id).status == ResetStatus.SENT)
    assert len(stack.sandbox.received("clubready")) == 4


def test_cancel(stack: Stack) -> None:
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    confirmation = last_message_to(stack, DM)
    request_id = button_value(confirmation, ResetAction.CANCEL)
    stack.driver.click("UFRONT", ResetAction.CANCEL, request_id, channel=DM, ts=confirmation["ts"])
    wait_for(lambda: "Cancelled" in message_text(stack, DM, confirmation["ts"]))
    stack.driver.click("UFRONT", ResetAction.SEND, request_id, channel=DM, ts=confirmation["ts"])
    time.sleep(0.3)
    assert stack.sandbox.received() == []


def test_claim_race_and_retry(stack: Stack) -> None:
    stack.sandbox.inject(Fault("status", vendor="registrar", status=503, times=2))
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com sparkle")
    request_id, _, _ = send_and_wait(stack)
    assert stack.frontdesk.services.resets.get(request_id).status == ResetStatus.FAILED
    assert len(stack.sandbox.received("registrar")) == 2  # one retry, then given up
    triage = last_message_to(stack, "C0TRIAGE")
    for user in ("USUPPORT", "USUPPORT2"):
        stack.driver.click(
            user, TriageAction.CLAIM, request_id, channel="C0TRIAGE", ts=triage["ts"]
        )
    wait_for(lambda: "Claimed by" in str(stack.slack.message("C0TRIAGE", triage["ts"])))
    loser = wait_for(lambda: [c for c in stack.slack.calls if c.method == "actions/USUPPORT2"])
    assert "already claimed" in loser[0].raw
    assert stack.frontdesk.services.resets.get(request_id).claimed_by == "USUPPORT"
    # Front desk cannot retry; support can, as a new linked request.
    stack.driver.click(
        "UFRONT", TriageAction.RETRY, request_id, channel="C0TRIAGE", ts=triage["ts"]
    )
    stack.driver.click(
        "USUPPORT", TriageAction.RETRY, request_id, channel="C0TRIAGE", ts=triage["ts"]
    )
    wait_for(lambda: len(stack.sandbox.received("registrar")) == 3)
    thread = wait_for(
        lambda: [m for m in stack.slack.messages_in("C0TRIAGE") if m["thread_ts"] == triage["ts"]]
    )
    assert "Reset sent" in thread[0]["text"]
    with stack.frontdesk.db.session() as session:
        retries = session.query(ResetRequest).filter(ResetRequest.retry_of == request_id).all()
        assert [r.status for r in retries] == [ResetStatus.SENT]

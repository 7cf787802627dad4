"""App Home by role, triage from Home and channel, history, roles in Slack, user groups."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from bot.devtools import sale_steps
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import (
    AdminAction,
    AdminView,
    Command,
    Event,
    HomeAction,
    ResetAction,
    TriageAction,
    TriageView,
)
from bot.workflows.outbox import Audience
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Role
from bot.workflows.sales import SaleStatus
from storage.models import AuditEvent, ResetRequest
from tests.slack.helpers import button_value, new_message, refused_reset, reset
from vendors.sandbox import Fault


def open_home(stack: Stack, user: str) -> dict[str, Any]:
    previous = stack.slack.homes.get(user, {}).get("id")
    assert stack.driver.event(user, Event.APP_HOME_OPENED).status_code == 200
    # This user's own publish (a background refresh of someone else's home may come too).
    return wait_for(
        lambda: (home := stack.slack.homes.get(user)) and home["id"] != previous and home
    )


def home_text(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def menu(stack: Stack, user: str, view: dict[str, Any], value: str) -> Any:
    """Choose an entry of a failure's overflow menu on the App Home."""
    payload = {
        **stack.driver._envelope("block_actions", user),
        "container": {"type": "view", "view_id": view["id"]},
        "view": view,
        "actions": [
            {
                "type": "overflow",
                "action_id": HomeAction.FAILURE_MENU,
                "block_id": "b",
                "selected_option": {"value": value, "text": {"type": "plain_text", "text": "x"}},
                "action_ts": "1",
            }
        ],
    }
    return stack.driver._form(payload)


def test_front_desk_home_lists_their_requests_and_pages(stack: Stack) -> None:
    for n in range(11):
        reset(stack, f"member{n}@example.com sparkle")
    sale_id = sale_steps.request_approval(stack)
    home = open_home(stack, "UFRONT")
    text = home_text(home)
    assert "Your recent requests" in text and "Open failures" not in text
    assert "waiting for approval" in text  # the sale, newest first
    assert "jane.walker" not in text and "j•••@example.com" in text
    more = [
        e
        for b in home["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(HomeAction.PAGE)
    ]
    assert [e["text"]["text"] for e in more] == ["More"]
    stack.driver.click_in_view("UFRONT", home, more[0]["action_id"], more[0]["value"])

    def resets_shown() -> int:
        shown = stack.slack.homes["UFRONT"]["blocks"]
        return len([b for b in shown if b["type"] == "section" and "*Reset*" in str(b)])

    # 12 requests: 10 on the first page (the sale and 9 resets), 2 on the second.
    wait_for(lambda: resets_shown() == 2)
    second = stack.slack.homes["UFRONT"]
    assert sale_id not in home_text(second)
    # A change elsewhere refreshes the home on the page its viewer is on.
    published = stack.slack.homes["UFRONT"]["id"]
    asked = stack.frontdesk.services.home.fan_out(
        [Audience(location_id="sparkle", org_id="T0001", user_id="UFRONT")]
    )
    assert [a.user_id for a in asked] == ["UFRONT"]
    wait_for(lambda: stack.slack.homes["UFRONT"]["id"] != published)
    assert resets_shown() == 2


def test_manager_home_shows_pending_approvals_and_refreshes(stack: Stack) -> None:
    sale_id = sale_steps.request_approval(stack)
    home = open_home(stack, "UMANAGER")
    assert "Sales waiting for approval" in home_text(home)
    review = next(
        e
        for b in home["blocks"]
        if b.get("accessory", {}).get("action_id") == HomeAction.REVIEW
        for e in [b["accessory"]]
    )
    assert review["value"] == sale_id
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click_in_view("UMANAGER", home, HomeAction.REVIEW, sale_id)
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    modal = stack.slack.last_view()
    assert modal["callback_id"] == "sale_approval"
    assert sale_steps.approve(stack, "UMANAGER", modal).text == ""
    sale_steps.wait_finished(stack, sale_id)
    # The manager's home was refreshed: nothing waits any more, the sale is recent.
    wait_for(lambda: "None waiting" in home_text(stack.slack.homes["UMANAGER"]))
    wait_for(lambda: ":white_check_mark: sold" in home_text(stack.slack.homes["UMANAGER"]))
    # The requester may not review from Home either.
    front = open_home(stack, "UFRONT")
    assert "Sales waiting for approval" not in home_text(front)


def test_support_home_lists_open_failures_claims_resolves(stack: Stack) -> None:
    refused = refused_reset(stack)
    declined = sale_steps.request_approval(
        stack, payments=[{"amount": "49.00", "token": "tok_decline_1111"}]
    )
    assert (
        sale_steps.approve(
            stack, "UMANAGER", sale_steps.open_review(stack, "UMANAGER", declined)
        ).text
        == ""
    )
    assert sale_steps.wait_finished(stack, declined).status == SaleStatus.REFUSED
    home = open_home(stack, "USUPPORT")
    text = home_text(home)
    assert "Open failures, oldest first" in text and "Last 24 hours" in text
    assert text.index("*Reset*") < text.index("*Sale* $49.00")  # oldest first
    # The day's counts in words, never status codes.
    assert "Registrar: 1 reset refused" in text and "ClubReady: 1 sale refused" in text
    # Claim the reset from Home: everyone sees who has it.
    menu(stack, "USUPPORT", home, f"claim:reset:{refused}")
    wait_for(lambda: stack.frontdesk.services.resets.get(refused).claimed_by == "USUPPORT")
    wait_for(lambda: "<@USUPPORT>" in home_text(stack.slack.homes["USUPPORT"]))
    # Resolve the sale with a note.
    opened = len(stack.slack.calls_to("views.open"))
    menu(stack, "USUPPORT", stack.slack.homes["USUPPORT"], f"resolve:sale:{declined}")
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    modal = stack.slack.last_view()
    empty = stack.driver.submit_view("USUPPORT", modal, {})
    assert TriageView.NOTE_BLOCK in empty.json()["errors"]
    done = stack.driver.submit_view(
        "USUPPORT", modal, {TriageView.NOTE_INPUT: "Card declined; member will call back"}
    )
    assert done.text == ""
    resolved = sale_steps.sale(stack, declined)
    assert resolved.resolved_by == "USUPPORT" and resolved.resolved_at is not None
    wait_for(lambda: declined not in home_text(stack.slack.homes["USUPPORT"]))
    post = stack.slack.message(resolved.triage_channel_id, resolved.triage_ts)
    assert "Resolved by <@USUPPORT>" in json.dumps(post["blocks"])
    again = stack.driver.submit_view("USUPPORT", modal, {TriageView.NOTE_INPUT: "twice"})
    assert "already resolved" in again.json()["errors"][TriageView.NOTE_BLOCK]
    with stack.frontdesk.db.session() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"reset.claim", "sale.resolve"} <= actions


def test_front_desk_cannot_resolve_or_claim(stack: Stack) -> None:
    refused = refused_reset(stack)
    forged = {"id": "VHOME", "type": "home", "blocks": []}
    menu(stack, "UFRONT", forged, f"claim:reset:{refused}")
    wait_for(lambda: stack.slack.calls_to("views.open"))
    assert "support" in home_text(stack.slack.last_view())
    resolve = {
        "id": "V1",
        "type": "modal",
        "callback_id": TriageView.RESOLVE,
        "private_metadata": json.dumps({"kind": "reset", "id": refused}),
        "blocks": [
            {
                "type": "input",
                "block_id": TriageView.NOTE_BLOCK,
                "label": {"type": "plain_text", "text": "n"},
                "element": {"type": "plain_text_input", "action_id": TriageView.NOTE_INPUT},
            }
        ],
    }
    answer = stack.driver.submit_view("UFRONT", resolve, {TriageView.NOTE_INPUT: "fine"})
    assert "support" in answer.json()["errors"][TriageView.NOTE_BLOCK]
    request = stack.frontdesk.services.resets.get(refused)
    assert request.claimed_by is None and request.resolved_at is None


def test_two_support_members_claim_at_once_one_wins(stack: Stack) -> None:
    refused = refused_reset(stack)
    views = {user: open_home(stack, user) for user in ("USUPPORT", "USUPPORT2")}
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda user: menu(stack, user, views[user], f"claim:reset:{refused}"),
                ["USUPPORT", "USUPPORT2"],
            )
        )
    winner = wait_for(lambda: stack.frontdesk.services.resets.get(refused).claimed_by)
    told = wait_for(lambda: stack.slack.calls_to("views.open"))
    assert len(told) == 1 and f"<@{winner}> has it" in told[0].raw
    with stack.frontdesk.db.session() as session:
        claims = session.scalars(select(AuditEvent).where(AuditEvent.action == "reset.claim"))
        assert [c.actor.split(":")[-1] for c in claims] == [winner]


def test_retry_from_home_is_a_new_attempt_linked_to_the_first(stack: Stack) -> None:
    stack.sandbox.inject(Fault("status", vendor="registrar", status=503, times=2))
    failed = reset(stack, "jane@example.com sparkle")
    assert stack.frontdesk.services.resets.get(failed).status == ResetStatus.FAILED
    home = open_home(stack, "USUPPORT")
    menu(stack, "USUPPORT", home, f"retry:reset:{failed}")
    with stack.frontdesk.db.session() as session:
        retry = wait_for(
            lambda: session.scalars(
                select(ResetRequest).where(ResetRequest.retry_of == failed)
            ).first()
        )
    wait_for(lambda: stack.frontdesk.services.resets.get(retry.id).status == ResetStatus.SENT)
    original = stack.frontdesk.services.resets.get(failed)
    assert original.resolved_by == "USUPPORT" and retry.id in original.resolution_note
    wait_for(lambda: failed not in home_text(stack.slack.homes["USUPPORT"]))


def test_resolve_from_the_triage_channel(stack: Stack) -> None:
    refused = refused_reset(stack)
    request = wait_for(lambda: (r := stack.frontdesk.services.resets.get(refused)).triage_ts and r)
    post = stack.slack.message(request.triage_channel_id, request.triage_ts)
    value = button_value(post, TriageAction.RESOLVE)
    stack.driver.click(
        "USUPPORT", TriageAction.RESOLVE, value, channel=post["channel"], ts=post["ts"]
    )
    modal = wait_for(lambda: stack.slack.calls_to("views.open") and stack.slack.last_view())
    stack.driver.submit_view("USUPPORT", modal, {TriageView.NOTE_INPUT: "Wrong brand; told desk"})
    wait_for(
        lambda: (
            "Resolved by" in json.dumps(stack.slack.message(post["channel"], post["ts"])["blocks"])
        )
    )


def history(stack: Stack, user: str, query: str) -> str:
    """The answer to ``/frontdesk history``: in the acknowledgement itself."""
    response = stack.driver.command(user, Command.FRONTDESK, f"history {query}")
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    return str(answer["text"])


def test_member_history_for_support_and_managers(stack: Stack) -> None:
    reset(stack, "jane.walker@example.com downtown")
    reset(stack, "jane.walker@example.com sparkle")
    sale_steps.request_approval(stack)  # the sale's member is jane.walker@example.com
    for_support = history(stack, "USUPPORT", "Jane.Walker@Example.com")
    lines = for_support.splitlines()[1:]
    assert len(lines) == 3 and lines[0].startswith("*Sale*")  # newest first
    assert "jane.walker" not in for_support and "j•••@example.com" in for_support
    for_manager = history(stack, "UMANAGER", "jane.walker@example.com")
    assert "Sparkle" not in for_manager and len(for_manager.splitlines()) == 3  # downtown only
    assert "You can't " in history(stack, "UFRONT", "jane.walker@example.com")
    assert "Nothing found" in history(stack, "USUPPORT", "nobody@example.com")


def test_roles_granted_and_revoked_in_slack_apply_to_the_next_action(stack: Stack) -> None:
    stack.grant("UADMIN", Role.ADMIN)
    refused = stack.driver.command("UNEW", Command.RESET, "jane@example.com downtown")
    assert refused.status_code == 200
    assert "front desk" in wait_for(lambda: stack.slack.calls_to("commands/UNEW"))[0].args["text"]
    # Not an admin: no modal.
    stack.driver.command("UFRONT", Command.FRONTDESK, "roles")
    assert "admin" in wait_for(lambda: stack.slack.calls_to("commands/UFRONT"))[0].args["text"]
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.command("UADMIN", Command.FRONTDESK, "roles")
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    modal = stack.slack.last_view()
    answer = stack.driver.submit_view(
        "UADMIN",
        modal,
        {AdminView.ROLE_INPUT: "front_desk", AdminView.LOCATIONS_INPUT: "downtown"},
    )
    assert AdminView.USER_BLOCK in answer.json()["errors"]
    granted = stack.driver.submit_view(
        "UADMIN",
        modal,
        {
            AdminView.USER_INPUT: "UNEW",
            AdminView.ROLE_INPUT: "front_desk",
            AdminView.LOCATIONS_INPUT: "downtown",
        },
    )
    updated = stack.slack.acknowledged_view(modal, granted.json())
    assert "<@UNEW> · front desk · Downtown Fitness" in home_text(updated)
    confirmation = new_message(
        stack, "DNEW", lambda: stack.driver.command("UNEW", Command.RESET, "jane@example.com")
    )
    assert button_value(confirmation, ResetAction.SEND)
    grant_id = next(
        b["accessory"]["value"]
        for b in updated["blocks"]
        if "<@UNEW>" in json.dumps(b) and b.get("accessory")
    )
    revoke = next(
        b["accessory"]
        for b in updated["blocks"]
        if "<@UNEW>" in json.dumps(b) and b.get("accessory")
    )
    # Revoke asks first (Slack shows the confirmation before the click reaches us).
    assert revoke["confirm"]["title"]["text"] == "Revoke this role?"
    # A confirm dialog's text is plain text (no mention): the row beside it names them.
    assert revoke["confirm"]["text"] == {
        "type": "plain_text",
        "text": "The person on this row will no longer be front desk at Downtown Fitness.",
    }
    # Each role is explained in a line, in words.
    assert "*front desk*: resets members' passwords" in home_text(updated)
    assert "front_desk" not in json.dumps([b for b in updated["blocks"] if b["type"] != "input"])
    stack.driver.click_in_view("UADMIN", updated, AdminAction.REVOKE, grant_id)
    wait_for(lambda: "<@UNEW>" not in home_text(stack.slack.views[updated["id"]]))
    before = len(stack.slack.calls_to("commands/UNEW"))
    stack.driver.command("UNEW", Command.RESET, "jane@example.com")
    assert "front desk" in str(
        wait_for(lambda: stack.slack.calls_to("commands/UNEW")[before:])[0].args["text"]
    )
    with stack.frontdesk.db.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.subject_id.like("%UNEW"))
        ).all()
    assert [(e.action, e.actor.split(":")[-1]) for e in events] == [
        ("role.grant", "UADMIN"),
        ("role.revoke", "UADMIN"),
    ]


def test_roles_from_a_slack_user_group(stack: Stack) -> None:
    stack.grant("UADMIN", Role.ADMIN)
    assert "You can't " in history(stack, "UGROUPIE", "jane@example.com")
    stack.slack.usergroups["S0SUPPORT"] = ["UGROUPIE"]
    stack.driver.command("UADMIN", Command.FRONTDESK, "roles refresh")
    told = wait_for(lambda: stack.slack.calls_to("commands/UADMIN"))[0].args["text"]
    assert "S0SUPPORT: 1 members" in told
    assert "Nothing found" in history(stack, "UGROUPIE", "jane@example.com")
    # A database grant and a group grant combine; leaving the group takes its role away.
    stack.grant("UGROUPIE", Role.FRONT_DESK, "downtown")
    stack.slack.usergroups["S0SUPPORT"] = []
    stack.frontdesk.usergroup_sync.refresh()  # what the worker runs every few minutes
    assert "You can't " in history(stack, "UGROUPIE", "jane@example.com")
    confirmation = new_message(
        stack, "DGROUPIE", lambda: stack.driver.command("UGROUPIE", Command.RESET, "x@example.com")
    )
    assert button_value(confirmation, ResetAction.SEND)

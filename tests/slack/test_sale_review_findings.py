"""The independent review of the sale modals (issue 16 item 4, issue 13's payment
rules): each finding, driven through the real Bolt app with signed requests and the
fake Slack, as a person at the counter (or an approver) would, fixed at its root."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.devtools.sale_steps import (
    MEMBER,
    PROFILE_TOKEN,
    acknowledged,
    action,
    approval_message,
    approve,
    back,
    block,
    change,
    field_errors,
    inputs_of,
    open_review,
    open_sell,
    request_approval,
    review_view,
    sale,
    sale_id_of,
    submit_details,
    submit_review,
    submit_start,
    tap,
)
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, SaleAction, SaleDecision
from bot.slack.sale_views import notice_modal
from bot.workflows.roles import Role
from bot.workflows.sales import SaleStatus


@pytest.fixture
def clocked(database_url: str, tmp_path: Path) -> Iterator[tuple[Stack, ManualClock]]:
    """A stack whose clock the test moves (sweeps, expiry)."""
    clock = ManualClock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    running = Stack(workdir=tmp_path, database_url=database_url, clock=clock)
    running.grant("UFRONT", Role.FRONT_DESK, "downtown")
    running.grant("UMANAGER", Role.MANAGER, "downtown")
    yield running, clock
    running.stop()
    assert running.slack.invalid == []


def _details(stack: Stack, user: str = "UFRONT", package: str = "2001:3001") -> dict[str, Any]:
    first = open_sell(stack, user)
    return acknowledged(stack, first, submit_start(stack, first, user, package=package))


def _open_change(stack: Stack, sale_id: str, user: str = "UFRONT") -> dict[str, Any]:
    record = sale(stack, sale_id)
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        user, SaleAction.EDIT, sale_id, channel=str(record.dm_channel_id), ts=str(record.dm_ts)
    )
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    return stack.slack.last_view()


def _texts(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


# -- 1. two payments adding up to more than the price -----------------------------------
def test_two_payments_adding_up_to_more_than_the_price_are_refused(stack: Stack) -> None:
    """Payment 1 left prefilled at 49.00, a $20 gift card as Payment 2: ClubReady would
    charge the card 49.00 and the gift card (the last, no amount) nothing. Refused on
    Payment 1's amount, with the amount that makes them add up."""
    details = tap(stack, "UFRONT", _details(stack), SaleAction.ADD_PAYMENT)
    errors = field_errors(
        submit_details(
            stack,
            details,
            payments=[
                {"token": PROFILE_TOKEN},  # amount left as prefilled: 49.00
                {"method": "acct", "token": "tok_acct_gift_5555", "amount": "20.00"},
            ],
        )
    )
    assert set(errors) == {block("payment1_amount")}, errors
    said = errors[block("payment1_amount")]
    assert "add up to 69.00" in said and "costs 49.00" in said and "29.00" in said, said
    # Made to add up, it goes on.
    review = acknowledged(
        stack,
        details,
        submit_details(
            stack,
            details,
            payments=[
                {"token": PROFILE_TOKEN, "amount": "29.00"},
                {"method": "acct", "token": "tok_acct_gift_5555", "amount": "20.00"},
            ],
        ),
    )
    assert sale(stack, sale_id_of(review)).payments[0]["amount"] == "29.00"


# -- 2. a manager's own sale above the limit: two other managers --------------------------
def test_a_managers_own_sale_above_the_limit_needs_two_other_managers(stack: Stack) -> None:
    """PRODUCT: Sell now only within the manager's limit; the requester never approves
    their own sale. Annual Premium is 599.00, Downtown's limit 100.00."""
    stack.grant("UMANAGER3", Role.MANAGER, "downtown")
    review = review_view(stack, "UMANAGER", package="2003:3003")
    sale_id = sale_id_of(review)
    assert block("decision") not in inputs_of(review), "Sell now offered above the limit"
    assert "two managers approve it, never the person who asked" in _texts(review)
    # A forged Sell now is refused, and nothing is recorded as the requester's approval.
    radio = {"type": "radio_buttons", "action_id": action("decision"), "options": []}
    decision = {"type": "input", "block_id": block("decision"), "element": radio}
    forged_view = {**review, "blocks": [*review["blocks"], decision]}
    forged = submit_review(stack, "UMANAGER", forged_view, SaleDecision.SELL_NOW)
    assert "above this location's limit" in forged.text, forged.text
    assert sale(stack, sale_id).status == SaleStatus.DRAFT
    assert submit_review(stack, "UMANAGER", review).json() == {"response_action": "clear"}
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    assert sale(stack, sale_id).required_approvals == 2
    approve(stack, "UMANAGER2", open_review(stack, "UMANAGER2", sale_id))
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    approve(stack, "UMANAGER3", open_review(stack, "UMANAGER3", sale_id))
    assert sale(stack, sale_id).status != SaleStatus.PENDING_APPROVAL
    # And /sell help says so.
    helped = stack.driver.command("UMANAGER", Command.SELL, "help")
    assert "up to $100.00 (above it two other managers approve)" in helped.text, helped.text
    approvers = {
        a.approver_user_id for a in stack.frontdesk.services.sales.approvals(sale(stack, sale_id))
    }
    assert approvers == {"UMANAGER2", "UMANAGER3"}


# -- 3. a stale Change modal cannot undo a newer Change ---------------------------------
def test_a_stale_change_modal_cannot_overwrite_a_newer_version(stack: Stack) -> None:
    sale_id = request_approval(stack)
    old = _open_change(stack, sale_id)  # on the phone
    new = _open_change(stack, sale_id)  # on the desktop
    saved = stack.driver.submit_view("UFRONT", new, {action("email"): "jane.w@example.com"})
    assert saved.status_code == 200 and saved.text == ""
    # The older modal, still prefilled with the old email, saves another field: refused.
    stale = stack.driver.submit_view("UFRONT", old, {action("promo_code"): "SPRING"})
    assert "changed after you opened this view" in stale.text, stale.text
    kept = sale(stack, sale_id)
    assert kept.member["email"] == "jane.w@example.com"  # type: ignore[index]
    assert kept.promo_code is None


# -- 4. a swept draft says so on Submit and on Review; the sweep goes by activity --------
def test_submitting_a_review_whose_draft_was_swept_says_nothing_was_submitted(
    clocked: tuple[Stack, ManualClock],
) -> None:
    stack, clock = clocked
    review = review_view(stack)
    sale_id = sale_id_of(review)
    clock.advance(minutes=61)  # the member went to fetch their card
    stack.frontdesk.services.sales.expire_due()
    assert sale(stack, sale_id).status == SaleStatus.CANCELLED
    response = submit_review(stack, "UFRONT", review)
    assert response.json() != {"response_action": "clear"}
    assert "nothing was submitted or charged" in response.text, response.text


def test_review_of_a_swept_draft_does_not_say_it_was_submitted(
    clocked: tuple[Stack, ManualClock],
) -> None:
    stack, clock = clocked
    details = _details(stack)
    clock.advance(minutes=61)
    stack.frontdesk.services.sales.expire_due()
    required = {k: MEMBER[k] for k in ("first_name", "last_name", "email")}
    response = submit_details(stack, details, member=required)
    assert "already submitted" not in response.text, response.text
    assert "closed before it was submitted" in response.text, response.text


def test_a_draft_in_use_is_not_swept_by_its_age(clocked: tuple[Stack, ManualClock]) -> None:
    """Started 70 minutes ago, its member added 20 minutes ago: still a draft."""
    stack, clock = clocked
    details = _details(stack)
    clock.advance(minutes=50)
    review = acknowledged(stack, details, submit_details(stack, details))
    clock.advance(minutes=20)
    stack.frontdesk.services.sales.expire_due()
    assert sale(stack, sale_id_of(review)).status == SaleStatus.DRAFT
    assert submit_review(stack, "UFRONT", review).json() == {"response_action": "clear"}


# -- 5. a cheaper package cannot keep a larger payment -----------------------------------
def test_change_to_a_cheaper_package_cannot_keep_a_payment_above_its_price(stack: Stack) -> None:
    sale_id = request_approval(stack, package="2003:3003")
    view = _open_change(stack, sale_id)
    errors = field_errors(
        stack.driver.submit_view("UFRONT", view, {action("package"): "2001:3001"})
    )
    assert "costs 49.00" in errors[block("payment1_amount")], errors
    assert sale(stack, sale_id).amount == "599.00"
    # With the amount made right, the token on file is kept.
    saved = stack.driver.submit_view(
        "UFRONT", view, {action("package"): "2001:3001", action("payment1_amount"): "49.00"}
    )
    assert saved.text == "", saved.text
    changed = sale(stack, sale_id)
    assert changed.amount == "49.00" and changed.payments[0]["amount"] == "49.00"


# -- 6. a Reject written for an older version ---------------------------------------------
def test_a_reject_written_for_an_older_version_does_not_reject_the_fixed_sale(
    stack: Stack,
) -> None:
    sale_id = request_approval(stack)
    review = open_review(stack, "UMANAGER", sale_id)
    pushes = len(stack.slack.calls_to("views.push"))
    stack.driver.click_in_view("UMANAGER", review, SaleAction.REJECT, sale_id)
    wait_for(lambda: len(stack.slack.calls_to("views.push")) > pushes)
    pushed = stack.slack.calls_to("views.push")[-1].args["view"]
    reject = {**(pushed if isinstance(pushed, dict) else json.loads(pushed)), "id": "VREJECT"}
    assert change(stack, sale_id, email="jane.walker@example.org").text == ""
    answer = stack.driver.submit_view("UMANAGER", reject, {action("reason"): "The email is wrong."})
    assert "nothing was rejected" in answer.text, answer.text
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    # A Reject of the version reviewed still rejects.
    fresh = open_review(stack, "UMANAGER", sale_id)
    stack.driver.click_in_view("UMANAGER", fresh, SaleAction.REJECT, sale_id)
    wait_for(lambda: len(stack.slack.calls_to("views.push")) > pushes + 1)
    pushed = stack.slack.calls_to("views.push")[-1].args["view"]
    reject = {**(pushed if isinstance(pushed, dict) else json.loads(pushed)), "id": "VREJECT2"}
    stack.driver.submit_view("UMANAGER", reject, {action("reason"): "Not today."})
    assert sale(stack, sale_id).status == SaleStatus.REJECTED


# -- 7. a second open sale to the same member --------------------------------------------
def test_a_second_open_sale_for_the_same_member_is_pointed_out(stack: Stack) -> None:
    first = request_approval(stack)
    second_review = review_view(stack)
    second = sale_id_of(second_review)
    assert "Another open sale to this member" in _texts(second_review)
    assert first in _texts(second_review)
    submit_review(stack, "UFRONT", second_review)
    wait_for(lambda: sale(stack, second).approval_ts)
    approver_sees = _texts(open_review(stack, "UMANAGER", second))
    assert "Another open sale to this member" in approver_sees and first in approver_sees
    # Another member is not pointed out.
    other = review_view(stack, member={**MEMBER, "email": "sam.other@example.com"})
    assert "Another open sale" not in _texts(other)


# -- 8. a double tap on a reshaping button ------------------------------------------------
def test_the_fake_slack_refuses_a_stale_view_hash_as_slack_does(stack: Stack) -> None:
    details = _details(stack)
    update = {"view_id": details["id"], "hash": details["hash"], "view": notice_modal("A", "b")}
    first = stack.slack.answer("views.update", update, raw="", token=None)
    again = stack.slack.answer("views.update", update, raw="", token=None)
    assert first["ok"] and again == {"ok": False, "error": "hash_conflict"}
    # Without a hash, as before: the last update wins.
    assert stack.slack.answer("views.update", {**update, "hash": None}, raw="", token=None)["ok"]


def test_a_double_tap_on_add_a_second_payment_is_not_an_error(stack: Stack) -> None:
    details = _details(stack)
    pushes = len(stack.slack.calls_to("views.push"))
    updates = len(stack.slack.calls_to("views.update"))
    for _ in range(2):  # the same view (the same hash): a double tap on a phone
        stack.driver.click_in_view("UFRONT", details, SaleAction.ADD_PAYMENT, sale_id_of(details))
    wait_for(lambda: len(stack.slack.calls_to("views.update")) >= updates + 2)
    time.sleep(1.0)  # what the refused second update would have pushed, had it
    assert stack.slack.calls_to("views.push")[pushes:] == []
    assert block("payment2_token") in inputs_of(stack.slack.views[details["id"]])


# -- 9. a second payment added by mistake --------------------------------------------------
def test_a_second_payment_added_by_mistake_can_be_left_empty(stack: Stack) -> None:
    both = tap(stack, "UFRONT", _details(stack), SaleAction.ADD_PAYMENT)
    second = [
        b
        for b in both["blocks"]
        if b.get("block_id") in (block("payment2_token"), block("payment2_amount"))
    ]
    assert len(second) == 2 and all(b.get("optional") for b in second), second
    review = acknowledged(stack, both, submit_details(stack, both))
    assert len(sale(stack, sale_id_of(review)).payments) == 1


# -- 10. Back, then Next, keeps the member typed -------------------------------------------
def test_back_to_change_the_package_keeps_the_member_typed(stack: Stack) -> None:
    """The price on the member view shows the wrong package: Back, the right one, Next.
    Slack's view_closed carries what was typed; Next shows it again (the token never)."""
    details = _details(stack)
    typed = {k: MEMBER[k] for k in ("first_name", "last_name", "email")}
    values: dict[str, Any] = {
        block(k): {action(k): {"type": "plain_text_input", "value": v}} for k, v in typed.items()
    }
    values[block("payment1_token")] = {
        action("payment1_token"): {"type": "plain_text_input", "value": PROFILE_TOKEN}
    }
    start = back(stack, "UFRONT", {**details, "state": {"values": values}})
    again = acknowledged(stack, start, submit_start(stack, start, package="2003:3003"))
    kept = {
        k: next(
            (
                b["element"].get("initial_value")
                for b in again["blocks"]
                if b.get("block_id") == block(k)
            ),
            None,
        )
        for k in typed
    }
    assert kept == typed
    assert PROFILE_TOKEN not in _texts(again) and "599.00" in _texts(again)
    draft = sale(stack, sale_id_of(again))
    assert draft.member is None and draft.package_id == 2003
    # Once the member is added, the copy typed before is gone.
    review = acknowledged(
        stack,
        again,
        submit_details(stack, again, payments=[{"token": PROFILE_TOKEN, "amount": "599.00"}]),
    )
    assert sale(stack, sale_id_of(review)).typed_member is None


# -- 11. AcctToken alone: the error names the choice to change ----------------------------
def test_acct_token_only_error_says_to_choose_profile_token(stack: Stack) -> None:
    details = _details(stack)
    errors = field_errors(
        submit_details(stack, details, payments=[{"method": "acct", "token": "tok_acct_1234"}])
    )
    assert set(errors) == {block("payment1_method")}, errors
    assert "Choose ProfileToken" in errors[block("payment1_method")]


# -- 12. mrkdwn in a member's name or promo code -------------------------------------------
def test_a_members_name_cannot_format_the_approval_message(stack: Stack) -> None:
    member = {**MEMBER, "first_name": "*APPROVED BY OWNER* ~Jane~"}
    first = open_sell(stack)
    details = acknowledged(stack, first, submit_start(stack, first, promo_code="_SPRING_"))
    review = acknowledged(stack, details, submit_details(stack, details, member=member))
    sale_id = sale_id_of(review)
    submit_review(stack, "UFRONT", review)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    posted = _texts(approval_message(stack, sale_id))
    for marker in ("*APPROVED BY OWNER*", "~Jane~", "_SPRING_"):
        assert marker not in posted, posted
    assert "APPROVED BY OWNER" in posted and "SPRING" in posted  # shown, inert


# -- 13. Change and Save with nothing changed ---------------------------------------------
def test_saving_an_unchanged_sale_does_not_extend_its_expiry(
    clocked: tuple[Stack, ManualClock],
) -> None:
    """(The same day: a day later the start date itself moves to today, a change.)"""
    stack, clock = clocked
    sale_id = request_approval(stack)
    expires = sale(stack, sale_id).expires_at
    clock.advance(hours=3)
    view = _open_change(stack, sale_id)
    assert stack.driver.submit_view("UFRONT", view, {}).text == ""
    assert sale(stack, sale_id).expires_at == expires


# -- 14. what the review says managers see --------------------------------------------------
def test_the_review_does_not_claim_managers_see_the_member_masked(stack: Stack) -> None:
    review = review_view(stack)
    sale_id = sale_id_of(review)
    said = _texts(review)
    assert "Managers see the member as" not in said
    assert "The approvals channel sees the member as *Jane W. · j•••@example.com*" in said
    assert "the managers who open Review see the member in full" in said
    submit_review(stack, "UFRONT", review)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    assert "jane.walker@example.com" in _texts(open_review(stack, "UMANAGER", sale_id))
    assert "jane.walker@example.com" not in _texts(approval_message(stack, sale_id))


# -- 15. the first view names the place, not a time zone id (fixed before this review) ----
def test_the_start_view_names_the_place_not_a_time_zone_id(stack: Stack) -> None:
    first = open_sell(stack)
    past = submit_start(stack, first, start_date="2020-01-01")
    shown = _texts(first) + past.text
    assert "America/New_York" not in shown
    assert "Downtown Fitness" in past.text

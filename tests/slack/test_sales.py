"""Contract sales end to end: signed requests → real app → sandbox ClubReady → fake Slack."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import SaleAction
from bot.workflows.roles import Role
from bot.workflows.sales import SaleStatus
from storage.models import Sale
from tests.slack.sale_steps import (
    MEMBER,
    PROFILE_TOKEN,
    acknowledged,
    action,
    block,
    field_errors,
    open_sell,
    submit_details,
    submit_start,
    approval_message,
    approve,
    dm_texts,
    open_review,
    press,
    request_approval,
    review_view,
    sale,
    sale_id_of,
    wait_finished,
)


def test_happy_path_with_approval(stack: Stack) -> None:
    sale_id = request_approval(stack)
    pending = sale(stack, sale_id)
    assert pending.status == SaleStatus.PENDING_APPROVAL
    assert pending.sealed_tokens and PROFILE_TOKEN not in pending.sealed_tokens
    message = approval_message(stack, sale_id)
    assert "j•••@example.com" in str(message["blocks"])
    assert "jane.walker" not in str(message["blocks"])

    view = open_review(stack, "UMANAGER", sale_id)
    response = approve(stack, "UMANAGER", view)
    assert response.status_code == 200 and response.text == ""
    sold = wait_finished(stack, sale_id)
    assert sold.status == SaleStatus.SOLD
    assert sold.sealed_tokens is None
    sales = stack.sandbox.received("clubready", "contract_sale")
    assert len(sales) == 1
    sent = sales[0].json
    assert sent["ExternalId"] == sale_id
    assert '"PaymentAmount":49.00' in sales[0].body_text
    assert sent["PaymentMethods"][0]["ProfileToken"] == PROFILE_TOKEN
    assert sent["FirstName"] == "Jane" and sent["StartDate"] == sold.start_date.isoformat()
    wait_for(lambda: any("Sold" in text for text in dm_texts(stack, "UFRONT")))
    final = approval_message(stack, sale_id)
    assert "Sold" in str(final["blocks"]) and "UMANAGER" in str(final["blocks"])
    assert not any(
        e.get("action_id") == SaleAction.REVIEW
        for b in final["blocks"]
        for e in b.get("elements", [])
    )


def test_sell_now_within_the_managers_limit(stack: Stack) -> None:
    review = review_view(stack, "UMANAGER")
    buttons = [e["action_id"] for b in review["blocks"] for e in b.get("elements", [])]
    assert SaleAction.SELL_NOW in buttons
    sale_id = sale_id_of(review)
    notice = press(stack, "UMANAGER", review, SaleAction.SELL_NOW)
    assert "Selling now" in str(notice["blocks"])
    sold = wait_finished(stack, sale_id)
    assert sold.status == SaleStatus.SOLD and sold.decided_by == "UMANAGER"
    assert sold.approval_ts is None  # nothing for other managers to decide
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1


def test_front_desk_is_not_offered_sell_now(stack: Stack) -> None:
    review = review_view(stack, "UFRONT")
    buttons = [e["action_id"] for b in review["blocks"] for e in b.get("elements", [])]
    assert buttons == [SaleAction.SUBMIT]
    # A forged Sell now from front desk changes nothing.
    press(stack, "UFRONT", review, SaleAction.SELL_NOW)
    assert sale(stack, sale_id_of(review)).status == SaleStatus.DRAFT
    assert stack.sandbox.received("clubready", "contract_sale") == []


def test_sell_now_above_the_limit_needs_a_second_manager(stack: Stack) -> None:
    annual = [{"amount": "599.00", "profile_token": PROFILE_TOKEN}]
    review = review_view(stack, "UMANAGER", package="2003:3003", payments=annual)
    sale_id = sale_id_of(review)
    notice = press(stack, "UMANAGER", review, SaleAction.SELL_NOW)
    assert "second manager" in str(notice["blocks"])
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    pending = sale(stack, sale_id)
    assert pending.status == SaleStatus.PENDING_APPROVAL and pending.required_approvals == 2
    assert "1 of 2" in str(approval_message(stack, sale_id)["blocks"])
    assert stack.sandbox.received("clubready", "contract_sale") == []

    # The same manager cannot be the second approval.
    refusal = click_review_expecting_refusal(stack, "UMANAGER", sale_id)
    assert "requested this sale" in refusal
    view = open_review(stack, "UMANAGER2", sale_id)
    assert approve(stack, "UMANAGER2", view).text == ""
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1


def test_a_request_above_the_limit_needs_two_approvals(stack: Stack) -> None:
    annual = [{"amount": "599.00", "profile_token": PROFILE_TOKEN}]
    sale_id = request_approval(stack, package="2003:3003", payments=annual)
    first = open_review(stack, "UMANAGER", sale_id)
    assert approve(stack, "UMANAGER", first).text == ""
    wait_for(lambda: "1 of 2" in str(approval_message(stack, sale_id)["blocks"]))
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    # Approving the same review again counts once.
    again = approve(stack, "UMANAGER", first)
    assert "already approved" in str(again.json()["view"]["blocks"])
    second = open_review(stack, "UMANAGER2", sale_id)
    assert approve(stack, "UMANAGER2", second).text == ""
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1


def click_review_expecting_refusal(stack: Stack, user: str, sale_id: str) -> str:
    """Click Review as someone who may not decide: no modal, an ephemeral refusal."""
    message = approval_message(stack, sale_id)
    opened = len(stack.slack.calls_to("views.open"))
    before = len(stack.slack.calls_to(f"actions/{user}"))
    stack.driver.click(user, SaleAction.REVIEW, sale_id, channel=message["channel"], ts=message["ts"])
    call = wait_for(lambda: stack.slack.calls_to(f"actions/{user}")[before:])[0]
    assert len(stack.slack.calls_to("views.open")) == opened
    assert call.args.get("response_type") == "ephemeral"
    return str(call.args["text"])


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"package": ""}, "package", "Choose a package"),
        ({"start_date": "2020-01-01"}, "start_date", "cannot be in the past"),
        ({"promo_code": "BAD\\u0007"}, "promo_code", "control characters"),
    ],
)
def test_first_view_errors_are_shown_on_the_field(
    stack: Stack, fields: dict, field: str, says: str
) -> None:
    fields = {k: v.encode().decode("unicode_escape") for k, v in fields.items()}
    view = open_sell(stack)
    errors = field_errors(submit_start(stack, view, **fields))
    assert says in errors[block(field)]
    with stack.frontdesk.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Sale)) == 0


MEMBER_ERRORS = [
    ({"first_name": ""}, None, "first_name", "Required"),
    ({"email": ""}, None, "email", "Required"),
    ({"email": "jane@"}, None, "email", "not a valid email"),
    ({"username": "abc"}, None, "username", "4 to 255"),
    ({"username": "a" * 256}, None, "username", "4 to 255"),
    ({"date_of_birth": "2999-01-01"}, None, "date_of_birth", "in the past"),
    ({"phone": "call me"}, None, "phone", "phone number"),
    ({}, [{"amount": "40.00", "profile_token": PROFILE_TOKEN}], "payment1_amount", "add up to"),
    ({}, [], "payment1_amount", "add a payment method"),
    ({}, [{"amount": "abc", "profile_token": PROFILE_TOKEN}], "payment1_amount", "amount like"),
    (
        {},
        [{"amount": "49.00", "profile_token": PROFILE_TOKEN, "acct_token": "tok_acct_1234"}],
        "payment1_acct_token",
        "not both",
    ),
    ({}, [{"amount": "49.00"}], "payment1_profile_token", "Paste the ProfileToken"),
    (
        {},
        [{"amount": "49.00", "profile_token": PROFILE_TOKEN}, {"amount": "10.00"}],
        "payment2_profile_token",
        "Paste the ProfileToken",
    ),
]


@pytest.mark.parametrize(("member", "payments", "field", "says"), MEMBER_ERRORS)
def test_second_view_errors_are_shown_on_the_field(
    stack: Stack, member: dict, payments: list | None, field: str, says: str
) -> None:
    start = open_sell(stack)
    details = acknowledged(stack, start, submit_start(stack, start))
    response = submit_details(stack, details, member={**MEMBER, **member}, payments=payments)
    errors = field_errors(response)
    assert says in errors[block(field)], errors
    draft = sale(stack, sale_id_of(details))
    assert draft.status == SaleStatus.DRAFT and draft.member is None and draft.sealed_tokens is None
    assert PROFILE_TOKEN not in response.text


def test_a_free_package_takes_no_payment(stack: Stack) -> None:
    review = review_view(stack, package="2002:3002", payments=[])
    sale_id = sale_id_of(review)
    assert "no payment" in str(review["blocks"])
    press(stack, "UFRONT", review, SaleAction.SUBMIT)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    assert approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id)).text == ""
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    assert "PaymentMethods" not in stack.sandbox.received("clubready", "contract_sale")[0].json


def test_review_masks_the_member_and_shows_tokens_as_last4(stack: Stack) -> None:
    review = review_view(stack, member={**MEMBER, "phone": "555-010-1234", "username": "janew"})
    shown = json.dumps(review, ensure_ascii=False)
    assert "j•••@example.com" in shown and "…4242" in shown
    for secret in (PROFILE_TOKEN, "jane.walker@example.com", "555-010-1234", "janew"):
        assert secret not in shown


def test_rejection_with_a_reason(stack: Stack) -> None:
    sale_id = request_approval(stack)
    view = open_review(stack, "UMANAGER", sale_id)
    before = len(stack.slack.calls_to("views.push"))
    stack.driver.click_in_view("UMANAGER", view, SaleAction.REJECT, sale_id)
    wait_for(lambda: len(stack.slack.calls_to("views.push")) > before)
    reject = stack.slack.last_view()
    for blank in ({}, {action("reason"): " "}):
        errors = field_errors(stack.driver.submit_view("UMANAGER", reject, blank))
        assert "Say why" in errors[block("reason")]
    response = stack.driver.submit_view(
        "UMANAGER", reject, {action("reason"): "Wrong package: she wants the annual one"}
    )
    assert response.json() == {"response_action": "clear"}
    rejected = sale(stack, sale_id)
    assert rejected.status == SaleStatus.REJECTED and rejected.sealed_tokens is None
    assert rejected.decided_by == "UMANAGER"
    wait_for(lambda: any("annual one" in t for t in dm_texts(stack, "UFRONT")))
    assert "Rejected by <@UMANAGER>" in str(approval_message(stack, sale_id)["blocks"])
    assert stack.sandbox.received("clubready", "contract_sale") == []
    # Approving the rejected sale afterwards changes nothing.
    late = approve(stack, "UMANAGER2", view)
    assert "already decided" in str(late.json()["view"]["blocks"])
    assert sale(stack, sale_id).status == SaleStatus.REJECTED


def test_self_approval_is_refused(stack: Stack) -> None:
    review = review_view(stack, "UMANAGER")
    sale_id = sale_id_of(review)
    press(stack, "UMANAGER", review, SaleAction.SUBMIT)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    assert "requested this sale" in click_review_expecting_refusal(stack, "UMANAGER", sale_id)
    # A forged approval view submitted by the requester changes nothing.
    forged = {**open_review(stack, "UMANAGER2", sale_id), "id": "VFORGED"}
    answer = approve(stack, "UMANAGER", forged).json()
    assert "requested this sale" in str(answer["view"]["blocks"])
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    assert stack.frontdesk.services.sales.approvals(sale(stack, sale_id)) == []


@pytest.mark.parametrize("user", ["UFRONT2", "USUPPORT", "UOTHERMANAGER", "UNOBODY"])
def test_an_approver_without_the_role_changes_nothing(stack: Stack, user: str) -> None:
    stack.grant("UFRONT2", Role.FRONT_DESK, "downtown")
    stack.grant("UOTHERMANAGER", Role.MANAGER, "sparkle")
    sale_id = request_approval(stack)
    assert "manager" in click_review_expecting_refusal(stack, user, sale_id)
    forged = {**open_review(stack, "UMANAGER", sale_id), "id": "VFORGED"}
    answer = approve(stack, user, forged).json()
    assert answer["response_action"] == "update"
    assert "manager" in str(answer["view"]["blocks"])
    # A forged Reject button and reject submission change nothing either.
    stack.driver.click_in_view(user, forged, SaleAction.REJECT, sale_id)
    response = stack.driver.submit_view(
        user,
        {**forged, "callback_id": "sale_reject", "blocks": [_reason_block()]},
        {action("reason"): "no"},
    )
    assert block("reason") in field_errors(response)
    time.sleep(0.3)
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    assert stack.sandbox.received("clubready", "contract_sale") == []


def _reason_block() -> dict:
    return {
        "type": "input",
        "block_id": block("reason"),
        "label": {"type": "plain_text", "text": "Why"},
        "element": {"type": "plain_text_input", "action_id": action("reason")},
    }

"""Contract sales end to end: signed requests → real app → sandbox ClubReady → fake Slack."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.devtools.sale_steps import (
    APPROVALS,
    MEMBER,
    PROFILE_TOKEN,
    TRIAGE,
    acknowledged,
    action,
    approval_message,
    approve,
    block,
    change,
    decide,
    dm_texts,
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
    wait_finished,
)
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import SaleAction, SaleDecision
from bot.workflows.roles import Role
from bot.workflows.sales import SaleStatus
from storage.models import AuditEvent, Sale
from vendors.sandbox import Fault


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
    # The approval message is another conversation's notice: delivered independently.
    final = wait_for(lambda: "Sold" in str((m := approval_message(stack, sale_id))["blocks"]) and m)
    assert "Sold" in str(final["blocks"]) and "UMANAGER" in str(final["blocks"])
    assert not any(
        e.get("action_id") == SaleAction.REVIEW
        for b in final["blocks"]
        for e in b.get("elements", [])
    )


def choices(review: dict) -> list[str]:  # type: ignore[type-arg]
    """The options of the review's Sell now choice (a manager's), or none."""
    return [
        option["value"]
        for b in review["blocks"]
        if b.get("block_id") == block("decision")
        for option in b["element"]["options"]
    ]


def test_sell_now_within_the_managers_limit(stack: Stack) -> None:
    review = review_view(stack, "UMANAGER")
    assert choices(review) == [SaleDecision.SELL_NOW, SaleDecision.SUBMIT]
    assert "Sell now: charge $49.00" in json.dumps(review)
    assert review["submit"]["text"] == "Confirm"
    sale_id = sale_id_of(review)
    decide(stack, "UMANAGER", review, SaleDecision.SELL_NOW)
    sold = wait_finished(stack, sale_id)
    assert sold.status == SaleStatus.SOLD and sold.decided_by == "UMANAGER"
    assert sold.approval_ts is None  # nothing for other managers to decide
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1


def test_front_desk_is_not_offered_sell_now(stack: Stack) -> None:
    review = review_view(stack, "UFRONT")
    assert choices(review) == [] and inputs_of(review) == []
    assert review["submit"]["text"] == "Submit for approval"
    # A forged Sell now from front desk changes nothing, and says why.
    manager_review = review_view(stack, "UMANAGER")
    decision = next(b for b in manager_review["blocks"] if b.get("block_id") == block("decision"))
    forged = {**review, "blocks": [*review["blocks"], decision]}
    answer = submit_review(stack, "UFRONT", forged, SaleDecision.SELL_NOW).json()
    assert "You can't approve sales at Downtown Fitness" in str(answer)
    assert sale(stack, sale_id_of(review)).status == SaleStatus.DRAFT
    assert stack.sandbox.received("clubready", "contract_sale") == []


def test_above_the_limit_a_manager_asks_two_other_managers(stack: Stack) -> None:
    """PRODUCT: Sell now only within the manager's limit, and the requester never
    approves their own sale: above it, two managers other than the seller approve."""
    stack.grant("UMANAGER3", Role.MANAGER, "downtown")
    annual = [{"amount": "599.00", "token": PROFILE_TOKEN}]
    review = review_view(stack, "UMANAGER", package="2003:3003", payments=annual)
    sale_id = sale_id_of(review)
    assert choices(review) == [] and review["submit"]["text"] == "Submit for approval"
    decide(stack, "UMANAGER", review)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    pending = sale(stack, sale_id)
    assert pending.status == SaleStatus.PENDING_APPROVAL and pending.required_approvals == 2
    assert "Approved by" not in str(approval_message(stack, sale_id)["blocks"])

    # The requester cannot be one of the two.
    refusal = click_review_expecting_refusal(stack, "UMANAGER", sale_id)
    assert "requested this sale" in refusal
    assert approve(stack, "UMANAGER2", open_review(stack, "UMANAGER2", sale_id)).text == ""
    wait_for(lambda: "1 of 2" in str(approval_message(stack, sale_id)["blocks"]))
    assert stack.sandbox.received("clubready", "contract_sale") == []
    assert approve(stack, "UMANAGER3", open_review(stack, "UMANAGER3", sale_id)).text == ""
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1


def test_a_request_above_the_limit_needs_two_approvals(stack: Stack) -> None:
    annual = [{"amount": "599.00", "token": PROFILE_TOKEN}]
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
    stack.driver.click(
        user, SaleAction.REVIEW, sale_id, channel=message["channel"], ts=message["ts"]
    )
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
    ({}, [{"amount": "40.00", "token": PROFILE_TOKEN}], "payment1_amount", "add up to"),
    # The amount is prefilled with the price: emptied, with no token, nothing pays.
    ({}, [{"amount": ""}], "payment1_amount", "add a payment method"),
    ({}, [{"amount": "abc", "token": PROFILE_TOKEN}], "payment1_amount", "amount like"),
    ({}, [{"amount": "49.00"}], "payment1_token", "Paste the ProfileToken"),
    # Issue 13, deviation 2: a new member paying by AcctToken alone leaves nothing on
    # file for the instalments; the form says so on the field (nothing is sent).
    (
        {},
        [{"amount": "49.00", "method": "acct", "token": "tok_acct_1234"}],
        "payment1_method",
        "Choose ProfileToken",
    ),
    # ...and an amount too large for a decimal is a field error (no InvalidOperation).
    (
        {},
        [{"amount": "1e30", "token": PROFILE_TOKEN}],
        "payment1_amount",
        "An amount like 49.00",
    ),
    (
        {},
        [{"amount": "49.00", "token": PROFILE_TOKEN}, {"amount": "10.00"}],
        "payment2_token",
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
    decide(stack, "UFRONT", review)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    assert approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id)).text == ""
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    assert "PaymentMethods" not in stack.sandbox.received("clubready", "contract_sale")[0].json


def test_the_requesters_review_shows_what_they_typed_and_tokens_as_last4(stack: Stack) -> None:
    """Issue 16 item 2: the requester's own, short-lived review shows their input in
    full (so a typo can be caught); what stays or others see is masked."""
    review = review_view(stack, member={**MEMBER, "phone": "555-010-1234", "username": "janew"})
    shown = json.dumps(review, ensure_ascii=False)
    for typed in ("jane.walker@example.com", "555-010-1234", "janew", "Walker"):
        assert typed in shown
    assert "…4242" in shown and PROFILE_TOKEN not in shown
    assert "The approvals channel sees the member as *Jane W. · j•••@example.com*" in shown
    decide(stack, "UFRONT", review)
    sale_id = sale_id_of(review)
    wait_for(lambda: sale(stack, sale_id).approval_ts and sale(stack, sale_id).dm_ts)
    record = sale(stack, sale_id)
    kept = json.dumps(
        [
            approval_message(stack, sale_id),
            stack.slack.message(str(record.dm_channel_id), str(record.dm_ts)),
        ],
        ensure_ascii=False,
    )
    assert "j•••@example.com" in kept
    for typed in ("jane.walker@example.com", "555-010-1234", "janew", "Walker", PROFILE_TOKEN):
        assert typed not in kept


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
    decide(stack, "UMANAGER", review, SaleDecision.SUBMIT)
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
    # The refusal is pushed on top of the modal (nothing there is lost); it says why.
    assert answer["response_action"] == "push"
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


def test_expiry_with_a_frozen_clock(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))
    stack = Stack(workdir=tmp_path, database_url=database_url, clock=clock, approval_hours=24)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
        stack.grant("UMANAGER", Role.MANAGER, "downtown")
        sale_id = request_approval(stack)
        view = open_review(stack, "UMANAGER", sale_id)
        clock.advance(hours=23, minutes=59)
        stack.frontdesk.worker.sweep()
        assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
        clock.advance(minutes=2)
        # Approve arrives after the deadline but before the sweep: refused all the same.
        answer = approve(stack, "UMANAGER", view).json()
        assert "expired" in str(answer["view"]["blocks"])
        stack.frontdesk.worker.sweep()
        expired = sale(stack, sale_id)
        assert expired.status == SaleStatus.EXPIRED and expired.sealed_tokens is None
        wait_for(lambda: any("Expired" in t for t in dm_texts(stack, "UFRONT")))
        # Its own notice, delivered independently of the DM's (and, since issue 18,
        # after the reminder and escalation this day-long wait brought).
        message = wait_for(
            lambda: "Expired" in str((m := approval_message(stack, sale_id))["blocks"]) and m
        )
        assert SaleAction.REVIEW not in json.dumps(message["blocks"])
        assert stack.sandbox.received("clubready", "contract_sale") == []
    finally:
        stack.stop()
    assert stack.slack.invalid == []


def test_a_sale_changed_after_review_needs_a_new_approval(stack: Stack) -> None:
    sale_id = request_approval(stack)
    stale_view = open_review(stack, "UMANAGER", sale_id)
    before = sale(stack, sale_id).fingerprint
    response = change(stack, sale_id, package="2001:3001", promo_code="SPRING")
    assert response.status_code == 200 and response.text == ""
    changed = sale(stack, sale_id)
    assert changed.fingerprint != before and changed.promo_code == "SPRING"
    answer = approve(stack, "UMANAGER", stale_view).json()
    assert "changed after you opened it" in str(answer["view"]["blocks"])
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    wait_for(
        lambda: any(
            "changed this sale" in str(m["text"]) for m in stack.slack.messages_in(APPROVALS)
        )
    )
    fresh = open_review(stack, "UMANAGER", sale_id)
    assert approve(stack, "UMANAGER", fresh).text == ""
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    assert stack.sandbox.received("clubready", "contract_sale")[0].json["PromoCode"] == "SPRING"


def test_an_approved_sale_can_no_longer_change(stack: Stack) -> None:
    stack.sandbox.inject(Fault("latency", vendor="clubready", operation="contract_sale", seconds=1))
    sale_id = request_approval(stack)
    assert approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id)).text == ""
    # Change is refused at the click (no modal to fill in for nothing), privately.
    record = sale(stack, sale_id)
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        "UFRONT", SaleAction.EDIT, sale_id, channel=record.dm_channel_id, ts=record.dm_ts
    )
    told = wait_for(lambda: stack.slack.calls_to("actions/UFRONT"))
    assert "can no longer change" in told[-1].args["text"]
    assert len(stack.slack.calls_to("views.open")) == opened
    sold = wait_finished(stack, sale_id)
    assert sold.status == SaleStatus.SOLD and sold.package_id == 2001
    assert stack.sandbox.received("clubready", "contract_sale")[0].json["PackageId"] == 2001


def test_an_edit_that_payments_no_longer_cover_is_refused(stack: Stack) -> None:
    sale_id = request_approval(stack)
    errors = field_errors(change(stack, sale_id, package="2003:3003"))
    assert "599.00" in errors[block("payment1_amount")]
    assert sale(stack, sale_id).package_id == 2001


def test_withdraw_wipes_the_tokens_and_tells_the_approvers(stack: Stack) -> None:
    sale_id = request_approval(stack)
    record = sale(stack, sale_id)
    stack.driver.click(
        "UFRONT", SaleAction.WITHDRAW, sale_id, channel=record.dm_channel_id, ts=record.dm_ts
    )
    withdrawn = wait_for(lambda: (s := sale(stack, sale_id)).status == SaleStatus.CANCELLED and s)
    assert withdrawn.sealed_tokens is None
    wait_for(lambda: "Withdrawn" in str(approval_message(stack, sale_id)["blocks"]))


def test_vendor_refusal_reaches_the_requester_and_triage(stack: Stack) -> None:
    declined = [{"amount": "49.00", "token": "tok_decline_0005"}]
    sale_id = request_approval(stack, payments=declined)
    assert approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id)).text == ""
    refused = wait_finished(stack, sale_id)
    assert refused.status == SaleStatus.REFUSED and refused.sealed_tokens is None
    assert "declined" in (refused.outcome_message or "")
    wait_for(lambda: any("refused" in t for t in dm_texts(stack, "UFRONT")))
    post = wait_for(lambda: stack.slack.messages_in(TRIAGE))[-1]
    assert sale_id in json.dumps(post["blocks"])
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1


def test_read_timeout_is_unknown_sent_once_then_reconciled(stack: Stack) -> None:
    stack.sandbox.inject(
        Fault("read_timeout", vendor="clubready", operation="contract_sale", seconds=3)
    )
    sale_id = request_approval(stack)
    assert approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id)).text == ""
    unknown = wait_finished(stack, sale_id)
    assert unknown.status == SaleStatus.UNKNOWN and unknown.sealed_tokens is None
    # Never resent: not by the worker, not by a restart's recovery, not by a later Approve.
    stack.frontdesk.worker.recover()
    assert stack.frontdesk.worker.run_once() == 0
    approve(stack, "UMANAGER2", open_review_anyway(stack, sale_id))
    time.sleep(3.5)  # the sandbox finishes the slow request; nothing else arrives
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1
    assert any("do not sell it again" in t for t in dm_texts(stack, "UFRONT"))

    post = wait_for(lambda: stack.slack.messages_in(TRIAGE))[-1]
    assert f"ExternalId `{sale_id}`" in json.dumps(post["blocks"])
    assert "j•••@example.com" in json.dumps(post["blocks"], ensure_ascii=False)
    # Front desk may not reconcile; support may.
    stack.driver.click("UFRONT", SaleAction.RECONCILE, sale_id, channel=TRIAGE, ts=post["ts"])
    refusal = wait_for(lambda: stack.slack.calls_to("actions/UFRONT"))[0]
    assert "support" in refusal.args["text"]
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click("USUPPORT", SaleAction.RECONCILE, sale_id, channel=TRIAGE, ts=post["ts"])
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    modal = stack.slack.last_view()
    assert sale_id in json.dumps(modal)
    response = stack.driver.submit_view(
        "USUPPORT", modal, {action("finding"): "sold", action("note"): "Found as user 1004"}
    )
    assert response.text == ""
    done = sale(stack, sale_id)
    assert done.status == SaleStatus.SOLD and done.reconciled_by == "USUPPORT"
    again = stack.driver.submit_view("USUPPORT", modal, {action("finding"): "not_sold"})
    assert "already reconciled" in field_errors(again)[block("finding")]
    wait_for(lambda: "Reconciled by" in json.dumps(stack.slack.message(TRIAGE, post["ts"])))
    with stack.frontdesk.db.session() as session:
        audit = session.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_id == sale_id, AuditEvent.action == "sale.reconcile"
            )
        ).all()
    assert [a.details["found"] for a in audit] == ["sold"]
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1


def open_review_anyway(stack: Stack, sale_id: str) -> dict:
    """An approval modal as it was before the sale was decided (a stale, open modal)."""
    record = sale(stack, sale_id)
    return {
        "id": "VSTALE",
        "type": "modal",
        "callback_id": "sale_approval",
        "private_metadata": json.dumps({"sale": sale_id, "fp": record.fingerprint}),
        "blocks": [],
    }


def test_double_clicks_and_retried_deliveries_sell_once(stack: Stack) -> None:
    review = review_view(stack)
    sale_id = sale_id_of(review)
    for retry in (None, 1, 2):
        stack.driver.submit_view("UFRONT", review, {}, retry_num=retry)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    time.sleep(0.3)
    assert len([m for m in stack.slack.messages_in(APPROVALS)]) == 1
    view = open_review(stack, "UMANAGER", sale_id)
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda user: approve(stack, user, view),
                ["UMANAGER", "UMANAGER2"] * 4,
            )
        )
    assert all(a.status_code == 200 for a in answers)
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    time.sleep(0.5)
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 1
    with stack.frontdesk.db.session() as session:
        approvals = session.scalars(select(AuditEvent).where(AuditEvent.action == "sale.approve"))
        assert len(approvals.all()) == 1


def test_sale_acknowledgements_never_wait_for_clubready(stack: Stack) -> None:
    # Slower than any acknowledgement may take, quicker than the read timeout (2 s).
    stack.sandbox.inject(Fault("latency", vendor="clubready", seconds=1.5, times=-1))
    started = time.monotonic()
    start = open_sell(stack)
    command_seconds = time.monotonic() - started
    details = acknowledged(stack, start, submit_start(stack, start))
    started = time.monotonic()
    review = acknowledged(stack, details, submit_details(stack, details))
    details_seconds = time.monotonic() - started
    sale_id = sale_id_of(review)
    decide(stack, "UFRONT", review)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    view = open_review(stack, "UMANAGER", sale_id)
    started = time.monotonic()
    assert approve(stack, "UMANAGER", view).text == ""
    approve_seconds = time.monotonic() - started
    assert sale(stack, sale_id).status in (SaleStatus.APPROVED, SaleStatus.SUBMITTING)
    assert max(command_seconds, details_seconds, approve_seconds) < 1.0, (
        command_seconds,
        details_seconds,
        approve_seconds,
    )
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD

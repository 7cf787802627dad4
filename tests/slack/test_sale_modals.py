"""Issue 16 item 4 (and item 2 for sales): the sale modals as a person at the counter
meets them, through signed requests into the real app and the fake Slack (which
validates every view with slack_sdk): required fields first, one payment method
choice with one token field, the amount prefilled, a second payment and the optional
details one tap away, Back and Edit that keep what was typed, and Change that may fix
the member, asking for a token only to change how they pay."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from bot.devtools.sale_steps import (
    APPROVALS,
    MEMBER,
    PROFILE_TOKEN,
    acknowledged,
    action,
    approval_message,
    approve,
    back,
    block,
    decide,
    field_errors,
    inputs_of,
    open_review,
    open_sell,
    request_approval,
    review_view,
    sale,
    sale_id_of,
    submit_details,
    submit_start,
    tap,
    wait_finished,
)
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import SaleAction
from bot.workflows.sales import SaleStatus
from storage.models import Sale

REQUIRED = ["First name", "Last name", "Email"]


def labels(view: dict[str, Any]) -> list[str]:
    return [b["label"]["text"] for b in view["blocks"] if b.get("type") == "input"]


def buttons(view: dict[str, Any]) -> list[str]:
    return [
        e["text"]["text"]
        for b in view["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


def element(view: dict[str, Any], field: str) -> dict[str, Any]:
    return next(b["element"] for b in view["blocks"] if b.get("block_id") == block(field))


def texts(view: dict[str, Any]) -> str:
    """Every text of a view a person reads (sections, contexts)."""
    parts = []
    for b in view["blocks"]:
        if "text" in b:
            parts.append(b["text"]["text"])
        parts += [e.get("text", "") for e in b.get("elements", []) if b.get("type") == "context"]
    return "\n".join(parts)


def details_view(stack: Stack, user: str = "UFRONT", **start: str) -> dict[str, Any]:
    first = open_sell(stack, user)
    return acknowledged(stack, first, submit_start(stack, first, user, **start))


def test_the_new_member_view_asks_the_required_first_on_one_short_screen(stack: Stack) -> None:
    details = details_view(stack)
    assert details["title"]["text"] == "New member"
    assert (details["submit"]["text"], details["close"]["text"]) == ("Review", "Back")
    # At most 8 inputs on the first screen: the member's required fields, then how they
    # pay (one choice, one token, the amount), every one of them required.
    assert labels(details) == [*REQUIRED, "Pays with", "Token", "Amount ($)"]
    assert len(inputs_of(details)) <= 8
    assert not any(b.get("optional") for b in details["blocks"] if b.get("type") == "input")
    method = element(details, "payment1_method")
    assert method["type"] == "radio_buttons"
    assert [o["text"]["text"] for o in method["options"]] == ["ProfileToken", "AcctToken"]
    assert method["initial_option"]["value"] == "profile"
    assert element(details, "payment1_amount")["initial_value"] == "49.00"
    assert "initial_value" not in element(details, "payment1_token")
    assert "*Monthly Basic* · $49.00" in texts(details)
    assert "only you see what you type here" in texts(details)
    assert buttons(details) == ["Add a second payment", "More details: phone, birthday, address…"]


def test_more_details_and_a_second_payment_open_in_place_keeping_what_was_typed(
    stack: Stack,
) -> None:
    details = details_view(stack)
    typed = {action("first_name"): "Jane", action("payment1_token"): PROFILE_TOKEN}
    # What the person typed before tapping More details is in the view Slack keeps.
    stack.driver.typed[details["id"]] = typed
    more = tap(stack, "UFRONT", details, SaleAction.MORE_DETAILS)
    assert more["id"] == details["id"]  # updated in place, the same input ids: kept
    assert labels(more)[:6] == labels(details)  # the required still come first
    assert labels(more)[6:] == [
        "Phone",
        "Cell phone",
        "Date of birth",
        "Address",
        "City",
        "State",
        "Zip",
        "Gender",
        "Username (4 to 255 characters)",
        "Emergency contact name",
        "Emergency contact phone",
    ]
    inputs = [b for b in more["blocks"] if b.get("type") == "input"]
    assert all(b.get("optional") for b in inputs[6:])
    assert buttons(more) == ["Add a second payment"]
    both = tap(stack, "UFRONT", more, SaleAction.ADD_PAYMENT)
    assert buttons(both) == []
    assert labels(both)[3:9] == [
        "Payment 1: Pays with",
        "Payment 1: Token",
        "Payment 1: Amount ($)",
        "Payment 2: Pays with",
        "Payment 2: Token",
        "Payment 2: Amount ($)",
    ]
    assert "the last one takes what is left" in texts(both)
    # Submitted without retyping: the first name and token typed at the start count.
    review = acknowledged(
        stack,
        both,
        stack.driver.submit_view(
            "UFRONT",
            both,
            {
                action("last_name"): "Walker",
                action("email"): "jane.walker@example.com",
                action("cell_phone"): "+1 555 010 7788",
                action("payment1_method"): "acct",
                action("payment1_amount"): "20.00",
                action("payment1_token"): "tok_acct_gift_5555",
                action("payment2_token"): PROFILE_TOKEN,
                action("payment2_amount"): "29.00",
            },
        ),
    )
    shown = texts(review)
    assert "Payment: $20.00 by AcctToken …5555, $29.00 by ProfileToken …4242" in shown
    assert "Cell phone: +1 555 010 7788" in shown
    # Sold, ClubReady gets both methods, the last without an amount (it takes the rest).
    sale_id = sale_id_of(review)
    decide(stack, "UFRONT", review)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id))
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    methods = stack.sandbox.received("clubready", "contract_sale")[0].json["PaymentMethods"]
    assert methods[0]["AcctToken"] == "tok_acct_gift_5555" and methods[0]["PaymentAmount"] == 20
    assert methods[1]["ProfileToken"] == PROFILE_TOKEN and "PaymentAmount" not in methods[1]


def test_back_returns_to_the_first_view_as_it_was_and_next_changes_the_same_draft(
    stack: Stack,
) -> None:
    first = open_sell(stack)
    details = acknowledged(
        stack, first, submit_start(stack, first, package="2003:3003", promo_code="SPRING")
    )
    assert details["previous_view_id"] == first["id"]  # pushed, not replacing it
    sale_id = sale_id_of(details)
    assert element(details, "payment1_amount")["initial_value"] == "599.00"

    again = back(stack, "UFRONT", details)
    assert again == first  # the app did not touch it: Slack shows it with what was typed
    # Next again without retyping: the same choices, the same draft.
    resubmitted = acknowledged(stack, again, stack.driver.submit_view("UFRONT", again, {}))
    assert sale_id_of(resubmitted) == sale_id
    kept = sale(stack, sale_id)
    assert (kept.package_name, kept.promo_code) == ("Annual Premium", "SPRING")
    # Back, another package, Next: still one draft, now the other package.
    again = back(stack, "UFRONT", resubmitted)
    changed = acknowledged(stack, again, submit_start(stack, again, package="2001:3001"))
    assert sale_id_of(changed) == sale_id
    assert element(changed, "payment1_amount")["initial_value"] == "49.00"
    assert sale(stack, sale_id).package_name == "Monthly Basic"
    with stack.frontdesk.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Sale)) == 1


def test_edit_from_the_review_returns_with_everything_kept_to_fix_a_typo(
    stack: Stack,
) -> None:
    details = details_view(stack)
    typo = {**MEMBER, "email": "jane.wlaker@example.com"}
    review = acknowledged(stack, details, submit_details(stack, details, member=typo))
    assert review["close"]["text"] == "Edit" and review["previous_view_id"] == details["id"]
    # The requester sees what they typed, in full: the typo can be caught.
    assert "Email: jane.wlaker@example.com" in texts(review)
    sale_id = sale_id_of(review)
    assert sale(stack, sale_id).sealed_tokens is not None

    underneath = back(stack, "UFRONT", review)  # Edit
    assert underneath["id"] == details["id"]
    assert sale(stack, sale_id).sealed_tokens is None  # the review closed: wiped at once
    # Only the email is retyped; the rest, the token included, is as it was typed.
    fixed = acknowledged(
        stack,
        underneath,
        stack.driver.submit_view(
            "UFRONT", underneath, {action("email"): "jane.walker@example.com"}
        ),
    )
    assert "Email: jane.walker@example.com" in texts(fixed)
    assert "Payment: $49.00 by ProfileToken …4242" in texts(fixed)
    decide(stack, "UFRONT", fixed)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    assert sale(stack, sale_id).member["email"] == "jane.walker@example.com"  # type: ignore[index]


def test_a_sale_with_one_payment_takes_nine_taps(stack: Stack) -> None:
    """The count the README states: every command, submission and button a person
    sends, plus every field they fill; everything else is preselected or prefilled."""
    taps = 0

    def fill(values: dict[str, str]) -> dict[str, str]:
        nonlocal taps
        taps += len(values)
        return values

    first = open_sell(stack)  # /sell
    taps += 1
    details = acknowledged(  # the package, then Next (location and start date are set)
        stack,
        first,
        stack.driver.submit_view("UFRONT", first, fill({action("package"): "2001:3001"})),
    )
    taps += 1
    member = {k: MEMBER[k] for k in ("first_name", "last_name", "email")}
    values = fill(
        {**{action(k): v for k, v in member.items()}, action("payment1_token"): PROFILE_TOKEN}
    )
    review = acknowledged(stack, details, stack.driver.submit_view("UFRONT", details, values))
    taps += 1  # Review
    decide(stack, "UFRONT", review)  # Submit for approval
    taps += 1
    sale_id = sale_id_of(review)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    assert sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL
    assert taps == 9


def test_change_fixes_the_member_and_asks_for_a_token_only_to_change_the_payment(
    stack: Stack,
) -> None:
    sale_id = request_approval(stack)
    record = sale(stack, sale_id)
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        "UFRONT", SaleAction.EDIT, sale_id, channel=str(record.dm_channel_id), ts=str(record.dm_ts)
    )
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    change = stack.slack.last_view()
    assert change["title"]["text"] == "Change the sale"
    # The requester's own input, prefilled in full (this modal is theirs alone)...
    assert element(change, "email")["initial_value"] == "jane.walker@example.com"
    assert element(change, "cell_phone")["initial_value"] == "+1 555 010 7788"
    assert element(change, "payment1_amount")["initial_value"] == "49.00"
    # ...but never a token: left empty it keeps the one on file.
    token = next(b for b in change["blocks"] if b.get("block_id") == block("payment1_token"))
    assert token["optional"] is True and "initial_value" not in token["element"]
    assert "keep the ProfileToken on file (…4242)" in token["hint"]["text"]
    assert PROFILE_TOKEN not in json.dumps(change)

    # A new kind of payment needs its token: said on the field, nothing changes.
    errors = field_errors(
        stack.driver.submit_view("UFRONT", change, {action("payment1_method"): "acct"})
    )
    assert "Paste the AcctToken" in errors[block("payment1_token")]
    assert sale(stack, sale_id).fingerprint == record.fingerprint
    # A typo in the member, fixed without pasting the token again.
    saved = stack.driver.submit_view(
        "UFRONT",
        change,
        {action("payment1_method"): "profile", action("last_name"): "Walken"},
    )
    assert saved.status_code == 200 and saved.text == ""
    changed = sale(stack, sale_id)
    assert changed.member["last_name"] == "Walken"  # type: ignore[index]
    assert changed.payments == record.payments and changed.sealed_tokens
    assert changed.changed_fields == ["Last name"]
    message = wait_for(
        lambda: (m := approval_message(stack, sale_id)) and "Changed by" in str(m) and m
    )
    assert "(last name)" in str(message["blocks"]) and "Walken" not in str(message["blocks"])
    approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id))
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    sent = stack.sandbox.received("clubready", "contract_sale")[0].json
    assert sent["LastName"] == "Walken"
    assert sent["PaymentMethods"][0]["ProfileToken"] == PROFILE_TOKEN


def test_no_view_carries_a_token_or_member_data_in_its_metadata(stack: Stack) -> None:
    review = review_view(stack, "UMANAGER")
    decide(stack, "UMANAGER", review, "submit_for_approval")
    wait_for(lambda: stack.slack.messages_in(APPROVALS))
    for view in stack.slack.views.values():
        metadata = json.loads(view.get("private_metadata") or "{}")
        assert set(metadata) <= {"sale", "fp", "more", "pay", "root", "draft"}, metadata


def test_change_to_another_payment_takes_its_token_and_sells_with_it(stack: Stack) -> None:
    sale_id = request_approval(stack, package="2003:3003", payments=[{"token": PROFILE_TOKEN}])
    record = sale(stack, sale_id)
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        "UFRONT", SaleAction.EDIT, sale_id, channel=str(record.dm_channel_id), ts=str(record.dm_ts)
    )
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    change = stack.slack.last_view()
    # A second payment, on demand here too: a gift card's AcctToken pays part of it.
    change = tap(stack, "UFRONT", change, SaleAction.ADD_PAYMENT)
    new_token = "tok_profile_NEW_card_8888"
    saved = stack.driver.submit_view(
        "UFRONT",
        change,
        {
            action("payment1_method"): "acct",
            action("payment1_token"): "tok_acct_gift_5555",
            action("payment1_amount"): "100.00",
            action("payment2_token"): new_token,
            action("payment2_amount"): "499.00",
        },
    )
    assert saved.status_code == 200 and saved.text == "", saved.text
    changed = sale(stack, sale_id)
    assert [p["last4"] for p in changed.payments] == ["5555", "8888"]
    assert changed.changed_fields == ["Payment 1", "Payment 2"]
    assert new_token not in json.dumps(approval_message(stack, sale_id))
    approve(stack, "UMANAGER", open_review(stack, "UMANAGER", sale_id))
    approve(stack, "UMANAGER2", open_review(stack, "UMANAGER2", sale_id))
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    methods = stack.sandbox.received("clubready", "contract_sale")[0].json["PaymentMethods"]
    assert methods[0] == {"AcctToken": "tok_acct_gift_5555", "PaymentAmount": 100}
    assert methods[1] == {"ProfileToken": new_token}

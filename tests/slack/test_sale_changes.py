"""Issue 18 item 2: a pending sale that changed after a manager reviewed it shows that
manager first what differs from what they saw (masked, never a token), and the
approval message says it changed and when."""

from __future__ import annotations

from sqlalchemy import select

from bot.devtools.sale_steps import (
    APPROVALS,
    PROFILE_TOKEN,
    approval_message,
    approve,
    change,
    open_review,
    request_approval,
    sale,
    wait_finished,
)
from bot.devtools.stack import Stack, wait_for
from bot.workflows.sales import SaleStatus
from storage.models import AuditEvent, SaleAsk, SaleSeen

#: The annual package, paid for; the sale can change to a cheaper package while pending.
ANNUAL = {
    "package": "2003:3003",
    "payments": [{"amount": "599.00", "token": PROFILE_TOKEN}],
}


def blocks_text(view: dict) -> list[str]:  # type: ignore[type-arg]
    return [str(b.get("text", {}).get("text", "")) for b in view["blocks"]]


def test_review_shows_first_what_changed_since_that_manager_saw_it(stack: Stack) -> None:
    sale_id = request_approval(stack, **ANNUAL)
    first = open_review(stack, "UMANAGER", sale_id)
    assert "Changed since you last saw it" not in str(first["blocks"])  # nothing seen before

    # A cheaper package, and the payment made to match it (a larger one is refused).
    assert (
        change(
            stack, sale_id, package="2001:3001", promo_code="SPRING", payment1_amount="49.00"
        ).text
        == ""
    )
    changed = sale(stack, sale_id)
    assert changed.changed_fields == [
        "Package",
        "Amount",
        "Promo code",
        "Approvals needed",
        "Payment 1",
    ]

    # The approval message says it changed, and when.
    message = wait_for(
        lambda: (m := approval_message(stack, sale_id)) and "Changed by" in str(m["blocks"]) and m
    )
    line = next(t for t in blocks_text(message) if "Changed by" in t)
    assert f"<!date^{int(changed.changed_at.timestamp())}^" in line
    assert "(package, amount, promo code, approvals needed, payment 1)" in line
    assert "earlier approvals no longer count" in line

    # The manager who saw the first version: what differs, first, field by field.
    again = open_review(stack, "UMANAGER", sale_id)
    top = blocks_text(again)[0]
    assert top.startswith(":pencil2: *Changed since you last saw it*")
    assert "• Package: Annual Premium → *Monthly Basic*" in top
    assert "• Amount: $599.00 → *$49.00*" in top
    assert "• Promo code: none → *SPRING*" in top
    assert "• Approvals needed: 2 managers → *1 manager*" in top
    assert "• Payment 1: " in top and "49.00" in top
    assert "First name" not in top  # unchanged: not listed
    # Another manager never saw it: the plain review.
    other = open_review(stack, "UMANAGER2", sale_id)
    assert "Changed since" not in str(other["blocks"])
    # Seen now: the same version again shows no changes.
    assert "Changed since" not in str(open_review(stack, "UMANAGER", sale_id)["blocks"])

    # It still sells once, after the new version's approval.
    approve(stack, "UMANAGER", again)
    assert wait_finished(stack, sale_id).status == SaleStatus.SOLD
    assert "Changed by" not in str(approval_message(stack, sale_id)["blocks"])


def test_what_an_approver_saw_is_kept_masked_without_tokens(stack: Stack) -> None:
    sale_id = request_approval(stack)
    open_review(stack, "UMANAGER", sale_id)
    with stack.frontdesk.db.session() as session:
        seen = session.scalars(select(SaleSeen).where(SaleSeen.sale_id == sale_id)).one()
    kept = str(seen.snapshot)
    assert seen.approver_user_id == "UMANAGER"
    assert seen.fingerprint == sale(stack, sale_id).fingerprint
    assert PROFILE_TOKEN not in kept and PROFILE_TOKEN[:-4] not in kept
    assert "…4242" in kept  # the token as …last4 only
    assert "jane.walker@example.com" not in kept and "Walker" not in kept
    assert "j•••@example.com" in kept and "•••88" in kept
    # Opening the review records no audit event and changes nothing else.
    with stack.frontdesk.db.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == sale_id)
        ).all()
    assert "sale.edit" not in actions


def test_who_was_asked_and_when_is_recorded_per_version(stack: Stack) -> None:
    """The data reminders build on: the approvals channel, asked when the request went
    out and again for the changed version."""
    sale_id = request_approval(stack, **ANNUAL)
    first_version = sale(stack, sale_id).fingerprint
    assert change(stack, sale_id, package="2001:3001", payment1_amount="49.00").text == ""
    asks = stack.frontdesk.services.sales.asks(sale_id)
    assert [(a.reason, a.target_kind, a.target_id) for a in asks] == [
        ("request", "channel", APPROVALS),
        ("request", "channel", APPROVALS),
    ]
    assert asks[0].fingerprint == first_version
    assert asks[1].fingerprint == sale(stack, sale_id).fingerprint
    with stack.frontdesk.db.session() as session:
        assert len(session.scalars(select(SaleAsk)).all()) == 2


def test_an_edit_that_changes_nothing_is_not_called_a_change(stack: Stack) -> None:
    sale_id = request_approval(stack)
    open_review(stack, "UMANAGER", sale_id)
    fingerprint = sale(stack, sale_id).fingerprint
    change(stack, sale_id)  # Save without changing anything
    assert sale(stack, sale_id).fingerprint == fingerprint
    assert sale(stack, sale_id).changed_at is None
    assert "Changed since" not in str(open_review(stack, "UMANAGER", sale_id)["blocks"])

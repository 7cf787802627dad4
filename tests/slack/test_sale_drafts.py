"""Issue 18 item 3: a sale's modal closed before it was submitted wipes the draft's
sealed payment tokens at once (Slack's ``view_closed``); the hourly sweep stays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select

from bot.clock import ManualClock
from bot.devtools.sale_steps import (
    acknowledged,
    decide,
    open_sell,
    review_view,
    sale,
    sale_id_of,
    submit_review,
    submit_start,
)
from bot.devtools.stack import Stack, wait_for
from bot.workflows.roles import Role
from bot.workflows.sales import SaleStatus
from storage.models import AuditEvent, RoleGrant


def actions_of(stack: Stack, sale_id: str) -> list[str]:
    with stack.frontdesk.db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == sale_id)
                .order_by(AuditEvent.id)
            )
        )


def test_closing_the_review_wipes_the_tokens_at_once(stack: Stack) -> None:
    review = review_view(stack)
    assert review["notify_on_close"] is True
    sale_id = sale_id_of(review)
    assert sale(stack, sale_id).sealed_tokens is not None

    assert stack.driver.view_closed("UFRONT", review).status_code == 200
    wiped = sale(stack, sale_id)  # gone by the time Slack has its answer
    assert wiped.sealed_tokens is None and wiped.status == SaleStatus.DRAFT
    assert wiped.member is None and wiped.payments == [] and wiped.member_masked == ""
    assert actions_of(stack, sale_id)[-1] == "sale.draft_closed"
    # The review's Submit, clicked in a race with the close, submits nothing.
    told = submit_review(stack, "UFRONT", review).json()
    assert told["response_action"] == "push"  # a notice on top: the review stays
    assert "Add the member and payment first" in str(told["view"])
    assert sale(stack, sale_id).status == SaleStatus.DRAFT
    assert stack.slack.messages_in("C0APPROVALS") == []
    # A second close changes nothing more.
    stack.driver.view_closed("UFRONT", review)
    assert actions_of(stack, sale_id).count("sale.draft_closed") == 1


def test_a_submitted_sale_keeps_its_tokens_when_a_view_closes(stack: Stack) -> None:
    review = review_view(stack)
    sale_id = sale_id_of(review)
    decide(stack, "UFRONT", review)
    wait_for(lambda: sale(stack, sale_id).status == SaleStatus.PENDING_APPROVAL)
    assert stack.driver.view_closed("UFRONT", review).status_code == 200
    assert sale(stack, sale_id).sealed_tokens is not None
    assert "sale.draft_closed" not in actions_of(stack, sale_id)


def test_only_the_requester_closing_their_own_view_wipes(stack: Stack) -> None:
    review = review_view(stack)
    sale_id = sale_id_of(review)
    # Another person's view_closed naming this sale (metadata is the app's own, but
    # a person is who Slack says they are).
    stack.driver.view_closed("UMANAGER", review)
    stack.driver.view_closed("UFRONT", {**review, "private_metadata": "not json"})
    assert sale(stack, sale_id).sealed_tokens is not None
    # The requester, even after losing their role, may wipe their own tokens.
    with stack.frontdesk.db.session() as session:
        session.execute(delete(RoleGrant).where(RoleGrant.user_id == "UFRONT"))
    stack.driver.view_closed("UFRONT", review)
    assert sale(stack, sale_id).sealed_tokens is None


def test_closing_the_member_view_before_any_token_changes_nothing(stack: Stack) -> None:
    start = open_sell(stack)
    details = acknowledged(stack, start, submit_start(stack, start))
    assert details["notify_on_close"] is True
    sale_id = sale_id_of(details)
    assert stack.driver.view_closed("UFRONT", details).status_code == 200
    assert sale(stack, sale_id).status == SaleStatus.DRAFT
    assert "sale.draft_closed" not in actions_of(stack, sale_id)


def test_the_hourly_sweep_still_cancels_drafts_nobody_closed(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    stack = Stack(workdir=tmp_path, database_url=database_url, clock=clock)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
        sale_id = sale_id_of(review_view(stack))
        clock.advance(minutes=61)
        stack.frontdesk.services.sales.expire_due()
        swept = sale(stack, sale_id)
        assert swept.status == SaleStatus.CANCELLED and swept.sealed_tokens is None
    finally:
        stack.stop()

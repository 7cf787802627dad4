"""The steps of a sale as people take them in Slack: signed requests to the real app.

Shared by the end-to-end tests and ``frontdesk demo``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import SALE_FIELDS, Command, SaleAction, SaleDecision
from bot.workflows.sales import SaleStatus
from storage.models import Sale

APPROVALS = "C0APPROVALS"
TRIAGE = "C0TRIAGE"
PROFILE_TOKEN = "tok_profile_4242424242"
MEMBER = {
    "first_name": "Jane",
    "last_name": "Walker",
    "email": "jane.walker@example.com",
    "cell_phone": "+1 555 010 7788",
}


def action(field: str) -> str:
    return SALE_FIELDS[field][1]


def block(field: str) -> str:
    return SALE_FIELDS[field][0]


def open_sell(stack: Stack, user: str = "UFRONT", text: str = "") -> dict[str, Any]:
    before = len(stack.slack.calls_to("views.open"))
    response = stack.driver.command(user, Command.SELL, text)
    assert response.status_code == 200
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    return stack.slack.last_view()


def acknowledged(stack: Stack, view: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.get("response_action") in ("update", "push"), answer
    return stack.slack.acknowledged_view(view, answer)


def field_errors(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    answer = response.json() if response.text else {}
    assert answer.get("response_action") == "errors", answer
    return dict(answer["errors"])


def submit_start(
    stack: Stack,
    view: dict[str, Any],
    user: str = "UFRONT",
    **fields: str,
) -> httpx.Response:
    values = {action("package"): "2001:3001", **{action(k): v for k, v in fields.items()}}
    return stack.driver.submit_view(user, view, values)


def inputs_of(view: dict[str, Any]) -> list[str]:
    """The block ids of a view's inputs, in order."""
    return [b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"]


def tap(stack: Stack, user: str, view: dict[str, Any], action_id: str) -> dict[str, Any]:
    """A button in a modal that reshapes it (More details, Add a second payment): the
    view as updated in place (same id, so what was typed is kept)."""
    before = len(stack.slack.calls_to("views.update"))
    response = stack.driver.click_in_view(user, view, action_id, sale_id_of(view))
    assert response.status_code == 200
    wait_for(lambda: len(stack.slack.calls_to("views.update")) > before)
    updated = stack.slack.views[view["id"]]
    assert updated["hash"] != view["hash"]
    return updated


def submit_details(
    stack: Stack,
    view: dict[str, Any],
    user: str = "UFRONT",
    member: dict[str, str] | None = None,
    payments: list[dict[str, str]] | None = None,
) -> httpx.Response:
    """Fill the member and payment view and press Review. Each payment is ``token``
    (pasted), and optionally ``method`` (profile or acct) and ``amount``: the method is
    preselected and the first amount prefilled with the price. Fields one tap away
    (More details, Add a second payment) are tapped open first, as a person would."""
    member = MEMBER if member is None else member
    payments = [{"token": PROFILE_TOKEN}] if payments is None else payments
    if any(block(k) not in inputs_of(view) for k in member):
        view = tap(stack, user, view, SaleAction.MORE_DETAILS)
    if len(payments) > 1 and block("payment2_token") not in inputs_of(view):
        view = tap(stack, user, view, SaleAction.ADD_PAYMENT)
    values = {action(k): v for k, v in member.items()}
    for index, payment in enumerate(payments, start=1):
        for key, value in payment.items():
            values[action(f"payment{index}_{key}")] = value
    return stack.driver.submit_view(user, view, values)


def back(stack: Stack, user: str, view: dict[str, Any]) -> dict[str, Any]:
    """The close button of a pushed view (Back, Edit): Slack tells the app the view
    closed and shows the view under it again, as it was left."""
    assert view.get("previous_view_id"), "not pushed: its close button would close the modal"
    assert stack.driver.view_closed(user, view).status_code == 200
    return stack.slack.views[view["previous_view_id"]]


def review_view(
    stack: Stack,
    user: str = "UFRONT",
    package: str = "2001:3001",
    payments: list[dict[str, str]] | None = None,
    member: dict[str, str] | None = None,
) -> dict[str, Any]:
    """/sell through to the requester's review view."""
    start = open_sell(stack, user)
    details = acknowledged(stack, start, submit_start(stack, start, user, package=package))
    return acknowledged(
        stack, details, submit_details(stack, details, user, member=member, payments=payments)
    )


def sale_id_of(view: dict[str, Any]) -> str:
    return str(json.loads(view["private_metadata"])["sale"])


def sale(stack: Stack, sale_id: str) -> Sale:
    found = stack.frontdesk.services.sales.get(sale_id)
    assert found is not None
    return found


def submit_review(
    stack: Stack, user: str, view: dict[str, Any], decision: str | None = None
) -> httpx.Response:
    """Submit the requester's review (a manager there chooses ``decision``)."""
    values = {action("decision"): decision} if decision else {}
    return stack.driver.submit_view(user, view, values)


def decide(stack: Stack, user: str, view: dict[str, Any], decision: str | None = None) -> None:
    """Submit the review; the whole modal closes (the DM is the sale's record)."""
    response = submit_review(stack, user, view, decision)
    assert response.status_code == 200, response.text
    assert response.json() == {"response_action": "clear"}, response.text


def request_approval(stack: Stack, user: str = "UFRONT", **kwargs: Any) -> str:
    """A sale submitted for approval; returns its id once its approval message is posted."""
    review = review_view(stack, user, **kwargs)
    sale_id = sale_id_of(review)
    decide(stack, user, review, SaleDecision.SUBMIT if _chooses(review) else None)
    wait_for(lambda: sale(stack, sale_id).approval_ts)
    return sale_id


def _chooses(review: dict[str, Any]) -> bool:
    return block("decision") in inputs_of(review)


def approval_message(stack: Stack, sale_id: str) -> dict[str, Any]:
    record = sale(stack, sale_id)
    assert record.approval_channel_id and record.approval_ts
    return stack.slack.message(record.approval_channel_id, record.approval_ts)


def open_review(stack: Stack, approver: str, sale_id: str) -> dict[str, Any]:
    """Click Review on the approval message; the approval modal it opens."""
    message = approval_message(stack, sale_id)
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        approver, SaleAction.REVIEW, sale_id, channel=message["channel"], ts=message["ts"]
    )
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    return stack.slack.last_view()


def change(stack: Stack, sale_id: str, user: str = "UFRONT", **fields: str) -> httpx.Response:
    """The requester clicks Change on their DM and saves the edit modal."""
    record = sale(stack, sale_id)
    before = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        user, SaleAction.EDIT, sale_id, channel=str(record.dm_channel_id), ts=str(record.dm_ts)
    )
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    view = stack.slack.last_view()
    return stack.driver.submit_view(user, view, {action(k): v for k, v in fields.items()})


def approve(stack: Stack, approver: str, view: dict[str, Any]) -> httpx.Response:
    return stack.driver.submit_view(approver, view, {})


def wait_finished(stack: Stack, sale_id: str) -> Sale:
    done = {SaleStatus.SOLD, SaleStatus.REFUSED, SaleStatus.UNKNOWN}
    return wait_for(lambda: (s := sale(stack, sale_id)).status in done and s, 15.0)


def dm_texts(stack: Stack, user: str) -> list[str]:
    return [
        " ".join(b.get("text", {}).get("text", "") for b in m["blocks"]) or str(m["text"])
        for m in stack.slack.messages_in("D" + user[1:])
    ]

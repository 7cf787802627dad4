"""Issue 12, defect 10: a wiped payment token must be gone from the disk, not only the row.

Sales are driven through the real app (signed Slack requests, the sandbox ClubReady,
the worker) to every end state; then the database's bytes are scanned for the
planted tokens and for every sealed value the configured key can open. SQLite:
the database file, its ``-wal`` and ``-shm``. PostgreSQL: ``pg_dump`` and every
relation file of the database, after the app's own wipe job has run.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.devtools import sale_steps
from bot.devtools.residue import Scan, scan_database
from bot.devtools.stack import PAYMENT_TOKEN_KEY, TEAM, Stack, wait_for
from bot.slack.ids import SaleAction
from bot.workflows.roles import Actor, Role
from bot.workflows.sales import PaymentInput, SaleDetails, SaleStart, SaleStatus, SubmitResult
from vendors.sandbox import Fault

ENDED = {
    "sold": SaleStatus.SOLD,
    "refused": SaleStatus.REFUSED,
    "unknown": SaleStatus.UNKNOWN,
    "reconciled_sold": SaleStatus.SOLD,
    "reconciled_not_sold": SaleStatus.NOT_SOLD,
    "rejected": SaleStatus.REJECTED,
    "expired": SaleStatus.EXPIRED,
    "withdrawn": SaleStatus.CANCELLED,
    "abandoned_draft": SaleStatus.CANCELLED,
}


def _token(name: str) -> str:
    prefix = "tok_decline" if name == "refused" else "tok_profile"
    return f"{prefix}_PLANTED_{name}_{secrets.token_hex(6)}"


def _sale(stack: Stack, name: str, token: str, *, submit: bool = True) -> str:
    payments = [{"amount": "49.00", "token": token}]
    member = {**sale_steps.MEMBER, "email": f"{name.replace('_', '.')}@example.com"}
    if submit:
        return sale_steps.request_approval(stack, payments=payments, member=member)
    return sale_steps.sale_id_of(sale_steps.review_view(stack, payments=payments, member=member))


def _approve(stack: Stack, sale_id: str) -> None:
    view = sale_steps.open_review(stack, "UMANAGER", sale_id)
    assert sale_steps.approve(stack, "UMANAGER", view).text == ""
    sale_steps.wait_finished(stack, sale_id)


def _reject(stack: Stack, sale_id: str) -> None:
    view = sale_steps.open_review(stack, "UMANAGER", sale_id)
    before = len(stack.slack.calls_to("views.push"))
    stack.driver.click_in_view("UMANAGER", view, SaleAction.REJECT, sale_id)
    wait_for(lambda: len(stack.slack.calls_to("views.push")) > before)
    reject = stack.slack.last_view()
    answer = stack.driver.submit_view(
        "UMANAGER", reject, {sale_steps.action("reason"): "Wrong package"}
    )
    assert answer.json() == {"response_action": "clear"}


def _withdraw(stack: Stack, sale_id: str) -> None:
    record = wait_for(lambda: (s := sale_steps.sale(stack, sale_id)).dm_ts and s)
    stack.driver.click(
        "UFRONT", SaleAction.WITHDRAW, sale_id, channel=record.dm_channel_id, ts=record.dm_ts
    )


def _reconcile(stack: Stack, sale_id: str, finding: str) -> None:
    record = wait_for(lambda: (s := sale_steps.sale(stack, sale_id)).triage_ts and s)
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        "USUPPORT",
        SaleAction.RECONCILE,
        sale_id,
        channel=record.triage_channel_id,
        ts=record.triage_ts,
    )
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    modal = stack.slack.last_view()
    assert sale_id in json.dumps(modal)
    answer = stack.driver.submit_view(
        "USUPPORT",
        modal,
        {sale_steps.action("finding"): finding, sale_steps.action("note"): "checked"},
    )
    assert answer.text == ""


def _a_days_sales(stack: Stack, count: int) -> dict[str, tuple[str, str]]:
    """Many more sales, through the workflow (quicker than Slack), withdrawn or rejected:
    enough rows that the pages holding wiped tokens stop churning, as they do in a real
    table. Returns name -> (token, sealed value while it was pending)."""
    sales = stack.frontdesk.services.sales
    front, manager = Actor(TEAM, "UFRONT"), Actor(TEAM, "UMANAGER")
    today = sales.today_at(stack.frontdesk.services.locations["downtown"])
    planted = {}
    for index in range(count):
        name = f"day_{index}"
        token = _token(name)
        sale = sales.start(front, SaleStart("downtown", "2001:3001", start_date=today))
        member = {**sale_steps.MEMBER, "email": f"day{index}@example.com"}
        payments = (PaymentInput(amount="49.00", token=token),)
        sale = sales.add_details(front, sale.id, SaleDetails(member=member, payments=payments))
        assert sales.submit(front, sale.id, sale.fingerprint) is SubmitResult.PENDING_APPROVAL
        sealed = sale_steps.sale(stack, sale.id).sealed_tokens
        assert sealed
        if index % 2:
            assert sales.reject(manager, sale.id, "no")
        else:
            assert sales.withdraw(front, sale.id)
        planted[name] = (token, sealed)
    return planted


def _run_every_end_state(stack: Stack, clock: ManualClock) -> dict[str, Any]:
    """Drive one sale to each end state (and one left pending); return what it planted."""
    tokens = {name: _token(name) for name in (*ENDED, "pending")}
    sealed: dict[str, str] = {}
    ids: dict[str, str] = {}

    def planted(name: str, sale_id: str) -> None:
        ids[name] = sale_id
        value = sale_steps.sale(stack, sale_id).sealed_tokens
        assert value, f"{name}: a live sale holds its tokens, sealed"
        sealed[name] = value

    # Those that end with time first: the clock moves on by a day.
    planted("expired", _sale(stack, "expired", tokens["expired"]))
    planted(
        "abandoned_draft", _sale(stack, "abandoned_draft", tokens["abandoned_draft"], submit=False)
    )
    clock.advance(hours=25)
    stack.frontdesk.worker.sweep()
    for name in ("sold", "refused", "unknown", "reconciled_sold", "reconciled_not_sold"):
        planted(name, _sale(stack, name, tokens[name]))
    for name in ("sold", "refused"):
        _approve(stack, ids[name])
    stack.sandbox.inject(
        Fault("read_timeout", vendor="clubready", operation="contract_sale", seconds=1, times=3)
    )
    for name in ("unknown", "reconciled_sold", "reconciled_not_sold"):
        _approve(stack, ids[name])
    _reconcile(stack, ids["reconciled_sold"], "sold")
    _reconcile(stack, ids["reconciled_not_sold"], "not_sold")
    planted("rejected", _sale(stack, "rejected", tokens["rejected"]))
    _reject(stack, ids["rejected"])
    planted("withdrawn", _sale(stack, "withdrawn", tokens["withdrawn"]))
    _withdraw(stack, ids["withdrawn"])
    planted("pending", _sale(stack, "pending", tokens["pending"]))
    for name, (token, value) in _a_days_sales(stack, 60).items():
        tokens[name], sealed[name] = token, value

    for name, status in ENDED.items():
        record = wait_for(
            lambda n=name, s=status: (r := sale_steps.sale(stack, ids[n])).status == s and r
        )
        assert record.sealed_tokens is None, name
    assert len(stack.sandbox.received("clubready", "contract_sale")) == 5
    return {"tokens": tokens, "sealed": sealed, "ids": ids}


def _needles(planted: dict[str, Any]) -> dict[str, str]:
    """Each planted token by its sale's name, and each sealed value as ``sealed:<name>``."""
    return {
        **planted["tokens"],
        **{f"sealed:{name}": value for name, value in planted["sealed"].items()},
    }


def _ended(planted: dict[str, Any]) -> list[str]:
    return [n for n in _needles(planted) if n.split(":")[-1] != "pending"]


def _scan_after_the_wipe_job(stack: Stack, planted: dict[str, Any]) -> Scan:
    """Scan until nothing of an ended sale is left (the worker's wipe job runs on its own
    within seconds), or give up and return the last scan."""
    url = stack.settings.database_url
    needles, ended = _needles(planted), _ended(planted)
    last: list[Scan] = []

    def clean() -> bool:
        last[:] = [scan_database(url, needles, [PAYMENT_TOKEN_KEY])]
        return not last[0].found(ended)

    try:
        wait_for(clean, 30.0)
    except AssertionError:
        pass
    return last[0]


def test_wiped_tokens_leave_no_bytes_on_disk(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))
    stack = Stack(
        workdir=tmp_path,
        database_url=database_url,
        clock=clock,
        read_timeout=0.5,
        overrides={"sale_drafts_per_person_hour": 1000},
    )
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
        stack.grant("UMANAGER", Role.MANAGER, "downtown")
        stack.grant("USUPPORT", Role.SUPPORT)
        planted = _run_every_end_state(stack, clock)
        scan = _scan_after_the_wipe_job(stack, planted)
    finally:
        stack.stop()
    print(scan.report())
    tokens = list(planted["tokens"])
    # The scan finds what is meant to be there: the pending sale's sealed value, which
    # the app's key opens to its token...
    assert any(s.raw.get("sealed:pending") for s in scan.sources), scan.report()
    assert any(s.sealed.get("pending") for s in scan.sources), scan.report()
    # ...no token in clear, and nothing of a sale that ended, raw or sealed, anywhere.
    clear = {s.name: hits for s in scan.sources if (hits := {n for n in tokens if s.raw[n]})}
    assert not clear, f"payment tokens in clear on disk: {clear}\n{scan.report()}"
    leaked = scan.found(_ended(planted))
    assert not leaked, f"wiped tokens still recoverable: {leaked}\n{scan.report()}"

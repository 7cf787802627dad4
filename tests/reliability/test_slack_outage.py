"""Slack away in the middle of a burst, two ``frontdesk serve`` processes on one database.

30 resets and 10 sales are asked for; in the middle of the burst Slack stops
accepting connections, then answers every call with 429 and a Retry-After, then
comes back (dropping a few answers after acting on them, for good measure). The
vendors keep answering all along. Once Slack is back every notice is delivered
exactly once: no message twice, every confirmation shows its outcome, every
failure is in triage, every sale has its approval message and its outcome DM.

The outage lasts ``FRONTDESK_FAULT_OUTAGE_SECONDS`` (8 in the test command, to keep
the suite short; the full 60 seconds of issue 15 are run with
``FRONTDESK_FAULT_OUTAGE_SECONDS=60 pytest tests/reliability/test_slack_outage.py``).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.devtools.cluster import Cluster
from bot.devtools.postgres import PostgresServer
from bot.devtools.stack import wait_for
from bot.slack.ids import Command, ResetAction, SaleView
from bot.workflows.outbox import NoticeStatus
from bot.workflows.resets import FINISHED as RESET_FINISHED
from bot.workflows.resets import NEEDS_TRIAGE as RESET_FAILURES
from bot.workflows.roles import Role
from bot.workflows.sales import NEEDS_TRIAGE as SALE_FAILURES
from bot.workflows.sales import SaleStatus
from storage.models import Notice, ResetRequest, Sale

OUTAGE = float(os.environ.get("FRONTDESK_FAULT_OUTAGE_SECONDS", "8"))
RATE_LIMITED = min(6.0, max(2.0, OUTAGE / 10))
RESETS, SALES = 30, 10
MANAGER = "UMANAGER"


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer | None
) -> Iterator[Cluster]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'outage.sqlite3'}"
    else:
        if postgres is None:
            pytest.skip("PostgreSQL server binaries are not installed")
        url = postgres.create_database(f"outage{os.getpid()}_{time.monotonic_ns() % 100000}")
    running = Cluster(tmp_path, url, lease_seconds=20)
    running.grant("UFRONT", Role.FRONT_DESK)
    running.grant(MANAGER, Role.MANAGER)
    running.grant("USUPPORT", Role.SUPPORT)
    yield running
    running.stop()


def _approval_view(sale: Sale) -> dict[str, Any]:
    return {
        "id": "VAPPROVE",
        "type": "modal",
        "callback_id": SaleView.APPROVAL.value,
        "private_metadata": json.dumps({"sale": sale.id, "fp": sale.fingerprint}),
        "blocks": [],
    }


def _member(n: int) -> str:
    """Two known members (their reset is sent) and unknown ones (the front desk's to
    fix: no triage)."""
    if n % 3 == 2:
        return f"ghost{n}@example.com"
    return ("jane@example.com", "tom@example.com")[n % 2]


@pytest.mark.timeout(240 + 2 * OUTAGE)
def test_slack_away_mid_burst_every_notice_delivered_exactly_once(cluster: Cluster) -> None:
    env = {"FRONTDESK_RESET_LIMIT_PER_HOUR": "100", "FRONTDESK_RESETS_PER_PERSON_HOUR": "100"}
    drivers = [cluster.driver(cluster.start_server(name, **env)) for name in ("alpha", "beta")]
    slack, db = cluster.slack, cluster.local.db
    sales: list[Sale] = []

    def ask_reset(n: int) -> None:
        response = drivers[n % 2].command("UFRONT", Command.RESET, f"{_member(n)} downtown")
        assert response.status_code == 200

    def ask_sale(n: int) -> None:
        token = f"tok_decline_{n:04d}" if n % 5 == 4 else f"tok_profile_outage_{n:04d}"
        sales.append(cluster.pending_sale(token, f"buyer{n}@example.com"))

    def click_everything() -> None:
        """Send every draft and approve every pending sale, alternating processes (Slack
        still delivers clicks: only its Web API is away from us)."""
        with db.session() as session:
            drafts = session.scalars(select(ResetRequest.id).where(ResetRequest.status == "draft"))
            for n, request_id in enumerate(drafts.all()):
                drivers[n % 2].click(
                    "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts="0"
                )
        for n, sale in enumerate(sales):
            if cluster.sale(sale.id).status == SaleStatus.PENDING_APPROVAL:
                drivers[n % 2].submit_view(MANAGER, _approval_view(sale), {})

    # The first third of the burst with Slack up.
    for n in range(10):
        ask_reset(n)
    for n in range(3):
        ask_sale(n)
    click_everything()
    # Slack goes away in the middle of the burst; the rest arrives meanwhile.
    slack.go_down()
    down_at = time.monotonic()
    for n in range(10, RESETS):
        ask_reset(n)
    for n in range(3, SALES):
        ask_sale(n)
    wait_for(lambda: _count(db, ResetRequest) == RESETS, 20)
    click_everything()
    # The vendors keep working: every outcome is stored while Slack is away.
    wait_for(lambda: _all_settled(cluster), 60)
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
    # Back, but answering 429 to everything for a while; then fully back, with the
    # first answers of two posts lost after Slack acted on them.
    # The 429 phase lasts until calls have met it (the notifiers' backoff after the
    # outage may hold them for a while on a loaded machine), then RATE_LIMITED more.
    slack.rate_limit_all(600, retry_after=2)
    slack.come_back()
    wait_for(lambda: slack.rate_limited, 90)
    time.sleep(RATE_LIMITED)
    slack.rate_limit_all(0)
    slack.drop_answers("chat.postMessage", times=2)
    back_at = time.monotonic()

    wait_for(lambda: _outbox_drained(db), 90)
    drained_in = time.monotonic() - back_at
    print(f"\n[outage {OUTAGE:.0f} s] outbox drained {drained_in:.1f} s after Slack came back")

    with db.session() as session:
        resets = session.scalars(select(ResetRequest)).all()
        sold = session.scalars(select(Sale).where(Sale.status != "draft")).all()
        given_up = session.scalars(
            select(Notice).where(Notice.status == NoticeStatus.ABANDONED.value)
        ).all()
    assert given_up == []
    assert len(resets) == RESETS and len(sold) == SALES
    assert all(r.status in RESET_FINISHED for r in resets)

    # No message twice: every message frontdesk posted carries its own key.
    keys = Counter(
        json.dumps((m.get("metadata") or {}).get("event_payload")) for m in slack.messages.values()
    )
    assert [k for k, count in keys.items() if count > 1] == []
    dm, triage, approvals = (slack.messages_in(c) for c in ("DFRONT", "C0TRIAGE", "C0APPROVALS"))
    # 30 confirmations, and for each sale its status DM and its outcome DM.
    assert len(dm) == RESETS + 2 * SALES
    # Every confirmation shows its outcome (and never went back to an earlier state).
    for reset in resets:
        assert reset.message_ts, reset.id
        text = slack.message("DFRONT", reset.message_ts)["text"]
        expected = {"sent": "Reset sent", "not_found": "found no member matching"}[reset.status]
        assert expected in text, (reset.status, text)
        versions = [v["text"] for v in slack.history_of("DFRONT", reset.message_ts)]
        assert not any("Sending" in v for v in versions[versions.index(text) :]), versions
    # Every failure is in triage, once.
    failures = [r.id for r in resets if r.status in RESET_FAILURES]
    failures += [s.id for s in sold if s.status in SALE_FAILURES]
    assert failures and len(triage) == len(failures)
    for reset in resets:
        assert bool(reset.triage_ts) == (reset.status in RESET_FAILURES)
    # Every sale has its approval message, showing how it ended, and its outcome DM.
    assert len(approvals) == SALES
    for sale in sold:
        assert sale.status in (SaleStatus.SOLD, SaleStatus.REFUSED), sale.status
        message = slack.message("C0APPROVALS", sale.approval_ts)
        shown = json.dumps(message["blocks"])
        assert ("Sold" if sale.status == SaleStatus.SOLD else "refused") in shown
        assert bool(sale.triage_ts) == (sale.status in SALE_FAILURES)
    assert slack.dropped == ["chat.postMessage", "chat.postMessage"]
    assert slack.rate_limited, "the 429 phase was exercised"


def _count(db: Any, model: Any) -> int:
    with db.session() as session:
        return len(session.scalars(select(model.id)).all())


def _all_settled(cluster: Cluster) -> bool:
    with cluster.local.db.session() as session:
        resets = session.scalars(select(ResetRequest.status)).all()
        sales = session.scalars(select(Sale.status).where(Sale.status != "draft")).all()
    return (
        len(resets) == RESETS
        and all(s in RESET_FINISHED for s in resets)
        and len(sales) == SALES
        and all(s in (SaleStatus.SOLD, SaleStatus.REFUSED) for s in sales)
    )


def _outbox_drained(db: Any) -> bool:
    with db.session() as session:
        waiting = session.scalars(
            select(Notice.id).where(
                Notice.status.in_([NoticeStatus.PENDING.value, NoticeStatus.SENDING.value])
            )
        ).all()
    return not waiting

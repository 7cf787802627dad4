"""Exactly once across processes: real ``frontdesk serve`` processes on one PostgreSQL.

Many threads click Approve on the same sale through two server processes at once;
then a process is killed between claiming a sale and recording its outcome. The
sandbox, which sees every request that reaches "ClubReady", is the judge.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.devtools.cluster import Cluster
from bot.devtools.postgres import PostgresServer
from bot.devtools.stack import (
    wait_for,
)
from bot.slack.ids import SaleView
from bot.workflows.roles import Role
from bot.workflows.sales import SaleStatus
from storage.models import AuditEvent, Sale
from vendors.sandbox import Fault

MANAGERS = ["UM1", "UM2", "UM3", "UM4"]


def approval_view(sale: Sale) -> dict[str, Any]:
    """The approval modal as Slack sends it back on submit."""
    return {
        "id": "VAPPROVE",
        "type": "modal",
        "callback_id": SaleView.APPROVAL.value,
        "private_metadata": json.dumps({"sale": sale.id, "fp": sale.fingerprint}),
        "blocks": [],
    }


@pytest.fixture
def cluster_url(postgres: PostgresServer | None) -> str:
    if postgres is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    return postgres.create_database(f"procs{os.getpid()}_{time.monotonic_ns() % 100000}")


@pytest.fixture
def cluster(cluster_url: str, tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(
        tmp_path, cluster_url, lease_seconds=6
    )  # the vendor deadline is under half of it
    running.grant("UFRONT", Role.FRONT_DESK)
    for manager in MANAGERS:
        running.grant(manager, Role.MANAGER)
    yield running
    running.stop()


@pytest.mark.postgres
def test_many_approvals_through_two_processes_sell_once(cluster: Cluster) -> None:
    urls = [cluster.start_server("alpha"), cluster.start_server("beta")]
    drivers = [cluster.driver(url) for url in urls]
    sales = [
        cluster.pending_sale(f"tok_profile_multi_{n:04d}", f"ann{n}@example.com") for n in range(3)
    ]

    def click(n: int) -> int:
        sale = sales[n % len(sales)]
        driver = drivers[n % 2]
        response = driver.submit_view(MANAGERS[n % len(MANAGERS)], approval_view(sale), {})
        return response.status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(click, range(96)))
    assert set(statuses) == {200}
    for sale in sales:
        wait_for(lambda s=sale: cluster.sale(s.id).status == SaleStatus.SOLD, 30)
    time.sleep(1.0)  # anything doubled would have arrived by now
    received = cluster.sandbox.received("clubready", "contract_sale")
    assert sorted(r.json["ExternalId"] for r in received) == sorted(s.id for s in sales)
    with cluster.local.db.session() as session:
        approvals = session.scalars(select(AuditEvent).where(AuditEvent.action == "sale.approve"))
        assert sorted(a.subject_id for a in approvals) == sorted(s.id for s in sales)
    workers = {cluster.sale(s.id).worker_id for s in sales}
    assert workers <= {"alpha", "beta"}


@pytest.mark.postgres
def test_killed_between_claim_and_outcome_is_unknown_never_resent(cluster: Cluster) -> None:
    cluster.start_server("alpha")
    cluster.sandbox.inject(
        Fault("latency", vendor="clubready", operation="contract_sale", seconds=4)
    )
    sale = cluster.pending_sale("tok_profile_killed_0001", "ann@example.com")
    driver = cluster.driver(cluster.servers["alpha"][1])
    assert driver.submit_view("UM1", approval_view(sale), {}).text == ""
    wait_for(lambda: cluster.sandbox.received("clubready", "contract_sale"), 15)
    claimed = cluster.sale(sale.id)
    assert claimed.status == SaleStatus.SUBMITTING and claimed.worker_id == "alpha"
    cluster.kill("alpha")  # mid-call: the request has left, no outcome recorded

    cluster.start_server("gamma")  # the restart
    unknown = wait_for(lambda: (s := cluster.sale(sale.id)).status == SaleStatus.UNKNOWN and s, 30)
    assert unknown.sealed_tokens is None
    assert "may or may not" in (unknown.outcome_message or "")
    # A late Approve through the new process changes nothing either.
    restarted = cluster.driver(cluster.servers["gamma"][1])
    answer = restarted.submit_view("UM2", approval_view(sale), {})
    assert "already decided" in answer.text
    time.sleep(5)  # the sandbox finished the first request; nothing else may come
    assert len(cluster.sandbox.received("clubready", "contract_sale")) == 1
    assert cluster.sale(sale.id).status == SaleStatus.UNKNOWN
    triage = [m for m in cluster.slack.messages_in("C0TRIAGE") if sale.id in json.dumps(m)]
    assert triage, "the unknown sale must reach triage"

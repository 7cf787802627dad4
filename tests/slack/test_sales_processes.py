"""Exactly once across processes: real ``frontdesk serve`` processes on one PostgreSQL.

Many threads click Approve on the same sale through two server processes at once;
then a process is killed between claiming a sale and recording its outcome. The
sandbox, which sees every request that reaches "ClubReady", is the judge.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import Frontdesk, build
from bot.config import Settings
from bot.devtools.driver import SlackDriver
from bot.devtools.fake_slack import FakeSlack
from bot.devtools.stack import (
    DEMO_SECRETS,
    LOCATIONS_YAML,
    PAYMENT_TOKEN_KEY,
    SIGNING_SECRET,
    TEAM,
    wait_for,
)
from bot.slack.ids import SaleView
from bot.workflows.roles import Actor, Role
from bot.workflows.sales import PaymentInput, SaleDetails, SaleStart, SaleStatus
from storage.db import upgrade
from storage.models import AuditEvent, Sale
from tests.postgres import PostgresServer
from vendors.sandbox import Fault, Sandbox

ROOT = Path(__file__).resolve().parents[2]
MANAGERS = ["UM1", "UM2", "UM3", "UM4"]
REQUESTER = Actor(team_id=TEAM, user_id="UFRONT")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """The test's side (sandbox, fake Slack, an in-process app for setup) and N servers."""

    def __init__(self, workdir: Path, database_url: str, lease_seconds: float) -> None:
        self.database_url = database_url
        self.lease_seconds = lease_seconds
        self.sandbox = Sandbox().start()
        self.slack = FakeSlack().start()
        os.environ.update(DEMO_SECRETS)
        self.locations_file = workdir / "locations.yml"
        self.locations_file.write_text(textwrap.dedent(LOCATIONS_YAML))
        self.logs = workdir
        self.env = {
            **os.environ,
            **DEMO_SECRETS,
            "FRONTDESK_SLACK_BOT_TOKEN": "fake-bot-token",
            "FRONTDESK_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "FRONTDESK_SLACK_API_URL": self.slack.url,
            "FRONTDESK_DATABASE_URL": database_url,
            "FRONTDESK_LOCATIONS_FILE": str(self.locations_file),
            "FRONTDESK_CLUBREADY_URL": self.sandbox.base_url("clubready"),
            "FRONTDESK_PAYMENT_TOKEN_KEYS": PAYMENT_TOKEN_KEY,
            "FRONTDESK_VENDOR_READ_TIMEOUT": "30",
            "FRONTDESK_WORKER_LEASE_SECONDS": str(lease_seconds),
            "FRONTDESK_WORKER_POLL_SECONDS": "0.2",
        }
        upgrade(database_url)
        settings = Settings(
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.slack.url,
            database_url=database_url,
            locations_file=self.locations_file,
            clubready_url=self.sandbox.base_url("clubready"),
            payment_token_keys=PAYMENT_TOKEN_KEY,
        )
        self.local: Frontdesk = build(settings)  # setup only: its worker never starts
        self.servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}

    def start_server(self, name: str) -> str:
        port = _free_port()
        env = {**self.env, "FRONTDESK_HTTP_PORT": str(port), "FRONTDESK_WORKER_ID": name}
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited: {(self.logs / f'{name}.log').read_text()}")
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30)
        self.servers[name] = (process, url)
        return url

    def kill(self, name: str) -> None:
        process, _ = self.servers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def driver(self, url: str) -> SlackDriver:
        return SlackDriver(
            app_url=url, signing_secret=SIGNING_SECRET, response_url_base=self.slack.url
        )

    def grant(self, user_id: str, role: Role) -> None:
        with self.local.db.session() as session:
            self.local.services.resets.roles.grant(
                session,
                by="setup",
                target=Actor(team_id=TEAM, user_id=user_id),
                role=role,
                location_id="downtown",
            )

    def pending_sale(self, token: str, email: str) -> Sale:
        sales = self.local.services.sales
        draft = sales.start(
            REQUESTER,
            SaleStart(
                location_id="downtown",
                package="2001:3001",
                start_date=sales.today_at(self.local.services.locations["downtown"]),
            ),
        )
        sale = sales.add_details(
            REQUESTER,
            draft.id,
            SaleDetails(
                member={"first_name": "Ann", "last_name": "Lee", "email": email},
                payments=(PaymentInput(amount="49.00", profile_token=token),),
            ),
        )
        sales.submit(REQUESTER, sale.id, sale.fingerprint)
        return sale

    def sale(self, sale_id: str) -> Sale:
        found = self.local.services.sales.get(sale_id)
        assert found is not None
        return found

    def stop(self) -> None:
        for name in list(self.servers):
            self.kill(name)
        self.local.close()
        self.slack.stop()
        self.sandbox.stop()


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
    running = Cluster(tmp_path, cluster_url, lease_seconds=3)
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

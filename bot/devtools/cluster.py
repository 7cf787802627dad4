"""Real ``frontdesk serve`` processes on one database, for multi-process tests and bench.

The test's side holds the vendor sandbox (the judge of what reached a vendor),
the fake Slack Web API, and an in-process app used only for setup.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from bot.app import Frontdesk, build
from bot.config import Settings
from bot.devtools.driver import SlackDriver
from bot.devtools.fake_slack import FakeSlack
from bot.devtools.stack import (
    CHANNELS,
    DEMO_SECRETS,
    LOCATIONS_YAML,
    PAYMENT_TOKEN_KEY,
    SIGNING_SECRET,
    TEAM,
    wait_for,
)
from bot.workflows.roles import Actor, Role
from bot.workflows.sales import PaymentInput, SaleDetails, SaleStart
from storage.db import upgrade
from storage.models import Sale
from vendors.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
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
        for channel in CHANNELS:
            self.slack.add_channel(channel)
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
            "FRONTDESK_PAYTRONIX_URL": self.sandbox.base_url("paytronix"),
            "FRONTDESK_PAYMENT_TOKEN_KEYS": PAYMENT_TOKEN_KEY,
            "FRONTDESK_VENDOR_READ_TIMEOUT": "30",
            "FRONTDESK_WORKER_LEASE_SECONDS": str(lease_seconds),
            # A vendor call must end well within its lease (under half of it).
            "FRONTDESK_VENDOR_DEADLINE_SECONDS": str(round(lease_seconds * 0.45, 2)),
            "FRONTDESK_WORKER_POLL_SECONDS": "0.2",
        }
        upgrade(database_url)
        settings = Settings(
            slack_bot_token="fake-bot-token",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.slack.url,
            database_url=database_url,
            locations_file=self.locations_file,
            clubready_url=self.sandbox.base_url("clubready"),
            payment_token_keys=PAYMENT_TOKEN_KEY,
        )
        self.local: Frontdesk = build(settings)  # setup only: its worker never starts
        self.servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        self.metrics_ports: dict[str, int] = {}

    def start_server(self, name: str, **extra_env: str) -> str:
        port = _free_port()
        self.metrics_ports[name] = _free_port()
        env = {
            **self.env,
            "FRONTDESK_HTTP_PORT": str(port),
            "FRONTDESK_METRICS_PORT": str(self.metrics_ports[name]),
            "FRONTDESK_WORKER_ID": name,
            **extra_env,
        }
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

    def pid(self, name: str) -> int:
        return self.servers[name][0].pid

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
                payments=(PaymentInput(amount="49.00", token=token),),
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

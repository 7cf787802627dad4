"""The whole app on loopback: vendor sandbox, fake Slack, database, HTTP server, worker.

Used by ``frontdesk demo`` and the end-to-end tests, so both drive the real app
through its real HTTP endpoint with signed requests.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from bot.app import Frontdesk, build
from bot.clock import Clock
from bot.config import Settings
from bot.devtools.driver import SlackDriver
from bot.devtools.fake_slack import FakeSlack
from bot.http import HttpServer, MetricsServer
from bot.manifest import MANIFEST  # the fake Slack and the driver know its functions from it
from bot.workflows.roles import Actor, Role
from storage.db import upgrade
from vendors.sandbox import Sandbox

TEAM = "T0001"
SIGNING_SECRET = "fake-signing-secret-0123456789"
BOT_TOKEN = "fake-bot-token-for-the-local-slack-stand-in"
#: A fixed Fernet key for the demo and tests (never a production key).
PAYMENT_TOKEN_KEY = "ZnJvbnRkZXNrLWRlbW8tb25seS1rZXktMzItYnl0ZXM="
DEMO_SECRETS = {
    "FRONTDESK_DEMO_CLUBREADY_KEY": "sandbox-clubready-key",
    "FRONTDESK_DEMO_PX_CLIENT_ID": "sandbox-client",
    "FRONTDESK_DEMO_PX_CLIENT_SECRET": "sandbox-secret",
    "FRONTDESK_DEMO_PX_B2B_USER": "sandbox-partner",
    "FRONTDESK_DEMO_PX_B2B_PASS": "sandbox-b2b-pass",
    #: The guest reset page's HMAC key (a fixed demo value, never a production key).
    "FRONTDESK_GUEST_CODE_KEYS": "frontdesk-demo-only-guest-code-key-0123456789",
}

#: The channels LOCATIONS_YAML names; the fake Slack has them, with the bot in each.
CHANNELS = ("C0TRIAGE", "C0APPROVALS")

LOCATIONS_YAML = """\
usergroup_roles:
  - {usergroup: S0SUPPORT, role: support}
  - {usergroup: S0MANAGERS, role: manager, locations: [downtown]}
locations:
  - id: downtown
    name: Downtown Fitness
    vendor: clubready
    store_id: 101
    chain_id: 1
    api_key_env: FRONTDESK_DEMO_CLUBREADY_KEY
    triage_channel: C0TRIAGE
    approvals_channel: C0APPROVALS
    timezone: America/New_York
    manager_sale_limit: "100.00"
    # A sale nobody decides escalates to the area managers (after the reminder).
    escalation_group: S0LEADS
    catalog:
      - {package_id: 2001, installment_plan_id: 3001, name: Monthly Basic, amount: "49.00"}
      - {package_id: 2002, installment_plan_id: 3002, name: Free Trial Week, amount: "0.00",
         paid_in_full: true}
      - {package_id: 2003, installment_plan_id: 3003, name: Annual Premium, amount: "599.00"}
  - id: sparkle
    name: Sparkle Car Wash
    vendor: registrar
    customer_brand_name: SparkleWash
    triage_channel: C0TRIAGE
  - id: bistro
    name: Bistro Rewards
    vendor: paytronix
    merchant_id: 1234
    release: "24.1"
    client_id_env: FRONTDESK_DEMO_PX_CLIENT_ID
    client_secret_env: FRONTDESK_DEMO_PX_CLIENT_SECRET
    triage_channel: C0TRIAGE
  - id: partner-bistro
    name: Partner Bistro
    vendor: paytronix
    merchant_id: 5678
    release: "24.1"
    client_id_env: FRONTDESK_DEMO_PX_CLIENT_ID
    client_secret_env: FRONTDESK_DEMO_PX_CLIENT_SECRET
    auth_style: b2b
    # The pair Paytronix assigned for b2b: sent as HTTP Basic, never in the body.
    b2b_username_env: FRONTDESK_DEMO_PX_B2B_USER
    b2b_password_env: FRONTDESK_DEMO_PX_B2B_PASS
    account_of_record: third_party
    display_name: Partner Bistro Rewards
    triage_channel: C0TRIAGE
"""


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until ``predicate`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@dataclass
class Stack:
    workdir: Path
    database_url: str
    clock: Clock | None = None
    read_timeout: float = 2.0
    reset_limit: int = 3
    approval_hours: float = 24.0
    start_worker: bool = True
    secrets: dict[str, str] = field(default_factory=lambda: dict(DEMO_SECRETS))
    #: The Slack stand-in of an earlier stack (a restart keeps the same workspace).
    shared_slack: FakeSlack | None = None
    #: Any other settings (``Settings`` field → value).
    overrides: dict[str, Any] = field(default_factory=dict)
    #: The locations file.
    locations_yaml: str = LOCATIONS_YAML

    def __post_init__(self) -> None:
        self.sandbox = Sandbox().start()
        self._owns_slack = self.shared_slack is None
        self.slack: FakeSlack = self.shared_slack or FakeSlack().start()
        if self._owns_slack:
            self.slack.usergroups = {"S0SUPPORT": [], "S0MANAGERS": [], "S0LEADS": []}
            for channel in CHANNELS:
                self.slack.add_channel(channel)
        os.environ.update(self.secrets)
        self.locations_file = self.workdir / "locations.yml"
        self.locations_file.write_text(textwrap.dedent(self.locations_yaml))
        self.settings = Settings(
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_api_url=self.slack.url,
            database_url=self.database_url,
            locations_file=self.locations_file,
            clubready_url=self.sandbox.base_url("clubready"),
            registrar_url=self.sandbox.base_url("registrar"),
            paytronix_url=self.sandbox.base_url("paytronix"),
            vendor_read_timeout=self.read_timeout,
            reset_limit_per_hour=self.reset_limit,
            payment_token_keys=SecretStr(PAYMENT_TOKEN_KEY),
            sale_approval_hours=self.approval_hours,
            **{"worker_poll_seconds": 0.2, **self.overrides},
        )
        upgrade(self.database_url)
        self.frontdesk: Frontdesk = build(self.settings, clock=self.clock)
        self.http = HttpServer(self.frontdesk).start()
        self.metrics = MetricsServer(self.frontdesk).start()
        if self.start_worker:
            self.frontdesk.start_worker()
        self.frontdesk.start_notifier()
        app_clock = self.frontdesk.clock
        self.driver = SlackDriver(
            app_url=self.http.url,
            signing_secret=SIGNING_SECRET,
            response_url_base=self.slack.url,
            # Signed with the clock the app sees, as Slack's and ours agree in life.
            clock=lambda: app_clock.now().timestamp(),
        )
        if MANIFEST.exists():
            functions = yaml.safe_load(MANIFEST.read_text()).get("functions") or {}
            self.slack.functions = self.driver.functions = functions

    def grant(self, user_id: str, role: Role, location_id: str | None = None) -> None:
        with self.frontdesk.db.session() as session:
            self.frontdesk.services.resets.roles.grant(
                session,
                by="setup",
                target=Actor(team_id=TEAM, user_id=user_id),
                role=role,
                location_id=location_id,
            )

    def run_step(
        self, callback_id: str, user_id: str, inputs: dict[str, Any], **kwargs: Any
    ) -> str:
        """A workflow runs one of the app's steps for ``user_id`` (Workflow Builder fills
        the step's user context input with them); its function_execution_id."""
        execution_id = f"Fx{time.monotonic_ns()}"
        self.slack.start_execution(execution_id, callback_id)
        declared = self.slack.functions[callback_id]["input_parameters"]["properties"]
        person = next(n for n, p in declared.items() if p["type"] == "slack#/types/user_context")
        context = {"id": user_id, "secret": f"user-context-secret-{execution_id}"}
        response = self.driver.function_executed(
            callback_id,
            {person: context, **inputs},
            function_execution_id=execution_id,
            bot_access_token=f"workflow-token-{execution_id}",
            **kwargs,
        )
        assert response.status_code == 200, response.text
        return execution_id

    def new_message(self, channel: str, action: Callable[[], Any]) -> dict[str, Any]:
        """Run ``action`` and wait for the message it posts in ``channel``."""
        before = len(self.slack.messages_in(channel))
        action()
        return wait_for(lambda: self.slack.messages_in(channel)[before:][:1], 15.0)[0]

    def stop(self) -> None:
        self.http.stop()
        self.metrics.stop()
        self.frontdesk.close()
        if self._owns_slack:
            self.slack.stop()
        self.sandbox.stop()

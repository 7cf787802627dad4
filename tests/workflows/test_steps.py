"""Step runs without Slack: which ends are due, chosen in the database."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from bot.clock import ManualClock
from bot.config import Settings, load_locations
from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML, PAYMENT_TOKEN_KEY
from bot.vendor_clients import VendorClients
from bot.workflows.roles import Actor, Role, Roles
from bot.workflows.sales import SaleService, SaleStart
from bot.workflows.steps import StepKind, StepService
from bot.workflows.vault import TokenVault
from storage.db import Database
from storage.models import StepRun

FRONT = Actor("T1", "UFRONT")


@pytest.fixture
def services(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[SaleService, StepService, ManualClock]:
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    locations = load_locations(path)
    clock = ManualClock(datetime(2026, 11, 23, 15, tzinfo=UTC))
    roles = Roles(clock=clock)
    db = Database(database_url)
    sales = SaleService(
        db=db,
        roles=roles,
        clients=VendorClients(Settings(database_url=database_url), locations),
        locations=locations,
        clock=clock,
        vault=TokenVault(PAYMENT_TOKEN_KEY),
    )
    with db.session() as session:
        roles.grant(session, by="t", target=FRONT, role=Role.FRONT_DESK, location_id="downtown")
    steps = StepService(
        db=db, clock=clock, resets=cast(Any, None), sales=sales, locations=locations
    )
    return sales, steps, clock


def test_waiting_runs_never_hold_back_those_that_are_due(services: Any) -> None:
    sales, steps, clock = services
    start = SaleStart("downtown", "2001:3001", date(2026, 12, 1))
    for index in range(5):  # five sales that a workflow started, still drafts
        sale = sales.start(FRONT, start)
        assert steps._record(FRONT, f"Fx{index}", "request_sale_approval")
        with steps.db.session() as session:
            steps._link(session, FRONT, f"Fx{index}", StepKind.SALE, sale.id, "downtown")
        clock.advance(seconds=1)
    withdrawn = sales.start(FRONT, start)
    assert steps._record(FRONT, "FxLAST", "request_sale_approval")
    with steps.db.session() as session:
        steps._link(session, FRONT, "FxLAST", StepKind.SALE, withdrawn.id, "downtown")
    assert steps.due(limit=2) == []
    sales.withdraw(FRONT, withdrawn.id)
    (end,) = steps.due(limit=2)
    assert end.function_execution_id == "FxLAST" and "withdrawn" in str(end.error)
    assert steps.record_end(end) and not steps.record_end(end)  # once
    assert steps.due(limit=2) == []
    # A run whose start was interrupted before it started anything ends after a while.
    assert steps._record(FRONT, "FxLOST", "reset_password")
    assert steps.due() == []
    clock.advance(minutes=11)
    (lost,) = steps.due()
    assert lost.function_execution_id == "FxLOST" and "nothing was done" in str(lost.error)
    with steps.db.session() as session:
        assert session.get(StepRun, "FxLAST").outcome == "failed"

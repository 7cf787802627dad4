"""Retention with a frozen clock: nothing personal left past retention, the audit trail
kept (same number of events, without member data); the audit export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData, func, select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.clock import ManualClock
from bot.devtools import sale_steps
from bot.devtools.stack import Stack
from bot.workflows.retention import export_audit, purge
from bot.workflows.roles import (
    Actor,
    Role,
)
from storage.models import AuditEvent, ResetRequest, Sale
from tests.slack.helpers import refused_reset, reset

PERSONAL = [
    "jane.walker@example.com",
    "j•••@example.com",
    "Jane",
    "Walker",
    "555 010 7788",
    "ghost@example.com",
    "g•••@example.com",
    "…4242",
    '4242"',
    "tok_profile",
]


def all_rows(stack: Stack) -> str:
    metadata = MetaData()
    metadata.reflect(stack.frontdesk.db.engine)
    rows: list[str] = []
    with stack.frontdesk.db.engine.connect() as connection:
        for table in metadata.sorted_tables:
            if table.name in ("role_grants", "user_preferences", "group_memberships"):
                continue  # staff, not members
            rows.extend(
                json.dumps([str(v) for v in row], ensure_ascii=False)
                for row in connection.execute(select(table))
            )
    return "\n".join(rows)


def test_purge_leaves_nothing_personal_and_keeps_the_audit(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(datetime.now(UTC))
    stack = Stack(workdir=tmp_path, database_url=database_url, clock=clock)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK)
        stack.grant("UMANAGER", Role.MANAGER, "downtown")
        stack.grant("USUPPORT", Role.SUPPORT)
        reset(stack, "jane.walker@example.com downtown")
        refused = refused_reset(stack)
        sold = sale_steps.request_approval(stack)
        view = sale_steps.open_review(stack, "UMANAGER", sold)
        sale_steps.approve(stack, "UMANAGER", view)
        sale_steps.wait_finished(stack, sold)
        rejected = sale_steps.request_approval(
            stack, member={**sale_steps.MEMBER, "email": "jane.w2@example.com"}
        )
        stack.frontdesk.services.sales.reject(
            Actor("T0001", "UMANAGER"), rejected, "Jane Walker asked to wait"
        )
        stack.frontdesk.services.triage.resolve(
            Actor("T0001", "USUPPORT"),
            stack.frontdesk.services.triage.open_failures(Actor("T0001", "USUPPORT")).items[0].kind,
            refused,
            "called Jane Walker back",
        )
        before = all_rows(stack)
        assert "jane.walker@example.com" in before and "j•••@example.com" in before
        with stack.frontdesk.db.session() as session:
            events = session.scalar(select(func.count()).select_from(AuditEvent))

        # Within retention nothing changes.
        clock.advance(days=364)
        nothing = purge(stack.frontdesk.db, clock, retention_days=365)
        assert (nothing.resets, nothing.sales, nothing.vendor_attempts) == (0, 0, 0)
        assert "jane.walker@example.com" in all_rows(stack)  # still there

        clock.advance(days=40)
        # The daily run rewrites only audit events that crossed the cutoff lately;
        # these did 39 days ago, so only the full sweep (the command line) takes them.
        daily = purge(stack.frontdesk.db, clock, retention_days=365, audit_window_days=7)
        assert (daily.resets, daily.sales, daily.audit_events) == (2, 2, 0)
        assert daily.vendor_attempts >= 3
        report = purge(stack.frontdesk.db, clock, retention_days=365)
        assert (report.resets, report.sales, report.vendor_attempts) == (0, 0, 0)
        assert report.audit_events >= 3
        after = all_rows(stack)
        for value in PERSONAL:
            assert value not in after, f"{value!r} survived the purge"
        with stack.frontdesk.db.session() as session:
            assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
            actions = [e.action for e in session.scalars(select(AuditEvent))]
            assert "sale.approve" in actions and "reset.send" in actions  # who did what
            assert session.get(Sale, sold).status == "sold"
            assert session.get(ResetRequest, refused).status == "refused"
        again = purge(stack.frontdesk.db, clock, retention_days=365)
        assert (again.resets, again.sales, again.vendor_attempts, again.audit_events) == (
            0,
            0,
            0,
            0,
        )
    finally:
        stack.stop()


def test_audit_export_csv_and_json(database_url: str, tmp_path: Path, monkeypatch) -> None:
    stack = Stack(workdir=tmp_path, database_url=database_url)
    try:
        stack.grant("UFRONT", Role.FRONT_DESK)
        reset(stack, "jane@example.com downtown")
        since = datetime(2020, 1, 1, tzinfo=UTC)
        lines = export_audit(stack.frontdesk.db, since=since, fmt="json").splitlines()
        records = [json.loads(line) for line in lines]
        assert [r["action"] for r in records][:1] == ["role.grant"]
        assert "reset.send" in [r["action"] for r in records]
        table = list(
            csv.DictReader(io.StringIO(export_audit(stack.frontdesk.db, since=since, fmt="csv")))
        )
        assert len(table) == len(records) and table[0]["actor"] == "setup"
        future = export_audit(stack.frontdesk.db, since=datetime(2999, 1, 1, tzinfo=UTC), fmt="csv")
        assert future.splitlines() == [
            "id,at,actor,action,subject_type,subject_id,location_id,details"
        ]
        monkeypatch.setenv("FRONTDESK_DATABASE_URL", database_url)
        result = CliRunner().invoke(
            cli, ["audit", "export", "--since", "2020-01-01", "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        assert len(result.output.splitlines()) == len(records)
        out = tmp_path / "audit.csv"
        assert (
            CliRunner()
            .invoke(cli, ["audit", "export", "--since", "2020-01-01", "--output", str(out)])
            .exit_code
            == 0
        )
        assert out.read_text().startswith("id,at,actor")
        purged = CliRunner().invoke(cli, ["purge", "--days", "0"])
        assert purged.exit_code == 0 and "1 resets" in purged.output
    finally:
        stack.stop()

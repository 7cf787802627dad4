"""The migrations build exactly the schema the models describe, both ways, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from storage.db import alembic_config, normalise_url
from storage.models import Base, Sale, SaleAsk


def _diff(url: str) -> list[object]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert _diff(database_url) == []


def test_downgrade_to_0003_and_back_keeps_data(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0003")
    engine = create_engine(normalise_url(database_url))
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO role_grants (enterprise_id, team_id, user_id, role, location_id, "
                "location_key, granted_by, created_at) VALUES "
                "('E1', 'T1', 'U1', 'manager', 'downtown', 'downtown', 'x', CURRENT_TIMESTAMP),"
                "('E1', 'T2', 'U1', 'manager', 'downtown', 'downtown', 'x', CURRENT_TIMESTAMP),"
                "('', 'T3', 'U2', 'admin', NULL, '*', 'x', CURRENT_TIMESTAMP)"
            )
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT org_id, user_id, role FROM role_grants ORDER BY user_id")
        ).all()
    engine.dispose()
    # One person under two workspaces of one enterprise: one grant.
    assert [tuple(r) for r in rows] == [("E1", "U1", "manager"), ("T3", "U2", "admin")]
    assert _diff(database_url) == []


def test_sale_ask_rounds_take_their_round_from_the_sale(database_url: str) -> None:
    """sale_ask_rounds: asks about the sale's current version take its round (the
    change, or the submission for the escalation); older versions' their request's."""
    config = alembic_config(database_url)
    command.downgrade(config, "0010")
    engine = create_engine(normalise_url(database_url))
    submitted = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    changed = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        session.add(
            Sale(
                id="s1",
                org_id="T1",
                team_id="T1",
                user_id="U1",
                location_id="downtown",
                package_id=1,
                installment_plan_id=1,
                package_name="Monthly",
                amount="49.00",
                start_date=date(2026, 12, 1),
                payments=[],
                fingerprint="B",
                status="pending_approval",
                submitted_at=submitted,
                changed_at=changed,
                created_at=submitted,
                updated_at=changed,
            )
        )
    rows = [
        ("A", "request", "channel", "C1", "2026-11-30 15:00:01"),
        ("A", "reminder", "channel", "C1", "2026-11-30 15:30:00"),
        ("B", "request", "channel", "C1", "2026-11-30 16:00:01"),
        ("B", "escalation", "channel", "C1", "2026-11-30 17:00:00"),
    ]
    with engine.begin() as connection:
        for fingerprint, reason, kind, target, at in rows:
            connection.execute(
                text(
                    "INSERT INTO sale_asks (sale_id, fingerprint, reason, target_kind, "
                    "target_id, at) VALUES ('s1', :f, :r, :k, :t, :at)"
                ),
                {"f": fingerprint, "r": reason, "k": kind, "t": target, "at": at},
            )
    command.upgrade(config, "head")
    with Session(engine) as session:
        asks = {(a.fingerprint, a.reason): a.round_at for a in session.query(SaleAsk)}
    engine.dispose()
    assert asks[("B", "request")] == changed
    assert asks[("B", "escalation")] == submitted
    assert asks[("A", "request")] == asks[("A", "reminder")] != changed
    assert _diff(database_url) == []

"""The migrations build exactly the schema the models describe, both ways, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from storage.db import alembic_config, normalise_url
from storage.models import Base


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

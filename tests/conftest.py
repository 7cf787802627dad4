"""Fixtures shared by every test folder: the vendor sandbox and the databases."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.postgres import PostgresServer
from storage.db import upgrade
from vendors.sandbox import Sandbox

_db_names = itertools.count(1)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    try:
        server = PostgresServer()
    except Exception as exc:
        if os.environ.get("FRONTDESK_REQUIRE_POSTGRES"):
            raise RuntimeError(f"PostgreSQL is required here but could not start: {exc}") from exc
        yield None
        return
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated database of each kind (Alembic, as in production)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'frontdesk.sqlite3'}"
    else:
        server = request.getfixturevalue("postgres")
        if server is None:
            pytest.skip("PostgreSQL server binaries are not installed")
        url = server.create_database(f"t{os.getpid()}_{next(_db_names)}")
    upgrade(url)
    return url

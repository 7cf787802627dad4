"""The scrub after wipes (storage/scrub.py), measured on the files of real databases.

Issue 12, defect 10. Rows are written and wiped the way the sale workflow does it
(an UPDATE setting the sealed column to NULL, noted with ``Database.note_wipe``);
then the files are read back.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, text, update

from bot.devtools.residue import Scan, postgres_files, scan_bytes, sqlite_files
from storage.db import Database, make_engine
from storage.models import Sale
from storage.scrub import Scrubber

KEY = Fernet.generate_key().decode()
NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
#: One kind of database only (the ``database_url`` fixture's parameter).
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _sealed(name: str, size: int) -> str:
    plain = json.dumps([{"token": f"tok_{name}", "pad": "x" * size}])
    return Fernet(KEY).encrypt(plain.encode()).decode()


def _plant(db: Database, count: int, size: int = 200, seed: int = 1) -> dict[str, str]:
    """``count`` sales holding sealed tokens, each written the way the workflow does:
    a draft, its details and tokens, submitted, its Slack references."""
    rng = random.Random(seed)
    planted = {}
    for index in range(count):
        sale_id = str(uuid.uuid4())
        planted[sale_id] = _sealed(f"PLANTED_{index}", size)
        steps: list[dict[str, Any]] = [
            {"member": {"first_name": "Ann", "notes": "m" * rng.randint(100, 800)}},
            {"status": "pending_approval", "sealed_tokens": planted[sale_id]},
            {"approval_ts": "1.2", "dm_ts": "1.3"},
        ]
        with db.session() as session:
            session.add(
                Sale(
                    id=sale_id,
                    org_id="T1",
                    team_id="T1",
                    user_id="U1",
                    location_id="downtown",
                    package_id=2001,
                    installment_plan_id=3001,
                    package_name="Monthly Basic",
                    amount="49.00",
                    start_date=date(2026, 11, 23),
                    status="draft",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        for values in steps:
            with db.session() as session:
                session.execute(update(Sale).where(Sale.id == sale_id).values(**values))
    return planted


def _wipe(db: Database, sale_ids: list[str], seed: int = 1) -> None:
    """As the sale workflow ends a sale: one transaction per sale, status and NULL, in
    no particular order."""
    sale_ids = list(sale_ids)
    random.Random(seed).shuffle(sale_ids)
    for sale_id in sale_ids:
        with db.session() as session:
            db.note_wipe(session)
            session.execute(
                update(Sale)
                .where(Sale.id == sale_id)
                .values(status="rejected", sealed_tokens=None, updated_at=NOW)
            )
            # Other columns keep changing afterwards, as Slack references do.
            session.execute(update(Sale).where(Sale.id == sale_id).values(dm_ts="1.0"))


def _scan(db: Database, planted: dict[str, str]) -> Scan:
    """Each sealed value whole (decrypted too), and in 100-character pieces: a value
    longer than a page is stored in pieces (SQLite overflow pages, PostgreSQL TOAST)."""
    files = sqlite_files(db.url) if not db.is_postgres else postgres_files(db.url)
    needles = {}
    for index, value in enumerate(planted.values()):
        needles[f"{index}"] = value
        needles.update({f"{index}/{k}": value[k : k + 100] for k in range(0, len(value), 100)})
    return Scan([scan_bytes(name, data, needles, [KEY]) for name, data in files.items()])


def _recoverable(scan: Scan) -> dict[str, int]:
    """File -> how many of the planted sales' sealed values it holds (whole or a piece)."""
    found = {s.name: {n.split("/")[0] for n in s.found()} for s in scan.sources}
    return {name: len(sales) for name, sales in found.items() if sales}


@pytest.fixture
def db(database_url: str) -> Any:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.mark.parametrize("size", [200, 9000], ids=["in-page", "overflow-pages"])
def test_a_wipe_leaves_nothing_in_any_file_after_the_scrub(db: Database, size: int) -> None:
    planted = _plant(db, 30, size)
    before = _scan(db, planted)
    assert sum(_recoverable(before).values()) >= 30, "the scan must see the live values"
    _wipe(db, list(planted))
    result = Scrubber(db).after_wipes()
    assert result is not None and result.complete, result
    after = _scan(db, planted)
    assert not _recoverable(after), after.report()


@SQLITE
def test_sqlite_zeroes_freed_space_even_where_the_build_defaults_to_off(
    database_url: str,
) -> None:
    """Debian's SQLite defaults to secure_delete=ON, others to OFF (or FAST, which
    leaves freelist pages as they were): the app's own pragma must not depend on it."""
    db = Database(database_url)
    event.listen(
        db.engine,
        "connect",
        lambda conn, _record: conn.execute("PRAGMA secure_delete=OFF"),
        insert=True,  # before the app's own pragmas, as a build's default would be
    )
    try:
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        planted = _plant(db, 30, 9000)
        _wipe(db, list(planted))
        result = Scrubber(db).after_wipes()
        assert result is not None and result.complete
        after = _scan(db, planted)
        assert not _recoverable(after), after.report()
    finally:
        db.dispose()


@SQLITE
def test_sqlite_checkpoint_waits_for_an_old_snapshot_and_retries(
    database_url: str, tmp_path: Any
) -> None:
    db = Database(database_url)
    planted = _plant(db, 10)
    # Another connection reading from before the wipe holds the WAL's old frames.
    path = database_url.removeprefix("sqlite:///")
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sales").fetchone()
        _wipe(db, list(planted))
        scrubber = Scrubber(db, attempts=2, pause_seconds=0.05, lock_timeout_ms=100)
        busy = scrubber.after_wipes()
        assert busy is not None and not busy.complete, busy
        assert _recoverable(_scan(db, planted)), "the reader's snapshot still needs the frames"
        reader.execute("COMMIT")
        done = scrubber.after_wipes()
        assert done is not None and done.complete, done
        assert (tmp_path / "frontdesk.sqlite3-wal").stat().st_size == 0
        assert not _recoverable(_scan(db, planted))
    finally:
        reader.close()
        db.dispose()


def test_the_scrub_runs_at_start_then_only_after_a_committed_wipe(db: Database) -> None:
    scrubber = Scrubber(db)
    assert scrubber.after_wipes() is not None  # at start: what a stopped process left
    assert scrubber.after_wipes() is None
    planted = _plant(db, 2)
    assert scrubber.after_wipes() is None  # sealing is not wiping
    with pytest.raises(RuntimeError), db.session() as session:
        db.note_wipe(session)
        session.execute(update(Sale).values(sealed_tokens=None))
        raise RuntimeError("rolled back")
    assert scrubber.after_wipes() is None
    _wipe(db, list(planted)[:1])
    assert scrubber.after_wipes() is not None
    assert scrubber.after_wipes() is None


@POSTGRES
def test_postgres_plain_vacuum_leaves_wiped_values_in_the_pages(db: Database) -> None:
    """Why the scrub rewrites the table: VACUUM frees a dead row's space without
    overwriting it (measured here, so that a PostgreSQL that changes this shows)."""
    planted = _plant(db, 60, 300)
    _wipe(db, list(planted))
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM sales")
    vacuumed = _scan(db, planted)
    assert _recoverable(vacuumed), "VACUUM alone did clean the pages: revisit storage/scrub.py"
    assert Scrubber(db).after_wipes().complete  # type: ignore[union-attr]
    assert not _recoverable(_scan(db, planted))


@POSTGRES
def test_postgres_rewrite_postponed_while_the_table_is_busy(database_url: str) -> None:
    db = Database(database_url)
    holder = make_engine(database_url)
    try:
        planted = _plant(db, 20)
        _wipe(db, list(planted))
        scrubber = Scrubber(db, lock_timeout_ms=200)
        with holder.connect() as busy:
            busy.execute(text("SELECT count(*) FROM sales")).scalar()  # holds ACCESS SHARE
            postponed = scrubber.after_wipes()
            assert postponed is not None and not postponed.complete
            assert "postponed" in postponed.detail
        done = scrubber.after_wipes()
        assert done is not None and done.complete, done
        assert not _recoverable(_scan(db, planted))
    finally:
        holder.dispose()
        db.dispose()

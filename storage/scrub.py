"""Wiped secrets leave the database's files, not only its rows.

Setting a column to NULL removes the value from the row; its bytes survive elsewhere
until something overwrites them:

- SQLite: in the page's freed space (zeroed at once by ``PRAGMA secure_delete=ON``,
  which storage/db.py sets on every connection) and in the older page images of the
  write-ahead log: ``-wal`` keeps them until a checkpoint truncates it (an automatic
  checkpoint only copies pages back, then overwrites the log from its start), and
  the database file keeps a page image from before the wipe until a checkpoint
  copies the newer one over it. The scrub is ``PRAGMA wal_checkpoint(TRUNCATE)``,
  retried until no reader holds an older snapshot.
- PostgreSQL: the old row version stays in the table until vacuumed, and VACUUM only
  marks its space free: measured on PostgreSQL 15, about a third of the wiped
  values were still readable in the pages' free space after VACUUM. The scrub is
  ``VACUUM FULL``, which rewrites the table, its TOAST table and its indexes into
  new files holding the live rows only. It holds an exclusive lock on the table
  for as long as the copy takes (milliseconds for thousands of sales); it waits
  for that lock at most ``lock_timeout_ms`` (queries queue behind a waiting
  request), and when it cannot have it, a plain VACUUM runs instead and the rewrite
  is tried again at the next run.

No scrub reaches PostgreSQL's WAL segments and their archives, backups, replicas or
the file system's freed blocks: what they hold is sealed with the payment-token
keys, and retiring a key (``frontdesk keys rotate``, bot/workflows/vault.py) makes
it unreadable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage.db import Database

log = logging.getLogger("frontdesk.scrub")

#: The tables whose wiped columns are scrubbed (``sales.sealed_tokens``).
TABLES = ("sales",)
#: How long an SQLite connection normally waits for a lock (storage/db.py).
SQLITE_BUSY_MS = 30000
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class ScrubResult:
    complete: bool  # nothing the wipes left is in the files any more
    detail: str


class Scrubber:
    """Removes what wipes left in the files; run by every process's worker.

    ``after_wipes`` acts only when a wipe has committed in this process since the
    last complete scrub (``Database.note_wipe``), and once at start for what a
    process that stopped before scrubbing left behind.
    """

    def __init__(
        self,
        db: Database,
        *,
        tables: Sequence[str] = TABLES,
        attempts: int = 5,
        pause_seconds: float = 0.2,
        lock_timeout_ms: int = 250,
    ) -> None:
        self.db = db
        self.tables = tuple(tables)
        self.attempts = attempts
        self.pause_seconds = pause_seconds
        self.lock_timeout_ms = lock_timeout_ms
        self._scrubbed = -1  # the wipe count last scrubbed; -1: not yet, scrub at start
        self._running = threading.Lock()
        self._last_warning = ""

    def after_wipes(self) -> ScrubResult | None:
        """Scrub if something was wiped since the last complete scrub (the periodic task)."""
        if not self._running.acquire(blocking=False):
            return None  # another thread is at it
        try:
            wipes = self.db.wipes
            if wipes == self._scrubbed:
                return None
            result = self._scrub()
            if result.complete:
                self._scrubbed = wipes
                self._last_warning = ""
            elif result.detail != self._last_warning:
                log.warning("wiped values are still in the database files: %s", result.detail)
                self._last_warning = result.detail
            return result
        finally:
            self._running.release()

    def scrub(self) -> ScrubResult:
        """Scrub now, whatever was wiped (the command line)."""
        with self._running:
            return self._scrub()

    def _scrub(self) -> ScrubResult:
        if self.db.is_postgres:
            return self._postgres()
        if self.db.engine.dialect.name == "sqlite":
            return self._sqlite()
        return ScrubResult(False, f"no scrub for {self.db.engine.dialect.name}")

    def _sqlite(self) -> ScrubResult:
        with self.db.engine.connect() as connection:
            # Wait for other connections' transactions a little, not the usual 30 s:
            # a checkpoint that waits holds back writers meanwhile; the next run retries.
            connection.exec_driver_sql(f"PRAGMA busy_timeout={self.lock_timeout_ms:d}")
            try:
                for _ in range(self.attempts):
                    busy, frames, copied = connection.exec_driver_sql(
                        "PRAGMA wal_checkpoint(TRUNCATE)"
                    ).one()
                    if frames == -1:
                        return ScrubResult(True, "not in WAL mode: nothing to checkpoint")
                    if not busy:
                        return ScrubResult(
                            True, f"checkpointed {copied} of {frames} WAL frames; WAL truncated"
                        )
                    time.sleep(self.pause_seconds)
                return ScrubResult(
                    False, f"the WAL is in use ({self.attempts} checkpoint attempts were busy)"
                )
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")

    def _postgres(self) -> ScrubResult:
        done: list[str] = []
        left: list[str] = []
        with self.db.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in self.tables:
                owned = connection.scalar(
                    text(
                        "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class "
                        "WHERE oid = to_regclass(:t)"
                    ),
                    {"t": table},
                )
                if not owned:
                    # VACUUM would only warn and skip it.
                    left.append(f"{table} (only its owner may vacuum it)")
                    continue
                quoted = connection.dialect.identifier_preparer.quote(table)
                connection.exec_driver_sql(f"SET lock_timeout = {self.lock_timeout_ms:d}")
                try:
                    connection.exec_driver_sql(f"VACUUM (FULL) {quoted}")
                    done.append(table)
                except OperationalError as exc:
                    if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                        raise
                    left.append(f"{table} (busy: rewrite postponed, dead rows vacuumed)")
                    try:
                        connection.exec_driver_sql(f"VACUUM {quoted}")
                    except OperationalError as again:
                        if getattr(again.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                            raise
                finally:
                    connection.exec_driver_sql("RESET lock_timeout")
        if left:
            return ScrubResult(False, "not rewritten: " + ", ".join(left))
        return ScrubResult(True, "rewritten: " + ", ".join(done))

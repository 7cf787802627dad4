"""Engine, sessions and migrations."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_WIPE = "frontdesk.wipe"

SQLITE_SYNC = "NORMAL"

log = logging.getLogger("frontdesk.db")


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once this session's transaction has committed (never if it
    rolls back). Callbacks must be quick; their errors are logged, not raised."""
    session.info.setdefault("after_commit", []).append(callback)


def before_commit(session: Session, key: str, callback: Callable[[], object]) -> None:
    """Run ``callback`` just before this session's transaction commits, once per ``key``
    (writes gathered during the transaction go out in one statement): the outermost
    transaction, never a savepoint inside it (``begin_nested``), whose rollback would
    take the writes with it while the transaction itself commits."""
    session.info.setdefault("before_commit", {}).setdefault(key, callback)


def _run_before_commit(session: Session) -> None:
    # SQLAlchemy fires before_commit for a savepoint's release too: the gathered
    # writes wait for the outermost commit.
    if session.in_nested_transaction():
        return
    pending: dict[str, Callable[[], object]] = session.info.get("before_commit", {})
    while pending:
        key = next(iter(pending))
        pending.pop(key)()


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop("after_commit", []):
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed")


#: What a transaction gathers for its commit (callbacks, the outbox's notices, the
#: signals it will send): dropped with it, and restored when a savepoint inside it
#: rolls back (what was recorded in the savepoint goes with it, nothing before it).
_DEFERRED = ("after_commit", "before_commit", "outbox", "signals")


def _savepoint_began(session: Session, transaction: Any) -> None:
    if transaction.nested:
        marks: dict[Any, dict[str, Any]] = session.info.setdefault("savepoints", {})
        marks[transaction] = copy.deepcopy(
            {k: session.info[k] for k in _DEFERRED if k in session.info}
        )


def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop("savepoints", None)


def _drop_after_commit(session: Session, previous: Any) -> None:
    # What rolled back: the savepoint around ``previous`` (a failed flush rolls back
    # its own subtransaction, and with it up to the savepoint), or else the whole
    # transaction.
    savepoint = previous
    while savepoint is not None and not savepoint.nested:
        savepoint = savepoint.parent
    if savepoint is None:
        for key in _DEFERRED:
            session.info.pop(key, None)
        return
    mark = session.info.get("savepoints", {}).pop(savepoint, None)
    if mark is not None:
        for key in _DEFERRED:
            session.info.pop(key, None)
        session.info.update(mark)


def insert_for(session_or_dialect: Session | str) -> Any:
    """The ``INSERT`` of the session's database that knows ``ON CONFLICT`` (SQLite's or
    PostgreSQL's): the one place that chooses between them."""
    dialect = (
        session_or_dialect
        if isinstance(session_or_dialect, str)
        else session_or_dialect.get_bind().dialect.name
    )
    return pg_insert if dialect == "postgresql" else sqlite_insert


def insert_once(session: Session, table: Any, keys: list[str], **values: Any) -> bool:
    """Insert one row unless one with the same ``keys`` is there: True when this call
    inserted it. A compare-and-set by unique key, safe across threads and processes."""
    target = table if isinstance(table, Table) else table.__table__
    statement = (
        insert_for(session)(target)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(*target.primary_key.columns)
    )
    return session.execute(statement).first() is not None


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Freed cell content, overflow and freelist pages are zeroed (not only
            # unlinked), so a wiped value is gone from every page written after the
            # wipe; storage/scrub.py then checkpoints the WAL's older page images away.
            # Explicit: some builds default to OFF, or to FAST, which skips freelist pages.
            cursor.execute("PRAGMA secure_delete=ON")
            # In WAL mode NORMAL loses nothing when the process dies; after a power loss
            # the last commits may roll back, except those made ``durable`` (see
            # Database.session), which sync the whole log.
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNC}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    options: dict[str, Any] = {"pool_pre_ping": True, **kwargs}
    if "poolclass" not in kwargs:
        options.update(pool_size=20, max_overflow=20)
    return create_engine(url, **options)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


class Database:
    """An engine and its session factory; ``session()`` commits or rolls back.

    SQLite has one writer at a time: its threads would wait for each other in
    SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and leaves
    the CPU idle. So on SQLite this process's sessions take turns on a lock of
    their own instead (other processes still meet SQLite's lock).
    """

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._turns = threading.RLock() if self._sqlite else None
        event.listen(self._sessions, "before_commit", _run_before_commit)
        event.listen(self._sessions, "after_commit", _run_after_commit)
        event.listen(self._sessions, "after_soft_rollback", _drop_after_commit)
        event.listen(self._sessions, "after_transaction_create", _savepoint_began)
        event.listen(self._sessions, "after_transaction_end", _transaction_ended)
        self._wipes = 0
        self._wipes_lock = threading.Lock()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self, *, durable: bool = False) -> Iterator[Session]:
        """A transaction. ``durable``: on SQLite, synced to disk at commit even under
        ``synchronous=NORMAL`` (for a commit that comes before something leaves for a
        vendor: a power loss must not undo it); PostgreSQL's commits always are."""
        if self._turns is not None:
            self._turns.acquire()
        try:
            session = self._sessions()
            raw: Any = None
            try:
                if durable and self._sqlite:
                    raw = session.connection().connection.dbapi_connection
                    raw.execute("PRAGMA synchronous=FULL")
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                if raw is not None:
                    raw.execute(f"PRAGMA synchronous={SQLITE_SYNC}")
                session.close()
        finally:
            if self._turns is not None:
                self._turns.release()

    def note_wipe(self, session: Session) -> None:
        """``session``'s transaction overwrites or clears a secret: once it commits,
        the next scrub (storage/scrub.py) removes the old bytes from the files."""
        if _WIPE not in session.info:
            event.listen(session, "after_commit", self._wipe_committed)
            event.listen(session, "after_rollback", lambda s: s.info.update({_WIPE: False}))
        session.info[_WIPE] = True

    def _wipe_committed(self, session: Session) -> None:
        if session.info.get(_WIPE):
            session.info[_WIPE] = False
            with self._wipes_lock:
                self._wipes += 1

    @property
    def wipes(self) -> int:
        """How many transactions that wiped something have committed in this process."""
        return self._wipes

    def dispose(self) -> None:
        self.engine.dispose()

    def listen(
        self, channel: str, on_message: Callable[[str], object], stop: threading.Event
    ) -> None:
        """PostgreSQL only: ``LISTEN channel`` on a connection of its own and call
        ``on_message(payload)`` for every ``NOTIFY``, until ``stop`` is set; reconnects
        after errors. Blocks: run it on a thread."""
        import psycopg

        conninfo = (
            make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{channel}"')
                    while not stop.is_set():
                        for note in connection.notifies(timeout=1.0):
                            on_message(note.payload)
            except Exception:
                if stop.is_set():
                    return
                log.warning("lost the notification connection; reconnecting", exc_info=True)
                stop.wait(1.0)

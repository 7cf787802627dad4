"""Engine, sessions and migrations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_WIPE = "frontdesk.wipe"


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
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    options: dict[str, Any] = {"pool_pre_ping": True, **kwargs}
    if "poolclass" not in kwargs:
        options.update(pool_size=10, max_overflow=10)
    return create_engine(url, **options)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


class Database:
    """An engine and its session factory; ``session()`` commits or rolls back."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._wipes = 0
        self._wipes_lock = threading.Lock()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

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

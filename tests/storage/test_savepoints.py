"""Work deferred to the commit (the outbox's gathered notices) waits for the outermost
commit: SQLAlchemy fires ``before_commit`` for a savepoint too, and a savepoint that
rolls back (an insert that finds its row there already) must not take the notices
recorded before it with it while the transaction itself commits (issue 18 review,
finding 1)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import ManualClock
from bot.workflows.outbox import NoticeKind, Outbox
from bot.workflows.signals import Signals
from storage.db import Database, before_commit
from storage.models import Notice, SeenRequest


def _seen(key: str, now: datetime) -> SeenRequest:
    return SeenRequest(digest=key, expires_at=now)


def test_notices_recorded_before_a_rolled_back_savepoint_are_written(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    db = Database(database_url)
    outbox = Outbox(db=db, clock=clock, signals=Signals())
    with db.session() as session:
        session.add(_seen("first", clock.now()))
    with db.session() as session:
        outbox.post(
            session,
            NoticeKind.SALE_NOTE,
            after=None,
            subject_type="sale",
            subject_id="s1",
            location_id=None,
            payload={"n": 1},
        )
        try:
            with session.begin_nested():
                session.add(_seen("first", clock.now()))  # there already: rolls back
        except IntegrityError:
            pass
        outbox.post(
            session,
            NoticeKind.SALE_NOTE,
            after=None,
            subject_type="sale",
            subject_id="s1",
            location_id=None,
            payload={"n": 2},
        )
    with db.session() as session:
        payloads = sorted(p["n"] for p in session.scalars(select(Notice.payload)))
    assert payloads == [1, 2]
    db.engine.dispose()


def test_before_commit_runs_once_at_the_outermost_commit(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    db = Database(database_url)
    ran: list[int] = []
    with db.session() as session:
        before_commit(
            session,
            "count",
            lambda: ran.append(session.scalar(select(func.count()).select_from(SeenRequest)) or 0),
        )
        with session.begin_nested():
            session.add(_seen("a", clock.now()))
        assert ran == []  # a savepoint's release is not the commit
        session.add(_seen("b", clock.now()))
    assert ran == [2]
    db.engine.dispose()


def test_notices_recorded_inside_a_rolled_back_savepoint_go_with_it(database_url: str) -> None:
    """What a savepoint recorded is undone with it (nothing recorded before it)."""
    clock = ManualClock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    db = Database(database_url)
    outbox = Outbox(db=db, clock=clock, signals=Signals())

    def note(session: Session, n: int) -> None:
        outbox.post(
            session,
            NoticeKind.SALE_NOTE,
            after=None,
            subject_type="sale",
            subject_id="s1",
            location_id=None,
            payload={"n": n},
        )

    with db.session() as session:
        session.add(_seen("first", clock.now()))
    with db.session() as session:
        note(session, 1)
        try:
            with session.begin_nested():
                note(session, 2)  # a notice for a change that does not happen
                session.add(_seen("first", clock.now()))
                session.flush()
        except IntegrityError:
            pass
        with session.begin_nested():
            note(session, 3)  # released: kept
    with db.session() as session:
        payloads = sorted(p["n"] for p in session.scalars(select(Notice.payload)))
    assert payloads == [1, 3]
    db.engine.dispose()

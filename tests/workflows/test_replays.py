"""A signed request is accepted once while its signature could pass Slack's window."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.workflows.replays import SeenRequests
from storage.db import Database
from storage.models import SeenRequest


def test_first_arrival_once_then_pruned_after_the_window(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    db = Database(database_url)
    try:
        seen = SeenRequests(db, clock)
        now = int(clock.now().timestamp())
        assert seen.first_arrival(now, "v0=abc") is True
        assert seen.first_arrival(now, "v0=abc") is False
        # Another process (another SeenRequests on the same database) agrees.
        other = Database(database_url)
        assert SeenRequests(other, clock).first_arrival(now, "v0=abc") is False
        other.dispose()
        assert seen.first_arrival(now, "v0=abd") is True
        assert seen.first_arrival(now + 1, "v0=abc") is True
        # A timestamp ahead of now passes the window later, so it is kept longer.
        assert seen.first_arrival(now + 240, "v0=ahead") is True
        clock.advance(minutes=5)
        assert seen.prune() == 0  # still replayable until 5 minutes after its timestamp
        clock.advance(minutes=1, seconds=2)
        assert seen.prune() == 3
        clock.advance(minutes=4)
        assert seen.prune() == 1
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(SeenRequest)) == 0
            stored = session.scalars(select(SeenRequest.digest)).all()
        assert "v0=abc" not in str(stored)
    finally:
        db.dispose()

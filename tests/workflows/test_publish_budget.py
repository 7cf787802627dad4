"""The Home publish budget shared by every process (``Outbox.take_token``) grants no
more than its rate when notifier threads and processes contend (issue 15's review: on
SQLite a thread whose ``now`` predated another's write moved the bucket back in time,
and the time already counted was refilled again: 15 to 24 grants where 13 were due)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock, SystemClock
from bot.workflows.outbox import Outbox
from bot.workflows.signals import Signals
from storage.db import Database, upgrade
from storage.models import RateBudget

RATE, BURST, SECONDS = 1.0, 10.0, 3.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL held
@pytest.mark.parametrize("processes", [1, 2])
def test_notifier_threads_stay_within_the_publish_budget(database_url: str, processes: int) -> None:
    upgrade(database_url)
    # Each process its own engine, four notifier threads each (the default).
    boxes = [
        Outbox(db=Database(database_url), clock=SystemClock(), signals=Signals())
        for _ in range(processes)
    ]
    granted: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()

    def publish(box: Outbox) -> None:
        while time.monotonic() - started < SECONDS:
            if box.take_token("views.publish", rate=RATE, burst=BURST) == 0:
                with lock:
                    granted.append(time.monotonic())

    threads = [threading.Thread(target=publish, args=(box,)) for box in boxes for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for box in boxes:
        box.db.dispose()
    allowed = BURST + RATE * SECONDS
    assert len(granted) <= allowed + 1, f"{len(granted)} publishes granted, budget {allowed:g}"


def test_a_take_whose_clock_lags_never_moves_the_bucket_back(database_url: str) -> None:
    # Deterministic: a second taker's ``now`` predates the first's write.
    upgrade(database_url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ahead, behind = ManualClock(start + timedelta(seconds=5)), ManualClock(start)
    db = Database(database_url)
    try:
        Outbox(db=db, clock=ahead, signals=Signals()).take_token("b", rate=RATE, burst=BURST)
        Outbox(db=db, clock=behind, signals=Signals()).take_token("b", rate=RATE, burst=BURST)
        with db.session() as session:
            row = session.get(RateBudget, "b")
            assert row is not None
            assert row.updated_at.replace(tzinfo=UTC) == ahead.now()
            assert row.tokens == pytest.approx(BURST - 2)
    finally:
        db.dispose()

"""Serializing count-then-act decisions (hourly limits, quotas) across processes.

``hold`` writes one row per key, in a fixed order, at the start of the decision:
on PostgreSQL the upsert locks each row until the transaction ends; on SQLite the
first write takes the database's write lock (its reads before a write run outside
a transaction, so nothing counted afterwards is stale). Two Sends for one member
therefore count and queue one after the other, wherever they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from bot.clock import Clock
from storage.db import insert_for
from storage.models import RateLock


def hold(session: Session, clock: Clock, keys: Iterable[str]) -> None:
    """Lock ``keys`` (sorted: two holders never wait on each other in a cycle) until
    the session's transaction ends."""
    insert = insert_for(session)
    now = clock.now()
    rows = [{"key": key[:160], "touched_at": now} for key in sorted(set(keys))]
    if not rows:
        return
    # One statement: its rows are written (and locked) in the order given.
    statement = insert(RateLock).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"], set_={"touched_at": statement.excluded.touched_at}
        )
    )

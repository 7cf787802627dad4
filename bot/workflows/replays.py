"""Signed requests accepted once: a replay within Slack's signature window is refused.

Slack signs each request with its timestamp; a captured request stays valid for
five minutes. Every process records a digest of each verified request's
timestamp and signature in one table (insert-once on its primary key), so the
second arrival of the same signed request, at any process, is refused. Rows are
kept until the signature can no longer pass the window, plus a margin for clocks
that differ between processes, then pruned.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from bot.clock import Clock
from storage.db import Database, insert_once
from storage.models import SeenRequest

#: Slack's window: a request whose timestamp is further than this from now is refused.
SIGNATURE_WINDOW = timedelta(minutes=5)
#: Kept this much longer than a signature can pass the window (clock differences).
MARGIN = timedelta(minutes=1)


class SeenRequests:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def first_arrival(self, timestamp: int, signature: str) -> bool:
        """Record this verified request; False when it was recorded before (a replay)."""
        digest = hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()
        # A timestamp may lie up to the window ahead of now; it passes until then.
        expires_at = datetime.fromtimestamp(timestamp, UTC) + SIGNATURE_WINDOW + MARGIN
        with self._db.session() as session:
            return insert_once(
                session, SeenRequest, ["digest"], digest=digest, expires_at=expires_at
            )

    def prune(self) -> int:
        """Forget the requests whose signatures can no longer pass the window."""
        with self._db.session() as session:
            result = session.execute(
                delete(SeenRequest).where(SeenRequest.expires_at < self._clock.now())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

"""Wake-ups: whoever works on what a transaction queued hears of it when it commits.

A workflow that queues work (a reset to send, a sale to sell, a notice to deliver)
calls :meth:`Signals.queued` inside its transaction. When the transaction commits,
this process's threads are woken at once; on PostgreSQL a ``NOTIFY`` sent with the
transaction (delivered only if it commits) wakes every other process, which
``LISTEN``\\ s on :data:`CHANNEL` (see :meth:`storage.db.Database.listen`). Nothing
polls in between; the queues' own sweep is only a safety net.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.db import after_commit

log = logging.getLogger("frontdesk.signals")

#: The PostgreSQL notification channel every process listens on.
CHANNEL = "frontdesk_wake"


class Topic(StrEnum):
    WORK = "work"  # a reset or a sale is due at a vendor
    NOTICES = "notices"  # a notice is due at Slack


class Signals:
    def __init__(self) -> None:
        self._local: dict[str, list[Callable[[], object]]] = {}

    def on(self, topic: Topic, callback: Callable[[], object]) -> None:
        """Call ``callback`` (quick, thread-safe: it sets an event) on every wake-up."""
        self._local.setdefault(topic.value, []).append(callback)

    def queued(self, session: Session, topic: Topic) -> None:
        """Work of ``topic`` was written in this transaction: wake its workers at commit."""
        sent: set[str] = session.info.setdefault("signals", set())
        if topic.value in sent:
            return
        sent.add(topic.value)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_notify(:channel, :topic)"),
                {"channel": CHANNEL, "topic": topic.value},
            )
        after_commit(session, lambda: self.wake(topic.value))
        after_commit(session, lambda: sent.discard(topic.value))

    def wake(self, topic: str) -> None:
        """A wake-up for ``topic`` (from this process, or a NOTIFY from another)."""
        for callback in self._local.get(topic, ()):
            try:
                callback()
            except Exception:
                log.exception("wake-up failed", extra={"topic": topic})

"""Durable off-acknowledgement work: claims queued resets and approved sales and runs them.

The database is the queue, so a restart loses nothing: queued work is picked up
again on start, and work a dead process left mid-call becomes ``unknown`` for
triage (neither a reset nor a sale is ever resent blindly). Claims are atomic
compare-and-set updates (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several
processes share one queue without doubling anything.

A worker does not poll for new work: :meth:`Worker.wake` is called when a
transaction that queued work commits (in this process directly, from another
through PostgreSQL ``NOTIFY``; see :mod:`bot.workflows.signals`). ``poll_seconds``
is only the safety net for what no wake-up announces (work due later: a retry's
backoff, a lease running out).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from bot.observability import Metrics, bound
from bot.workflows.lifecycle import Lifecycle
from vendors import Outcome

log = logging.getLogger("frontdesk.worker")

Row = TypeVar("Row")


class WorkQueue(Protocol):
    """One kind of durable work."""

    name: str

    def claim(self, worker_id: str, limit: int) -> list[str]:
        """Take up to ``limit`` due items for this worker (one transaction)."""

    def process(self, item_id: str, worker_id: str) -> None: ...

    def recover(self) -> None:
        """Work a dead process left mid-call: settle it (never resend)."""


class LifecycleQueue(Generic[Row]):
    """The one queue over every vendor lifecycle (resets, sales): claim, call, settle,
    recover; the same code whatever goes to the vendor. What people are told is
    recorded by the lifecycle with each change (the outbox), never sent from here."""

    def __init__(
        self,
        *,
        name: str,
        lifecycle: Lifecycle[Row],
        call: Callable[[Row], Outcome],
        metrics: Metrics | None = None,
        after: Callable[[Row], object] | None = None,
    ) -> None:
        self.name = name
        self.lifecycle = lifecycle
        self.call = call
        self.metrics = metrics
        #: Run once a row has its end (settled or recovered); its errors are logged.
        self.after = after

    def claim(self, worker_id: str, limit: int) -> list[str]:
        return self.lifecycle.claim(worker_id, limit=limit)

    def process(self, item_id: str, worker_id: str) -> None:
        settled = self.lifecycle.run(item_id, worker_id, self.call)
        if settled is None:
            return
        if self.metrics is not None and settled.outcome is not None:
            outcome = settled.outcome
            self.metrics.vendor_outcome(outcome.vendor, outcome.operation, outcome.kind.value)
        self._after(settled.row)

    def recover(self) -> None:
        for row in self.lifecycle.recover():
            item_id = str(row.id)  # type: ignore[attr-defined]
            log.warning("%s abandoned mid-call", self.name, extra={"subject": item_id})
            self._after(row)

    def _after(self, row: Row) -> None:
        if self.after is None:
            return
        try:
            self.after(row)
        except Exception:
            log.exception("%s: after its end", self.name, extra={"subject": str(row.id)})  # type: ignore[attr-defined]


@dataclass
class _Periodic:
    name: str
    seconds: float
    run: Callable[[], object]
    due: float = 0.0


class Worker:
    def __init__(
        self,
        *,
        queues: list[WorkQueue],
        threads: int = 4,
        poll_seconds: float = 1.0,
        worker_id: str | None = None,
        housekeeping_seconds: float = 5.0,
        name: str = "worker",
    ) -> None:
        self.name = name
        self.queues = queues
        self._housekeeping = housekeeping_seconds
        self._next_housekeeping = 0.0
        self._periodic: list[_Periodic] = []
        self._housekeeping_tasks: list[tuple[str, Callable[[], object]]] = []
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self._poll = poll_seconds
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._lock = threading.Lock()
        self._in_flight = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.recover()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix=f"frontdesk-{self.name}")
        self._loop = threading.Thread(
            target=self._run, name=f"frontdesk-{self.name}-loop", daemon=True
        )
        self._loop.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._loop is not None:
            self._loop.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def recover(self) -> None:
        for queue in self.queues:
            queue.recover()

    def sweep(self) -> None:
        for name, run in self._housekeeping_tasks:
            try:
                run()
            except Exception:
                log.exception("housekeeping failed: %s", name)
        now = time.monotonic()
        for task in self._periodic:
            if now >= task.due:
                task.due = now + task.seconds
                try:
                    task.run()
                except Exception:
                    log.exception("periodic task failed: %s", task.name)

    def on_housekeeping(self, name: str, run: Callable[[], object]) -> None:
        """Run ``run`` at every housekeeping round (idempotent: every process runs it)."""
        self._housekeeping_tasks.append((name, run))

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        """Run ``run`` from the worker's housekeeping every ``seconds`` (first time at
        start). Tasks must be idempotent: every process runs them."""
        self._periodic.append(_Periodic(name, seconds, run))

    def run_once(self) -> int:
        """Process everything due now, in this thread (command line and tests)."""
        self.sweep()
        done = 0
        for queue in self.queues:
            while items := queue.claim(self.worker_id, 1):
                for item in items:
                    self._process(queue, item)
                    done += 1
        return done

    def _run(self) -> None:
        assert self._pool is not None
        while not self._stop.is_set():
            try:
                if time.monotonic() >= self._next_housekeeping:
                    # Another instance's abandoned work and the periodic tasks.
                    self.recover()
                    self.sweep()
                    self._next_housekeeping = time.monotonic() + self._housekeeping
                claimed = 0
                for queue in self.queues:
                    with self._lock:
                        free = self._threads - self._in_flight
                    if free <= 0:
                        break
                    # As many as there are idle threads, in one claim (one commit).
                    items = queue.claim(self.worker_id, free)
                    with self._lock:
                        self._in_flight += len(items)
                    for item in items:
                        self._pool.submit(self._process_and_release, queue, item)
                    claimed += len(items)
                if claimed == 0:
                    self._wake.wait(self._poll)
                    self._wake.clear()
            except Exception:
                log.exception("worker loop error")
                self._stop.wait(self._poll)

    def _process_and_release(self, queue: WorkQueue, item_id: str) -> None:
        try:
            self._process(queue, item_id)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._wake.set()

    def _process(self, queue: WorkQueue, item_id: str) -> None:
        # Log lines of this work carry its id, as a request's carry the request's.
        with bound(request_id=item_id, worker=self.worker_id):
            try:
                queue.process(item_id, self.worker_id)
            except Exception:
                log.exception("%s: execution failed", queue.name)

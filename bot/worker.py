"""Durable off-acknowledgement work: claims queued resets and approved sales and runs them.

The database is the queue, so a restart loses nothing: queued work is picked up
again on start, and work a dead process left mid-call becomes ``unknown`` for
triage (neither a reset nor a sale is ever resent blindly). Claims are atomic
compare-and-set updates (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several
processes share one queue without doubling anything.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from bot.observability import Metrics, bound
from bot.workflows.resets import ResetService
from bot.workflows.sales import SaleService
from storage.models import ResetRequest, Sale

log = logging.getLogger("frontdesk.worker")


class WorkQueue(Protocol):
    """One kind of durable work."""

    name: str

    def claim_next(self, worker_id: str) -> str | None: ...

    def process(self, item_id: str, worker_id: str) -> None: ...

    def recover(self) -> None:
        """Work a dead process left mid-call: settle it (never resend)."""

    def sweep(self) -> None:
        """Periodic housekeeping (expiry), run by every worker; idempotent."""


class ResetNotifier(Protocol):
    def reset_started(self, request: ResetRequest) -> None: ...

    def reset_finished(self, request: ResetRequest) -> None: ...


class SaleNotifier(Protocol):
    def sale_started(self, sale: Sale) -> None: ...

    def sale_finished(self, sale: Sale) -> None: ...

    def sale_expired(self, sale: Sale) -> None: ...


def _quietly(what: str, item_id: str, call: object, *args: object) -> None:
    """Slack being unreachable must not stop the work: the outcome is stored."""
    try:
        call(*args)  # type: ignore[operator]
    except Exception:
        log.exception("could not tell Slack: %s", what, extra={"subject": item_id})


class ResetQueue:
    name = "resets"

    def __init__(
        self, resets: ResetService, notifier: ResetNotifier, metrics: Metrics | None = None
    ) -> None:
        self.resets = resets
        self.notifier = notifier
        self.metrics = metrics

    def claim_next(self, worker_id: str) -> str | None:
        ids = self.resets.claim_next(worker_id, limit=1)
        return ids[0] if ids else None

    def process(self, item_id: str, worker_id: str) -> None:
        # "Sending…" is shown from this thread, before the outcome, so the two
        # message updates can never arrive in the wrong order.
        claimed = self.resets.get(item_id)
        if claimed is not None:
            _quietly("reset sending", item_id, self.notifier.reset_started, claimed)
        request = self.resets.execute(item_id, worker_id)
        if request is not None:
            if self.metrics is not None:
                self.metrics.vendor_outcome(request.vendor, "password_reset", request.outcome_kind)
            _quietly("reset outcome", item_id, self.notifier.reset_finished, request)

    def recover(self) -> None:
        for request in self.resets.recover_abandoned():
            log.warning("reset abandoned mid-call", extra={"subject": request.id})
            _quietly("reset outcome", request.id, self.notifier.reset_finished, request)

    def sweep(self) -> None:
        pass


class SaleQueue:
    name = "sales"

    def __init__(
        self, sales: SaleService, notifier: SaleNotifier, metrics: Metrics | None = None
    ) -> None:
        self.sales = sales
        self.notifier = notifier
        self.metrics = metrics

    def claim_next(self, worker_id: str) -> str | None:
        ids = self.sales.claim_next(worker_id, limit=1)
        return ids[0] if ids else None

    def process(self, item_id: str, worker_id: str) -> None:
        claimed = self.sales.get(item_id)
        if claimed is not None:
            _quietly("sale sending", item_id, self.notifier.sale_started, claimed)
        sale = self.sales.execute(item_id, worker_id)
        if sale is not None:
            if self.metrics is not None:
                self.metrics.vendor_outcome("clubready", "contract_sale", sale.outcome_kind)
            _quietly("sale outcome", item_id, self.notifier.sale_finished, sale)

    def recover(self) -> None:
        for sale in self.sales.recover_abandoned():
            log.warning("sale abandoned mid-call", extra={"subject": sale.id})
            _quietly("sale outcome", sale.id, self.notifier.sale_finished, sale)

    def sweep(self) -> None:
        for sale in self.sales.expire_due():
            _quietly("sale expired", sale.id, self.notifier.sale_expired, sale)


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
    ) -> None:
        self.queues = queues
        self._housekeeping = housekeeping_seconds
        self._next_housekeeping = 0.0
        self._periodic: list[_Periodic] = []
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self._poll = poll_seconds
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._busy = threading.Semaphore(threads)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.recover()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="frontdesk-worker")
        self._loop = threading.Thread(target=self._run, name="frontdesk-worker-loop", daemon=True)
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
        for queue in self.queues:
            queue.sweep()
        now = time.monotonic()
        for task in self._periodic:
            if now >= task.due:
                task.due = now + task.seconds
                try:
                    task.run()
                except Exception:
                    log.exception("periodic task failed: %s", task.name)

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        """Run ``run`` from the worker's housekeeping every ``seconds`` (first time at
        start). Tasks must be idempotent: every process runs them."""
        self._periodic.append(_Periodic(name, seconds, run))

    def run_once(self) -> int:
        """Process everything due now, in this thread (command line and tests)."""
        self.sweep()
        done = 0
        for queue in self.queues:
            while (item := queue.claim_next(self.worker_id)) is not None:
                self._process(queue, item)
                done += 1
        return done

    def _run(self) -> None:
        assert self._pool is not None
        while not self._stop.is_set():
            try:
                if time.monotonic() >= self._next_housekeeping:
                    # Another instance's abandoned work and due expiries, too.
                    self.recover()
                    self.sweep()
                    self._next_housekeeping = time.monotonic() + self._housekeeping
                claimed = 0
                for queue in self.queues:
                    while self._busy.acquire(blocking=False):
                        item = queue.claim_next(self.worker_id)
                        if item is None:
                            self._busy.release()
                            break
                        claimed += 1
                        self._pool.submit(self._process_and_release, queue, item)
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
            self._busy.release()
            self._wake.set()

    def _process(self, queue: WorkQueue, item_id: str) -> None:
        # Log lines of this work carry its id, as a request's carry the request's.
        with bound(request_id=item_id, worker=self.worker_id):
            try:
                queue.process(item_id, self.worker_id)
            except Exception:
                log.exception("%s: execution failed", queue.name)

"""Durable off-acknowledgement work: claims queued resets and runs them.

The database is the queue, so a restart loses nothing: queued requests are
picked up again on start, and requests a dead process left mid-call become
``unknown`` for triage (a reset is never resent blindly).
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from bot.workflows.resets import ResetService
from storage.models import ResetRequest

log = logging.getLogger("frontdesk.worker")


class ResetNotifier(Protocol):
    def reset_started(self, request: ResetRequest) -> None: ...

    def reset_finished(self, request: ResetRequest) -> None: ...


class Worker:
    def __init__(
        self,
        *,
        resets: ResetService,
        notifier: ResetNotifier,
        threads: int = 4,
        poll_seconds: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.resets = resets
        self.notifier = notifier
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
        for request in self.resets.recover_abandoned():
            log.warning("reset abandoned mid-call", extra={"request_id": request.id})
            self._notify(request)

    def run_once(self) -> int:
        """Process everything queued now, in this thread (command line and tests)."""
        done = 0
        while ids := self.resets.claim_next(self.worker_id, limit=1):
            for request_id in ids:
                self._process(request_id)
                done += 1
        return done

    def _run(self) -> None:
        assert self._pool is not None
        while not self._stop.is_set():
            try:
                claimed = 0
                while self._busy.acquire(blocking=False):
                    ids = self.resets.claim_next(self.worker_id, limit=1)
                    if not ids:
                        self._busy.release()
                        break
                    claimed += 1
                    self._pool.submit(self._process_and_release, ids[0])
                if claimed == 0:
                    self._wake.wait(self._poll)
                    self._wake.clear()
            except Exception:
                log.exception("worker loop error")
                self._stop.wait(self._poll)

    def _process_and_release(self, request_id: str) -> None:
        try:
            self._process(request_id)
        finally:
            self._busy.release()
            self._wake.set()

    def _process(self, request_id: str) -> None:
        # "Sending…" is shown from this thread, before the outcome, so the two
        # message updates can never arrive in the wrong order.
        claimed = self.resets.get(request_id)
        if claimed is not None:
            try:
                self.notifier.reset_started(claimed)
            except Exception:
                log.warning(
                    "could not show that a reset is sending", extra={"request_id": request_id}
                )
        try:
            request = self.resets.execute(request_id, self.worker_id)
        except Exception:
            log.exception("reset execution failed", extra={"request_id": request_id})
            return
        if request is not None:
            self._notify(request)

    def _notify(self, request: ResetRequest) -> None:
        try:
            self.notifier.reset_finished(request)
        except Exception:
            log.exception("could not tell Slack about a reset", extra={"request_id": request.id})

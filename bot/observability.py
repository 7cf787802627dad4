"""Structured logs with a request id, and Prometheus metrics.

Logs: the stdlib ``logging`` calls everywhere are rendered as one JSON object
per line by structlog's ``ProcessorFormatter`` (user input cannot break a line),
with the ``extra`` fields and the request id bound for the request in progress.
The id travels into Bolt's listener threads through a context-copying executor,
and it is the reference a user sees on an unexpected error, so support finds
every line of that request by it.

Metrics: one registry per running app (so tests can run several), served on
``/metrics`` by a listener of its own: acknowledgement latency, refusals at the
edge, vendor outcomes by vendor, operation and outcome class, and queue depths
read from the database at scrape time.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO, Any, ParamSpec, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Notice, ResetRequest, Sale

P = ParamSpec("P")
T = TypeVar("T")

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="at"),
    structlog.stdlib.ExtraAdder(),
]


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing one JSON object per record to ``stream`` (stderr)."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # ASCII-only: \u2028 and friends stay escaped, so no reader splits a line.
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    return handler


#: How Bolt and slack_sdk begin their debug records of whole bodies sent or received.
_BODY_RECORDS = ("Responding with status", "Sending a request", "Received the following")
#: The loggers that write them (Bolt's is ours: bot/app.py names it).
_BODY_LOGGERS = ("frontdesk.bolt", "slack_sdk.web.base_client", "slack_sdk.webhook.client")


class NoBodies(logging.Filter):
    """Drops the libraries' debug records of whole Slack bodies: an acknowledgement, a
    views.update or a response_url post may carry a private screen (a reset's
    confirmation with the member as the person typed it), which is for that person
    alone, never for the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_BODY_RECORDS)


def quiet_bodies() -> None:
    """Keep Slack bodies out of the logs at every level (idempotent)."""
    for name in _BODY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoBodies) for f in logger.filters):
            logger.addFilter(NoBodies())


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    """JSON lines for every logger, ours and the libraries'."""
    root = logging.getLogger()
    root.handlers = [json_handler(stream)]
    root.setLevel(level)


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


@contextmanager
def bound(**values: str) -> Iterator[None]:
    """Bind values (``request_id``…) to every log line of this context."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context, so a
    request id bound on the HTTP thread reaches Bolt's listener threads."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)  # type: ignore[arg-type]


class _QueueDepth(Collector):
    """Work waiting, read from the database when Prometheus scrapes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "frontdesk_queue_depth",
            "Requests waiting, by queue and state",
            labels=["queue", "state"],
        )
        with self._db.session() as session:
            for model, queue, states in (
                (ResetRequest, "resets", ("queued", "sending")),
                (Sale, "sales", ("pending_approval", "approved", "submitting")),
                (Notice, "notices", ("pending", "sending", "abandoned")),
            ):
                counts = dict(
                    session.execute(
                        select(model.status, func.count())
                        .where(model.status.in_(states))
                        .group_by(model.status)
                    ).all()
                )
                for state in states:
                    gauge.add_metric([queue, state], counts.get(state, 0))
        yield gauge


class Metrics:
    def __init__(self, db: Database | None = None) -> None:
        self.registry = CollectorRegistry()
        self.ack_seconds = Histogram(
            "frontdesk_ack_seconds",
            "Time from a Slack request's arrival to our acknowledgement",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
            registry=self.registry,
        )
        self.edge_refusals = Counter(
            "frontdesk_edge_refusals",
            "Slack requests refused at the edge, by HTTP status (or replay)",
            ["status"],
            registry=self.registry,
        )
        self.vendor_outcomes = Counter(
            "frontdesk_vendor_outcomes",
            "Vendor calls by vendor, operation and outcome class",
            ["vendor", "operation", "outcome"],
            registry=self.registry,
        )
        self.notice_deliveries = Counter(
            "frontdesk_notice_deliveries",
            "Slack notices by kind and what became of an attempt "
            "(delivered, retried, posted_unconfirmed)",
            ["kind", "result"],
            registry=self.registry,
        )
        self.notices_abandoned = Counter(
            "frontdesk_notices_abandoned",
            "Slack notices given up (expired, or refused for good), by kind and reason",
            ["kind", "reason"],
            registry=self.registry,
        )
        if db is not None:
            self.registry.register(_QueueDepth(db))

    def vendor_outcome(self, vendor: str, operation: str, outcome: str | None) -> None:
        self.vendor_outcomes.labels(vendor, operation, outcome or "none").inc()

    def notice_delivery(self, kind: str, result: str) -> None:
        self.notice_deliveries.labels(kind, result).inc()

    def notice_abandoned(self, kind: str, reason: str) -> None:
        self.notices_abandoned.labels(kind, reason[:40]).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

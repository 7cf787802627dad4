"""Sending one vendor call: attempts, a total deadline, classification, retry policy.

Each adapter describes its call (:class:`Call`) and how to read an answer (an
``interpret`` function); this module owns everything that decides whether the
request *may have taken effect*, which is what the retry rules hang on.

A call has a total deadline covering every attempt, every retry wait and every
connect, read and write. httpx only has per-operation timeouts (a server that
drips one byte per second never trips a 10 s read timeout), so
:class:`VendorHttp` runs httpcore on a network backend whose every blocking
operation waits at most ``min(its own timeout, time left)``.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import math
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx
import simplejson

from vendors._errors import VendorConfigurationError, VendorError
from vendors._outcome import Exchange, Outcome, OutcomeKind
from vendors._redact import REDACTED, Redactor

log = logging.getLogger("vendors")


class _QuerySecretFilter(logging.Filter):
    """httpx logs every request URL at INFO; ClubReady's API key travels in that URL."""

    _PATTERN = re.compile(r"(?i)\b(apikey|api_key|token|password|secret)=[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._PATTERN.sub(lambda m: f"{m.group(1)}={REDACTED}", message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_QuerySecretFilter())

#: Answers that say nothing about the request itself: a rate limit, or a gateway in
#: front of the vendor. A gateway may give up *after* the vendor acted, so these
#: are UNAVAILABLE (retry allowed) only for operations a duplicate cannot harm.
GATEWAY_STATUSES = frozenset({502, 503, 504})
RATE_LIMITED = 429


def left_to_transport(status: int) -> bool:
    """429, a gateway's 502/503/504 and redirects: statuses whose meaning does not
    depend on the vendor's body, decided by :meth:`VendorHttp._by_status`."""
    return status == RATE_LIMITED or status in GATEWAY_STATUSES or 300 <= status < 400


def is_http_url(url: str) -> bool:
    return bool(re.match(r"^https?://[^/\s]+", url or ""))


DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=5.0, pool=2.0)
#: The total time one call may take, all attempts and waits included.
DEFAULT_DEADLINE = 30.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a call may be sent again, and only ever after an UNAVAILABLE attempt.

    An UNKNOWN attempt (it may have arrived) is never retried by any policy, and no
    retry starts once the call's total deadline would pass during its wait.
    """

    retries: int = 0
    max_retry_after: float = 5.0
    backoff: float = 0.25

    @classmethod
    def never(cls) -> RetryPolicy:
        return cls(retries=0)

    @classmethod
    def once_if_not_arrived(cls, *, max_retry_after: float = 5.0) -> RetryPolicy:
        return cls(retries=1, max_retry_after=max_retry_after)


@dataclass(frozen=True, slots=True)
class Call:
    vendor: str
    operation: str
    method: str
    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    auth: httpx.Auth | None = None
    #: A 502/503/504 may come from a gateway that gave up after the vendor acted:
    #: for an operation that must not be doubled (a sale) that is UNKNOWN, not
    #: UNAVAILABLE. 429 is refused before any processing either way.
    gateway_errors_are_unknown: bool = False


#: Reads one answer: an Outcome, or None when the body carries no verdict and the
#: status alone decides (429, a gateway's 5xx, a redirect, anything unexpected).
Interpret = Callable[[httpx.Response, Any], Outcome | None]


def encode_json(body: Any) -> bytes:
    """JSON with Decimals written as exact numbers (``49.00``, never ``49.0000001``)."""
    return simplejson.dumps(body, use_decimal=True, separators=(",", ":")).encode()


def parse_json(response: httpx.Response) -> Any:
    """The body as JSON (decimals kept exact), or ``None`` when it is not JSON."""
    try:
        return simplejson.loads(response.content, use_decimal=True)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


# -- the total deadline, enforced under httpx --------------------------------------------
@dataclass(slots=True)
class _Budget:
    """The running call's deadline (``time.monotonic`` seconds) and whether this
    attempt has begun writing (after which a timeout may follow a sent request)."""

    deadline: float
    writing: bool = False


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "vendor_call_budget", default=None
)
#: Bytes per socket write: a writable socket always takes this much at once, so each
#: write blocks at most once for its (bounded) timeout.
_WRITE_CHUNK = 4096


def _bounded(timeout: float | None, expired: type[Exception], what: str) -> float | None:
    """``min(timeout, time left)``, or ``expired`` when the deadline has passed."""
    budget = _BUDGET.get()
    if budget is None:
        return timeout
    left = budget.deadline - time.monotonic()
    if left <= 0:
        raise expired(f"the call's total deadline passed {what}")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(
            max_bytes, _bounded(timeout, httpcore.ReadTimeout, "while reading the answer")
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        budget = _BUDGET.get()
        for start in range(0, len(buffer), _WRITE_CHUNK):
            if budget is not None and not budget.writing:
                # Nothing of this request has left yet: a deadline here is "not sent".
                bounded = _bounded(timeout, httpcore.ConnectTimeout, "before anything was sent")
                budget.writing = True
            else:
                bounded = _bounded(timeout, httpcore.WriteTimeout, "while sending")
            self._inner.write(buffer[start : start + _WRITE_CHUNK], bounded)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout, "before the TLS handshake")
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sync backend, every blocking operation bounded by the deadline.

    Name resolution inside ``connect_tcp`` is bounded by the operating system's
    resolver only (``socket.create_connection`` cannot interrupt it).
    """

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout, "before connecting")
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout, "before connecting")
        return _DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_transport() -> httpx.HTTPTransport:
    """httpx's transport on the deadline-bounded backend."""
    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx/httpcore cannot take a network backend: pin a version")
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


def _capped(timeout: httpx.Timeout, left: float) -> httpx.Timeout:
    left = max(left, 0.001)

    def cap(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )


# -- one call ---------------------------------------------------------------------------
class VendorHttp:
    """The HTTP client every adapter sends through: thread-safe, one per process.

    ``timeout`` bounds each connect, read, write and pool wait; ``deadline`` (seconds)
    bounds a whole call (``time.monotonic``). ``sleep`` and ``now`` (the wall clock a
    ``Retry-After`` date is read against) are injectable for tests.
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not deadline > 0:
            raise VendorConfigurationError("a vendor call's deadline must be positive")
        self.timeout = timeout
        self.deadline = deadline
        self._sleep = sleep
        self._now = now
        self._client = httpx.Client(
            transport=transport or deadline_transport(), timeout=timeout, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def perform(
        self, call: Call, *, interpret: Interpret, redactor: Redactor, policy: RetryPolicy
    ) -> Outcome:
        """Send ``call`` (retrying only as ``policy`` allows) and read the answer.

        Raises :class:`VendorError` only when the request cannot even be formed;
        from the first attempt on, every path returns an Outcome.
        """
        deadline = time.monotonic() + self.deadline
        content, headers = self._prepare(call)
        exchanges: list[Exchange] = []
        try:
            outcome = self._attempts(
                call, content, headers, deadline, interpret, redactor, policy, exchanges
            )
            return _redacted(outcome, redactor).with_exchanges(tuple(exchanges))
        except Exception as exc:  # a bug after sending began: it may have been sent
            log.error(
                "vendor call failed inside frontdesk",
                extra={
                    "vendor": call.vendor,
                    "operation": call.operation,
                    "error": type(exc).__name__,
                },
            )
            outcome = _outcome(
                call,
                OutcomeKind.UNKNOWN,
                "frontdesk failed while handling the vendor's answer: it may have been done",
                code="internal_error",
            )
            return outcome.with_exchanges(tuple(exchanges))

    def _prepare(self, call: Call) -> tuple[bytes | None, dict[str, str]]:
        try:
            content = encode_json(call.body) if call.body is not None else None
            headers = {"Accept": "application/json", **call.headers}
            if content is not None:
                headers["Content-Type"] = "application/json"
            self._client.build_request(call.method, call.url, params=dict(call.params))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise VendorConfigurationError(
                f"the {call.vendor} base URL is not a usable http(s) URL"
            ) from exc
        except (TypeError, ValueError) as exc:
            raise VendorError(f"the {call.vendor} request could not be encoded") from exc
        return content, headers

    def _attempts(
        self,
        call: Call,
        content: bytes | None,
        headers: dict[str, str],
        deadline: float,
        interpret: Interpret,
        redactor: Redactor,
        policy: RetryPolicy,
        exchanges: list[Exchange],
    ) -> Outcome:
        attempt = 0
        while True:
            attempt += 1
            request = self._client.build_request(
                call.method,
                call.url,
                params=dict(call.params),
                headers=headers,
                content=content,
                timeout=_capped(self.timeout, deadline - time.monotonic()),
            )
            started = time.perf_counter()
            response, outcome, error = self._send(call, request, deadline)
            parsed: Any = None
            wait: float | None = None
            if response is not None:
                try:
                    parsed = parse_json(response)
                    outcome = interpret(response, parsed) or self._by_status(call, response)
                except Exception as exc:  # the answer broke our reading of it
                    error = f"reading the answer failed: {type(exc).__name__}"
                    outcome = _outcome(
                        call,
                        OutcomeKind.UNKNOWN,
                        "the vendor answered something we could not read: it may have been done",
                        code=f"HTTP {response.status_code}",
                    )
                if outcome.kind is OutcomeKind.UNAVAILABLE:
                    wait = self._retry_after(response)
            assert outcome is not None
            elapsed_ms = (time.perf_counter() - started) * 1000
            exchanges.append(
                Exchange(
                    method=request.method,
                    url=redactor.url(str(request.url)),
                    request_headers=redactor.headers(dict(request.headers)),
                    request_body=redactor.json(call.body),
                    status=response.status_code if response is not None else None,
                    response_body=_body_for_record(redactor, response, parsed),
                    elapsed_ms=elapsed_ms,
                    transport_error=redactor.text(error) if error else None,
                )
            )
            log.info(
                "vendor call",
                extra={
                    "vendor": call.vendor,
                    "operation": call.operation,
                    "attempt": attempt,
                    "status": response.status_code if response is not None else None,
                    "outcome": outcome.kind.value,
                    "elapsed_ms": round(elapsed_ms, 1),
                },
            )
            if outcome.kind is not OutcomeKind.UNAVAILABLE or attempt > policy.retries:
                return outcome
            delay = policy.backoff if wait is None else wait
            if delay > policy.max_retry_after or time.monotonic() + delay >= deadline:
                return outcome
            self._sleep(delay)

    def _send(
        self, call: Call, request: httpx.Request, deadline: float
    ) -> tuple[httpx.Response | None, Outcome | None, str | None]:
        token = _BUDGET.set(_Budget(deadline))
        try:
            return self._client.send(request, auth=call.auth), None, None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if time.monotonic() >= deadline:
                message = "the call's deadline passed before anything was sent"
            else:
                message = "could not reach the vendor: nothing was sent"
            outcome = _outcome(call, OutcomeKind.UNAVAILABLE, message)
            return None, outcome, f"{type(exc).__name__}: {exc}"
        except httpx.TimeoutException as exc:
            late = time.monotonic() >= deadline
            outcome = _outcome(
                call,
                OutcomeKind.UNKNOWN,
                "the call's deadline passed before the vendor answered: it may have been done"
                if late
                else "no answer from the vendor in time: it may have been done",
            )
            return None, outcome, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # anything once sending may have begun: unknown
            outcome = _outcome(
                call,
                OutcomeKind.UNKNOWN,
                "the connection broke before the vendor answered: it may have been done",
            )
            return None, outcome, f"{type(exc).__name__}: {exc}"
        finally:
            _BUDGET.reset(token)

    def _by_status(self, call: Call, response: httpx.Response) -> Outcome:
        status = response.status_code
        code = f"HTTP {status}"
        if status == RATE_LIMITED:
            return _outcome(
                call,
                OutcomeKind.UNAVAILABLE,
                "the vendor is limiting our requests (HTTP 429): nothing was done",
                code=code,
            )
        if status in GATEWAY_STATUSES:
            kind = (
                OutcomeKind.UNKNOWN if call.gateway_errors_are_unknown else OutcomeKind.UNAVAILABLE
            )
            return _outcome(
                call,
                kind,
                f"the vendor's gateway answered HTTP {status}: probably not done, but a "
                "gateway may give up after the vendor acted, so it may have been done",
                code=code,
            )
        if 300 <= status < 400:
            return _outcome(
                call,
                OutcomeKind.UNKNOWN,
                f"the vendor's address redirected us (HTTP {status}): a configuration "
                f"problem, check the {call.vendor} base URL; the request may have been done",
                code="configuration: redirected",
            )
        return _outcome(
            call,
            OutcomeKind.UNKNOWN,
            f"the vendor answered something we do not understand (HTTP {status})",
            code=code,
        )

    def _retry_after(self, response: httpx.Response) -> float | None:
        """``Retry-After`` as delay-seconds or as an HTTP date; None when absent or unusable."""
        raw = (response.headers.get("Retry-After") or "").strip()
        if not raw:
            return None
        try:
            seconds = float(raw)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - self._now()).total_seconds()
        return max(0.0, seconds) if math.isfinite(seconds) else None


def _body_for_record(redactor: Redactor, response: httpx.Response | None, parsed: Any) -> Any:
    if response is None:
        return None
    if parsed is not None:
        return redactor.json(parsed)
    return redactor.text(response.content[:2000].decode("utf-8", "replace"))


def _outcome(call: Call, kind: OutcomeKind, message: str, code: str | None = None) -> Outcome:
    return Outcome(
        kind=kind, vendor=call.vendor, operation=call.operation, message=message, code=code
    )


def _redacted(outcome: Outcome, redactor: Redactor) -> Outcome:
    return replace(
        outcome,
        message=redactor.text(outcome.message),
        code=redactor.text(outcome.code) if outcome.code else None,
        field_errors=tuple(
            type(f)(f.field, redactor.text(f.message), f.code) for f in outcome.field_errors
        ),
        data=redactor.json(dict(outcome.data)),
    )

"""Sending one vendor call: attempts, classification of failures, retry policy.

Each adapter describes its call (:class:`Call`) and how to read an answer
(an ``interpret`` function); this module owns everything that decides whether
the request *may have taken effect*, which is what the retry rules hang on.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import simplejson

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

#: Statuses after which the request certainly did not take effect.
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=5.0, pool=2.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a call may be sent again, and only ever after an UNAVAILABLE attempt.

    An UNKNOWN attempt (it may have arrived) is never retried by any policy.
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


Interpret = Callable[[httpx.Response, Any], Outcome]


def encode_json(body: Any) -> bytes:
    """JSON with Decimals written as exact numbers (``49.00``, never ``49.0000001``)."""
    return simplejson.dumps(body, use_decimal=True, separators=(",", ":")).encode()


def parse_json(response: httpx.Response) -> Any:
    """The body as JSON (decimals kept exact), or ``None`` when it is not JSON."""
    try:
        return simplejson.loads(response.content, use_decimal=True)
    except (ValueError, UnicodeDecodeError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _body_for_record(redactor: Redactor, response: httpx.Response | None, parsed: Any) -> Any:
    if response is None:
        return None
    if parsed is not None:
        return redactor.json(parsed)
    return redactor.text(response.text[:2000])


def perform(
    client: httpx.Client,
    call: Call,
    *,
    interpret: Interpret,
    redactor: Redactor,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    exchanges: list[Exchange] = []
    content = encode_json(call.body) if call.body is not None else None
    headers = {"Accept": "application/json", **call.headers}
    if content is not None:
        headers["Content-Type"] = "application/json"
    attempt = 0
    while True:
        attempt += 1
        request = client.build_request(
            call.method, call.url, params=dict(call.params), headers=headers, content=content
        )
        started = time.perf_counter()
        response: httpx.Response | None = None
        error: str | None = None
        parsed: Any = None
        outcome: Outcome
        wait: float | None = None
        try:
            response = client.send(request, auth=call.auth)
            parsed = parse_json(response)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            error = f"{type(exc).__name__}: {exc}"
            outcome = _outcome(call, OutcomeKind.UNAVAILABLE, "could not reach the vendor")
        except httpx.TimeoutException as exc:
            error = f"{type(exc).__name__}: {exc}"
            outcome = _outcome(call, OutcomeKind.UNKNOWN, "no answer from the vendor in time")
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}"
            outcome = _outcome(
                call, OutcomeKind.UNKNOWN, "the connection broke before the vendor answered"
            )
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response is not None:
            gateway_error = response.status_code in UNAVAILABLE_STATUSES - {429}
            if gateway_error and call.gateway_errors_are_unknown:
                outcome = _outcome(
                    call,
                    OutcomeKind.UNKNOWN,
                    f"the vendor's gateway failed (HTTP {response.status_code}): "
                    "it may have been done",
                    code=f"HTTP {response.status_code}",
                )
            elif response.status_code in UNAVAILABLE_STATUSES:
                outcome = _outcome(
                    call,
                    OutcomeKind.UNAVAILABLE,
                    f"the vendor is unavailable (HTTP {response.status_code})",
                    code=f"HTTP {response.status_code}",
                )
                wait = _retry_after(response)
            else:
                outcome = interpret(response, parsed)
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
            break
        delay = policy.backoff if wait is None else wait
        if delay > policy.max_retry_after:
            break
        sleep(delay)
    return _redacted(outcome, redactor).with_exchanges(tuple(exchanges))


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

"""Every vendor call ends by its total deadline: attempts, waits, connects, reads, writes.

httpx's timeouts are per operation: a server that drips its answer a byte at a time
never trips a read timeout. These tests run real sockets against the sandbox's
``drip`` fault and a listener whose accept queue is full.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpcore
import httpx
import pytest
import respx

from tests.vendors.helpers import REG_URL, RESET_URL, clubready, identity, new_sale, vendor_http
from vendors import OutcomeKind, PaymentInstruction
from vendors._transport import _BUDGET, _Budget, _DeadlineStream
from vendors.registrar import RegistrarReset
from vendors.sandbox import Fault, Sandbox

MARGIN = 0.5  # scheduling slack on a loaded two-core machine


def test_a_dripping_answer_ends_at_the_deadline(sandbox: Sandbox) -> None:
    # One byte every 0.2 s: every read gets a byte long before its 1 s timeout, so
    # only the total deadline can end this call (the whole answer takes ~30 s).
    sandbox.inject(Fault("drip", vendor="registrar", seconds=0.2))
    http = vendor_http(timeout=httpx.Timeout(5.0, read=1.0), deadline=1.5)
    resetter = RegistrarReset(base_url=sandbox.base_url("registrar"), http=http)
    started = time.monotonic()
    outcome = resetter.reset(identity(email="jane@example.com"))
    elapsed = time.monotonic() - started
    assert 1.5 - 0.1 <= elapsed < 1.5 + MARGIN, elapsed  # not a read timeout: the deadline
    assert outcome.kind is OutcomeKind.UNKNOWN  # it was sent: it may have been done
    assert "deadline" in outcome.message
    assert outcome.attempts == 1 and len(sandbox.received("registrar")) == 1


def test_a_dripping_sale_is_unknown_and_never_resent(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("drip", operation="contract_sale", seconds=0.1))
    http = vendor_http(timeout=httpx.Timeout(5.0, read=2.0), deadline=1.0)
    _, seller = clubready(
        http, base=sandbox.base_url("clubready"), key="sandbox-clubready-key", chain=None
    )
    payments = (PaymentInstruction("profile", "tok_profile_0001", Decimal("49.00")),)
    started = time.monotonic()
    outcome = seller.sell(new_sale(payments=payments))
    assert time.monotonic() - started < 1.0 + MARGIN
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received("clubready", "contract_sale")) == 1
    assert len(sandbox.vendors["clubready"].state.sales) == 1  # the vendor did sell it


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A port whose accept queue is full: a new connection hangs in SYN_SENT."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


def test_a_deadline_before_the_first_byte_is_unavailable(full_listener: int) -> None:
    http = vendor_http(timeout=httpx.Timeout(10.0), deadline=0.8)
    resetter = RegistrarReset(base_url=f"http://127.0.0.1:{full_listener}", http=http)
    started = time.monotonic()
    outcome = resetter.reset(identity(email="a@b.io"))
    assert time.monotonic() - started < 0.8 + MARGIN
    assert outcome.kind is OutcomeKind.UNAVAILABLE  # nothing left: never "maybe"
    assert "deadline passed before anything was sent" in outcome.message
    assert outcome.attempts == 1  # no time left for the retry


class _Recording(httpcore.NetworkStream):
    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.timeouts.append(timeout)
        return b"x"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)

    def close(self) -> None:
        pass


def test_each_socket_operation_waits_at_most_the_time_left() -> None:
    inner = _Recording()
    stream = _DeadlineStream(inner)
    token = _BUDGET.set(_Budget(deadline=time.monotonic() + 0.5))
    try:
        stream.write(b"a" * 10_000, timeout=5.0)  # three chunks, each bounded
        stream.read(10, timeout=5.0)
        assert len(inner.timeouts) == 4
        assert all(t is not None and 0 < t <= 0.5 for t in inner.timeouts)
    finally:
        _BUDGET.reset(token)


def test_past_the_deadline_nothing_sent_is_a_connect_timeout() -> None:
    """The transport classifies by it: before the first byte, UNAVAILABLE; after, UNKNOWN."""
    stream = _DeadlineStream(_Recording())
    token = _BUDGET.set(_Budget(deadline=time.monotonic() - 1))
    try:
        with pytest.raises(httpcore.ConnectTimeout):
            stream.write(b"request", timeout=5.0)
    finally:
        _BUDGET.reset(token)
    budget = _Budget(deadline=time.monotonic() + 0.05)
    token = _BUDGET.set(budget)
    try:
        stream.write(b"request line", timeout=5.0)
        time.sleep(0.06)
        with pytest.raises(httpcore.WriteTimeout):
            stream.write(b"more", timeout=5.0)
        with pytest.raises(httpcore.ReadTimeout):
            stream.read(10, timeout=5.0)
    finally:
        _BUDGET.reset(token)


@respx.mock
def test_a_retry_wait_counts_against_the_deadline() -> None:
    sleeps: list[float] = []
    resetter, _ = clubready(vendor_http(sleeps, deadline=1.0))
    route = respx.post(RESET_URL)
    route.side_effect = [
        httpx.Response(503, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"Success": True}),
    ]
    outcome = resetter.reset(identity(email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNAVAILABLE and outcome.attempts == 1
    assert sleeps == [] and route.call_count == 1


@respx.mock
def test_retry_after_as_an_http_date_is_honoured() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    sleeps: list[float] = []
    http = vendor_http(sleeps, now=lambda: now)
    route = respx.post(REG_URL)
    route.side_effect = [
        httpx.Response(
            503, headers={"Retry-After": format_datetime(now + timedelta(seconds=3), usegmt=True)}
        ),
        httpx.Response(204),
    ]
    outcome = RegistrarReset(base_url="https://registrar.test", http=http).reset(
        identity(email="a@b.io")
    )
    assert outcome.succeeded and sleeps == [3.0]
    # A date in the past: retry at once; garbage: the default backoff.
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "Mon, 01 Jan 2001 00:00:00 GMT"}),
        httpx.Response(204),
    ]
    assert (
        RegistrarReset(base_url="https://registrar.test", http=http)
        .reset(identity(email="a@b.io"))
        .succeeded
    )
    assert sleeps == [3.0, 0.0]

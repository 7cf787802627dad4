"""The listener under slow or odd clients: connections it cannot be starved of, requests
that must arrive in time, refusals waitress makes itself, and HEAD without a body."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.devtools.stack import Stack
from bot.http import MAX_BODY_BYTES


@pytest.fixture
def make(database_url: str, tmp_path: Path) -> Iterator:
    started: list[Stack] = []

    def build(**overrides: object) -> Stack:
        stack = Stack(workdir=tmp_path, database_url=database_url, overrides=overrides)
        started.append(stack)
        return stack

    yield build
    for stack in started:
        stack.stop()


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _refusals(stack: Stack, status: str) -> float:
    return stack.frontdesk.metrics.edge_refusals.labels(status)._value.get()


def test_slow_clients_cannot_starve_the_listener(make) -> None:
    """150 connections each holding a request half-sent (the reviewer's slowloris): Slack
    and the load balancer's health check are still answered at once."""
    stack = make()
    slow: list[socket.socket] = []
    try:
        for _ in range(150):
            connection = socket.create_connection(_address(stack.http.url), timeout=5)
            connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
            slow.append(connection)
        time.sleep(0.5)
        started = time.monotonic()
        assert httpx.get(f"{stack.http.url}/healthz", timeout=3).status_code == 200
        unsigned = httpx.post(f"{stack.http.url}/slack/events", content=b"x=1", timeout=3)
        assert unsigned.status_code == 401
        assert time.monotonic() - started < 2
    finally:
        for connection in slow:
            connection.close()


def test_a_request_that_trickles_in_is_cut_off_at_its_deadline(
    make, caplog: pytest.LogCaptureFixture
) -> None:
    """One header line every 0.3 s keeps waitress's idle timer young for ever; the
    request's own deadline (headers and body in all) closes it anyway, with a log line."""
    caplog.set_level(logging.INFO)
    stack = make(http_request_seconds=2, http_channel_timeout=30)
    connection = socket.create_connection(_address(stack.http.url), timeout=5)
    connection.settimeout(0.3)
    connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    closed_after = None
    while time.monotonic() - started < 8:
        try:
            connection.sendall(b"X-Slow: 1\r\n")
            if connection.recv(1) == b"":
                closed_after = time.monotonic() - started
                break
        except TimeoutError:
            continue
        except OSError:
            closed_after = time.monotonic() - started
            break
    connection.close()
    assert closed_after is not None and 1.5 <= closed_after <= 5, closed_after
    [line] = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert line.path == "/slack/events" and "2 s" in line.reason  # type: ignore[attr-defined]
    assert _refusals(stack, "408") == 1
    # An idle kept-alive connection between requests is the channel timeout's, not this.
    with httpx.Client() as client:
        assert client.get(f"{stack.http.url}/healthz").status_code == 200
        time.sleep(2.5)
        assert client.get(f"{stack.http.url}/healthz").status_code == 200


def test_bodies_waitress_refuses_itself_are_logged_and_counted(
    make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack = make()
    for framing in (f"Content-Length: {MAX_BODY_BYTES + 1}", "Transfer-Encoding: chunked"):
        connection = socket.create_connection(_address(stack.http.url), timeout=5)
        connection.sendall(
            f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode()
            + (b"%x\r\n%s\r\n" % (MAX_BODY_BYTES + 1, b"x" * (MAX_BODY_BYTES + 1)))
        )
        answer = connection.recv(4096)
        connection.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:60]
    refused = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert [(r.path, r.reason) for r in refused] == [  # type: ignore[attr-defined]
        ("/slack/events", "body over the cap (refused by waitress)")
    ] * 2
    assert refused[0].bytes == MAX_BODY_BYTES + 1  # type: ignore[attr-defined]
    assert _refusals(stack, "413") == 2


def _exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` on one connection; everything that comes back until it goes quiet."""
    connection = socket.create_connection(_address(url), timeout=5)
    connection.settimeout(1)
    connection.sendall(data)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        pass
    connection.close()
    return received


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/healthz", b"200"),
        ("/guest/reset?resetCode=x", b"405"),
        ("/slack/events", b"405"),
        ("/nope", b"404"),
    ],
)
def test_head_answers_carry_no_body_so_a_reused_connection_stays_in_step(
    stack: Stack, path: str, status: bytes
) -> None:
    answer = _exchange(
        stack.http.url,
        f"HEAD {path} HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n".encode(),
    )
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status), head
    assert b"Transfer-Encoding" not in head and b"Content-Length:" in head
    # The next bytes on the connection are the next answer, not the HEAD's body.
    assert rest.startswith(b"HTTP/1.1 200 OK"), rest[:80]
    assert rest.endswith(b'{"ok": true}')


def test_head_on_the_metrics_listener_carries_no_body(stack: Stack) -> None:
    answer = _exchange(
        stack.metrics.url,
        b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200") and rest.startswith(b"HTTP/1.1 404"), answer[:200]

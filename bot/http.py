"""HTTP mode: a WSGI app (Slack events, health, metrics) served by waitress.

Each Slack request gets a request id bound to its log lines, and the time to
our acknowledgement (Bolt answers as soon as ``ack()`` is called; the rest runs
on a listener thread) is observed into ``frontdesk_ack_seconds``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from waitress.server import create_server

from bot.app import Frontdesk
from bot.observability import bound, new_request_id
from bot.web.guest import guest_page

log = logging.getLogger("frontdesk.http")

StartResponse = Callable[..., Any]


def wsgi_app(frontdesk: Frontdesk) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slack = SlackRequestHandler(frontdesk.app)
    guest = guest_page(frontdesk)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            body: dict[str, object]
            try:
                with frontdesk.db.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                status, body = "200 OK", {"ok": True}
            except Exception:
                status, body = "503 Service Unavailable", {"ok": False, "error": "database"}
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4")])
            return [frontdesk.metrics.render()]
        if path == "/slack/events":
            return slack_request(environ, start_response)
        if guest is not None and path == guest.path:
            return guest(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    def slack_request(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        kind = _kind(body, environ.get("CONTENT_TYPE", ""))
        request_id = new_request_id()

        def timed_start_response(status: str, headers: list[Any], *args: Any) -> Any:
            elapsed = time.perf_counter() - started
            frontdesk.metrics.ack_seconds.labels(kind).observe(elapsed)
            log.info(
                "slack request answered",
                extra={"kind": kind, "status": status.split()[0], "ms": round(elapsed * 1000, 1)},
            )
            return start_response(status, [*headers, ("X-Request-Id", request_id)], *args)

        with bound(request_id=request_id):
            return list(slack(environ, timed_start_response))

    return application


def _kind(body: bytes, content_type: str) -> str:
    """command, block_actions, view_submission, … or event (the metric's label)."""
    if "json" in content_type:
        return "event"
    form = parse_qs(body.decode("utf-8", "replace"))
    if "payload" in form:
        try:
            kind = json.loads(form["payload"][0]).get("type")
        except (ValueError, AttributeError):
            kind = None
        return kind if kind in _INTERACTIVE_KINDS else "interactive"
    return "command" if "command" in form else "other"


_INTERACTIVE_KINDS = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}
)


class HttpServer:
    """waitress on a thread (tests, demo) or in the foreground (serve)."""

    def __init__(
        self, frontdesk: Frontdesk, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8
    ) -> None:
        # Behind a trusted load balancer waitress itself sets the client's address and
        # scheme from its last X-Forwarded-For hop and X-Forwarded-Proto.
        proxy = frontdesk.services.settings.trusted_proxy
        trusted: dict[str, Any] = (
            {
                "trusted_proxy": proxy,
                "trusted_proxy_count": 1,
                "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            }
            if proxy
            else {}
        )
        self._server: Any = create_server(
            wsgi_app(frontdesk), host=host, port=port, threads=threads, **trusted
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._loop, name="frontdesk-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._loop()

    def stop(self) -> None:
        """Stop accepting, finish in-flight requests, close: from any thread."""
        self._stopping.set()
        self._server.pull_trigger()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        # waitress's own run() loops until its socket map is empty; closing sockets
        # from another thread under its select() fails (EBADF). So the loop runs
        # here, checks for a stop between rounds, and closes from its own thread.
        server = self._server
        while not self._stopping.is_set():
            server.asyncore.loop(
                timeout=0.5, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1
            )
        server.task_dispatcher.shutdown()
        for channel in list(server._map.values()):
            channel.close()

"""The WSGI edge, served by waitress: Slack's requests, health, and metrics apart.

``/slack/events`` verifies before anything parses or logs: a body is read only up
to ``MAX_BODY_BYTES`` (a larger declared one is refused unread with 413, and
waitress itself refuses to buffer more); the signature (HMAC-SHA256 of
``v0:<timestamp>:<body>`` with the signing secret, compared in constant time) and
the 5-minute window are checked against the app's clock; a signed request is
accepted once (``SeenRequests``); only then is the body parsed (malformed: 400)
and handed to Bolt, whose own verification is off. A refused request leaves one
log line with its path, size and the reason, nothing of its body.

Each accepted request gets a request id bound to its log lines, and the time to
our acknowledgement is observed into ``frontdesk_ack_seconds``.

``/metrics`` is served by ``MetricsServer`` on its own address (loopback by
default), optionally behind a bearer token: never on Slack's listener.

Connections (``_GuardedServer``): waitress holds at most
``FRONTDESK_HTTP_CONNECTION_LIMIT`` of them (1000; poll(), not select(), so more
than 1024 descriptors work), closes one idle between requests after
``FRONTDESK_HTTP_CHANNEL_TIMEOUT`` seconds (15), and one whose request's headers and
body have not all arrived ``FRONTDESK_HTTP_REQUEST_SECONDS`` (10) after its first
byte, however steadily it trickles in (waitress's own timer restarts at every byte).
A request waitress refuses itself (a body over the cap, malformed framing) and one
cut off at its deadline leave the same log line and metric as the app's refusals.
A client can still open connections as fast as they are cut: a buffering load
balancer or reverse proxy belongs in front (see the README).

HEAD answers carry the status and headers a GET would, never a body
(``without_body_for_head``, around every listener), so a connection a load balancer
reuses after a HEAD stays in step.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from bot.app import Frontdesk
from bot.observability import bound, new_request_id
from bot.web.guest import guest_page
from bot.workflows.replays import SIGNATURE_WINDOW

log = logging.getLogger("frontdesk.http")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: The largest body accepted from Slack: 512 KiB. Slack's requests carry one
#: payload and at most the view or message it came from (ours are a few KiB; a
#: view has at most 100 blocks), so a genuine one is far below this; anything
#: larger is refused unread.
MAX_BODY_BYTES = 512 * 1024
SLACK_PATH = "/slack/events"


class Refused(Exception):
    """A request turned away at the edge; ``reason`` is all that is logged of it."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_bounded(environ: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, read only when its size is known to be at most ``limit``."""
    declared = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise Refused("400 Bad Request", "unreadable Content-Length") from None
        if length < 0:
            raise Refused("400 Bad Request", "unreadable Content-Length")
        if length > limit:
            raise Refused("413 Content Too Large", "body over the cap")
        body = _read(stream, length)
        if len(body) != length:
            raise Refused("400 Bad Request", "body shorter than its Content-Length")
        return body
    if not environ.get("wsgi.input_terminated"):
        # No length and a stream that may not end: nothing to read safely.
        raise Refused("411 Length Required", "no Content-Length")
    body = _read(stream, limit + 1)
    if len(body) > limit:
        raise Refused("413 Content Too Large", "body over the cap")
    return body


def _read(stream: Any, count: int) -> bytes:
    chunks: list[bytes] = []
    left = count
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def verify(secret: bytes, environ: dict[str, Any], body: bytes, now: float) -> tuple[int, str]:
    """Slack's signature and window; the (timestamp, signature) of a genuine request."""
    stamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
    if not stamp or not signature:
        raise Refused("401 Unauthorized", "unsigned")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise Refused("401 Unauthorized", "unreadable timestamp")
    timestamp = int(stamp)
    if abs(now - timestamp) > SIGNATURE_WINDOW.total_seconds():
        raise Refused("401 Unauthorized", "timestamp outside the 5-minute window")
    expected = "v0=" + hmac.new(secret, b"v0:" + stamp.encode() + b":" + body, "sha256").hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("latin-1", "replace")):
        raise Refused("401 Unauthorized", "bad signature")
    return timestamp, signature


def request_kind(body: bytes, content_type: str) -> str:
    """command, block_actions, view_submission, … or event (the metric's label), from a
    verified body; Refused (400) when it is not what Slack sends (``check_shape``)."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("400 Bad Request", "body is not UTF-8") from None
    if "json" in content_type:
        event = _json(decoded)
        if not isinstance(event, dict):
            raise Refused("400 Bad Request", "JSON body is not an object")
        check_shape(event, interactive=False)
        return "event"
    form = parse_qs(decoded)
    if "payload" in form:
        payload = _json(form["payload"][0])
        if not isinstance(payload, dict):
            raise Refused("400 Bad Request", "payload is not a JSON object")
        check_shape(payload, interactive=True)
        kind = payload.get("type")
        return kind if kind in _INTERACTIVE_KINDS else "interactive"
    if "command" in form:
        if not (form.get("user_id") or [""])[0]:
            raise Refused("400 Bad Request", "a command without a user_id")
        return "command"
    return "other"


#: Slack's bodies nest a dozen levels at most (a view's blocks, elements, rich text,
#: state values); anything deeper is refused before Bolt walks it.
MAX_DEPTH = 64


def _json(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        raise Refused("400 Bad Request", "malformed JSON") from None
    if _too_deep(parsed, MAX_DEPTH):
        raise Refused("400 Bad Request", f"JSON nested deeper than {MAX_DEPTH}")
    return parsed


def _too_deep(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


_INTERACTIVE_KINDS = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}
)
_OBJECTS = ("team", "channel", "container", "message", "enterprise", "view", "state")


def check_shape(body: dict[str, Any], *, interactive: bool) -> None:
    """What Bolt and our listeners take for granted in a verified body, checked once here:
    Refused (400) naming the first member that is not what Slack sends. Only shapes are
    checked (types, presence), never values."""
    problem = _shape_problem(body, interactive)
    if problem is not None:
        raise Refused("400 Bad Request", problem)


def _shape_problem(body: dict[str, Any], interactive: bool) -> str | None:
    kind = body.get("type")
    if not isinstance(kind, str):
        return "type is not a string"
    for name in _OBJECTS:
        if body.get(name) is not None and not isinstance(body[name], dict):
            return f"{name} is not an object"
    if not interactive:
        if kind == "event_callback":
            event = body.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                return "event is not an object with a type"
        return None
    user = body.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "user is not an object with an id"
    if kind in ("view_submission", "view_closed") or isinstance(body.get("view"), dict):
        view = body.get("view")
        if not isinstance(view, dict) or not all(
            isinstance(view.get(key), str) for key in ("id", "type")
        ):
            return "view is not an object with an id and a type"
        submitted = kind in ("view_submission", "view_closed")
        if not isinstance(view.get("callback_id", None if submitted else ""), str):
            return "view.callback_id is not a string"
        state = view.get("state")
        if state is not None and not (
            isinstance(state, dict) and isinstance(state.get("values", {}), dict)
        ):
            return "view.state is not an object of values"
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions is not a list with an action"
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "an action is not an object with an action_id"
    if kind in ("shortcut", "message_action") and not isinstance(body.get("callback_id"), str):
        return "callback_id is not a string"
    return None


def without_body_for_head(app: WsgiApp) -> WsgiApp:
    """HEAD gets the status and headers the app gives, and no body (RFC 9110 9.3.2):
    its length is kept in Content-Length (counted when the app set none), so neither
    waitress's chunking nor stray body bytes put a reused connection out of step."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "HEAD":
            return app(environ, start_response)
        answered: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered[:] = [status, list(headers), exc_info]
            return lambda data: None  # the legacy write(): nothing of a body leaves

        result = app(environ, capture)
        length = 0
        try:
            for chunk in result:
                length += len(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers, exc_info = answered
        if not any(name.lower() == "content-length" for name, _ in headers):
            headers.append(("Content-Length", str(length)))
        if exc_info is not None:
            start_response(status, headers, exc_info)
        else:
            start_response(status, headers)
        return []

    return application


def _answer(start_response: StartResponse, status: str, body: bytes = b"") -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def wsgi_app(frontdesk: Frontdesk, *, max_body: int = MAX_BODY_BYTES) -> WsgiApp:
    """Slack's listener: ``/slack/events`` and ``/healthz``, nothing else."""
    slack = SlackRequestHandler(frontdesk.app)
    secret = frontdesk.services.settings.slack_signing_secret.get_secret_value().encode()
    metrics = frontdesk.metrics
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
            encoded = json.dumps(body).encode()
            start_response(
                status,
                [("Content-Type", "application/json"), ("Content-Length", str(len(encoded)))],
            )
            return [encoded]
        if path == SLACK_PATH:
            return slack_request(environ, start_response)
        if guest is not None and path == guest.path:
            return guest(environ, start_response)
        return _answer(start_response, "404 Not Found", b"not found")

    def slack_request(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = new_request_id()
        declared = str(environ.get("CONTENT_LENGTH") or "")
        size = int(declared) if declared.isascii() and declared.isdigit() else None
        with bound(request_id=request_id):
            try:
                if environ.get("REQUEST_METHOD") != "POST":
                    raise Refused("405 Method Not Allowed", "not a POST")
                body = read_bounded(environ, max_body)
                size = len(body)
                timestamp, signature = verify(
                    secret, environ, body, frontdesk.clock.now().timestamp()
                )
            except Refused as refused:
                metrics.edge_refusals.labels(refused.status.split()[0]).inc()
                log.warning(
                    "slack request refused",
                    extra={"path": SLACK_PATH, "bytes": size, "reason": refused.reason},
                )
                return _answer(start_response, refused.status)
            try:
                first = frontdesk.seen_requests.first_arrival(timestamp, signature)
            except Exception as exc:
                # Closed, not open: a request that cannot be recorded as seen could be a
                # replay. Nothing was done; Slack retries events, a person tries again.
                metrics.edge_refusals.labels("503").inc()
                log.warning(
                    "request refused: cannot record it as seen",
                    extra={"path": SLACK_PATH, "bytes": size, "error": type(exc).__name__},
                )
                return _answer(start_response, "503 Service Unavailable")
            if not first:
                metrics.edge_refusals.labels("replay").inc()
                log.warning("replay refused", extra={"path": SLACK_PATH, "bytes": size})
                return _answer(start_response, "200 OK")
            try:
                kind = request_kind(body, environ.get("CONTENT_TYPE", ""))
            except Refused as refused:
                metrics.edge_refusals.labels(refused.status.split()[0]).inc()
                log.warning(
                    "slack request refused",
                    extra={"path": SLACK_PATH, "bytes": size, "reason": refused.reason},
                )
                return _answer(start_response, refused.status)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))

            def timed_start_response(status: str, headers: list[Any], *args: Any) -> Any:
                elapsed = time.perf_counter() - started
                metrics.ack_seconds.labels(kind).observe(elapsed)
                log.info(
                    "slack request answered",
                    extra={
                        "kind": kind,
                        "status": status.split()[0],
                        "ms": round(elapsed * 1000, 1),
                    },
                )
                return start_response(status, [*headers, ("X-Request-Id", request_id)], *args)

            return list(slack(environ, timed_start_response))

    return without_body_for_head(application)


def metrics_app(frontdesk: Frontdesk, token: str = "") -> WsgiApp:
    """``/metrics`` for Prometheus, behind ``Authorization: Bearer <token>`` when set."""
    expected = f"Bearer {token}".encode()

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != "/metrics":
            return _answer(start_response, "404 Not Found", b"not found")
        given = str(environ.get("HTTP_AUTHORIZATION") or "").encode("latin-1", "replace")
        if token and not hmac.compare_digest(given, expected):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
            )
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4")])
        return [frontdesk.metrics.render()]

    return without_body_for_head(application)


#: Reports a request refused below the app: (status, reason, path, declared bytes).
Report = Callable[[int, str, str, "int | None"], None]


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (waitress listens on it): OSError when the
    host does not resolve or the address is taken, so ``serve`` can name the setting
    before anything else starts."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    failure: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    raise failure or OSError(f"no address for {host!r}")


def ensure_descriptors(connections: int) -> None:
    """Raise this process's open-files limit to fit ``connections`` (and the rest: the
    database pool, vendor clients, log files); OSError when the hard limit is lower."""
    needed = connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise OSError(
            f"the open-files limit is {hard} (ulimit -Hn) and {needed} are needed: lower "
            "it or raise the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _path_of(request: Any) -> str:
    """The path a request names (never its query string), even before its headers ended."""
    path = getattr(request, "path", None)
    if path is None and request is not None:
        first = bytes(getattr(request, "header_plus", b"")).split(b"\r\n", 1)[0].split(b" ")
        path = first[1].decode("latin-1") if len(first) == 3 else ""
    return str(path or "").split("?", 1)[0][:200]


class _ReportedErrorTask(ErrorTask):
    """waitress's own refusal (a body over the cap, malformed framing, headers too large),
    reported like the app's before it is answered. Nothing of the request is read."""

    def execute(self) -> None:
        report: Report | None = getattr(self.channel.server, "report", None)
        error = self.request.error
        if report is not None and error is not None:
            declared = getattr(self.request, "content_length", 0) or None
            reason = (
                "body over the cap (refused by waitress)"
                if error.code == 413
                else f"{error.reason.lower()} (refused by waitress)"
            )
            report(error.code, reason, _path_of(self.request), declared)
        super().execute()


class _GuardedChannel(HTTPChannel):
    """waitress's channel, noting when the request it is receiving began to arrive."""

    error_task_class = _ReportedErrorTask
    #: When the first byte of the request being received arrived (None: none is).
    reading_since: float | None = None
    _reading: Any = None

    def received(self, data: bytes) -> bool:
        result = bool(super().received(data))
        request = self.request  # the one still arriving, once complete ones are queued
        if request is None:
            self.reading_since = self._reading = None
        elif request is not self._reading:
            self._reading, self.reading_since = request, time.time()
        return result


class _GuardedServer(TcpWSGIServer):
    """waitress's server, which also closes a connection whose request has not all
    arrived ``request_seconds`` after it began (checked every ``cleanup_interval``)."""

    channel_class = _GuardedChannel

    def __init__(self, *args: Any, request_seconds: int, report: Report | None, **kw: Any):
        self.request_seconds = request_seconds
        self.report = report
        super().__init__(*args, **kw)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections: channel_timeout
        cutoff = now - self.request_seconds
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "reading_since", None)
            if since is None or channel.will_close:
                continue
            if channel.requests:
                # The app is answering the one before: this one's time starts after.
                channel.reading_since = now
            elif since < cutoff:
                channel.will_close = True
                channel.reading_since = None
                if self.report is not None:
                    request = channel.request
                    self.report(
                        408,
                        f"request not received within {self.request_seconds} s",
                        _path_of(request),
                        getattr(request, "content_length", 0) or None,
                    )


class _Waitress:
    """waitress on a thread (tests, demo, metrics) or in the foreground (serve)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        host: str,
        port: int,
        threads: int,
        max_body: int,
        trusted_proxy: str | None = None,
        sock: socket.socket | None = None,
        connection_limit: int = 1000,
        channel_timeout: int = 15,
        request_seconds: int = 10,
        report: Report | None = None,
    ) -> None:
        # Behind a trusted load balancer waitress itself sets the client's address and
        # scheme from its last X-Forwarded-For hop and X-Forwarded-Proto.
        trusted: dict[str, Any] = (
            {
                "trusted_proxy": trusted_proxy,
                "trusted_proxy_count": 1,
                "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            }
            if trusted_proxy
            else {}
        )
        sock = sock if sock is not None else listen_socket(host, port)
        # waitress refuses a body of max_request_body_size or more itself (413, unread
        # when declared, and it stops buffering a chunked one there).
        adjustments = Adjustments(
            sockets=[sock],
            threads=threads,
            max_request_body_size=max_body + 1,
            connection_limit=connection_limit,
            channel_timeout=channel_timeout,
            cleanup_interval=1,
            asyncore_use_poll=True,
            **trusted,
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(threads)
        self._server: Any = _GuardedServer(
            app,
            {},
            _sock=sock,
            dispatcher=dispatcher,
            adj=adjustments,
            sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()),
            bind_socket=False,
            request_seconds=request_seconds,
            report=report,
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host = str(self._server.effective_host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self._server.effective_port}"

    def start(self) -> _Waitress:
        self._thread = threading.Thread(target=self._loop, name="frontdesk-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._loop()

    def stop(self) -> None:
        """Stop accepting, finish in-flight requests, close: from any thread."""
        self._stopping.set()
        try:
            self._server.pull_trigger()  # wake the loop now (it also wakes every 0.5 s)
        except OSError:
            pass  # the loop has already closed its trigger
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


class HttpServer(_Waitress):
    """Slack's listener (``/slack/events``, ``/healthz``), and the guest page."""

    def __init__(
        self,
        frontdesk: Frontdesk,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        max_body: int = MAX_BODY_BYTES,
        sock: socket.socket | None = None,
    ) -> None:
        settings = frontdesk.services.settings
        metrics = frontdesk.metrics

        def report(status: int, reason: str, path: str, size: int | None) -> None:
            metrics.edge_refusals.labels(str(status)).inc()
            log.warning("request refused", extra={"path": path, "bytes": size, "reason": reason})

        super().__init__(
            wsgi_app(frontdesk, max_body=max_body),
            host=host,
            port=port,
            threads=threads,
            max_body=max_body,
            trusted_proxy=settings.trusted_proxy,
            sock=sock,
            connection_limit=settings.http_connection_limit,
            channel_timeout=settings.http_channel_timeout,
            request_seconds=settings.http_request_seconds,
            report=report,
        )

    def start(self) -> HttpServer:
        super().start()
        return self


class MetricsServer(_Waitress):
    """``/metrics`` on its own address, for Prometheus."""

    def __init__(
        self,
        frontdesk: Frontdesk,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "",
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(
            metrics_app(frontdesk, token),
            host=host,
            port=port,
            threads=2,
            max_body=4096,
            sock=sock,
            connection_limit=100,
        )

    def start(self) -> MetricsServer:
        super().start()
        return self

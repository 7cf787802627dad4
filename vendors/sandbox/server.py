"""One loopback HTTP server playing ClubReady, Registrar and Paytronix.

Mounts: ``/clubready/api/current``, ``/registrar``, ``/paytronix``. Control
endpoints under ``/_sandbox`` (faults, recorded requests, casing, reset) let
tests and other processes steer it over HTTP; in-process users call the
:class:`Sandbox` methods directly.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from vendors.sandbox._clubready import ClubReady
from vendors.sandbox._common import Incoming, Refusal, Reply, is_json, not_found
from vendors.sandbox._others import Paytronix, Registrar

log = logging.getLogger("vendors.sandbox")

FaultKind = Literal[
    "latency", "status", "read_timeout", "drop_after", "drop_before", "success_false", "drip"
]


@dataclass
class Fault:
    """A misbehaviour applied to the next ``times`` matching requests (``-1``: all).

    - latency: wait ``seconds``, then answer normally;
    - status: answer ``status`` (with ``Retry-After`` if given) without doing anything;
    - read_timeout: wait ``seconds`` (longer than the client's timeout), then process;
    - drop_after: process, then close the connection without answering;
    - drop_before: close the connection without processing;
    - success_false: answer the vendor's failure shape without doing anything;
    - drip: process, then send the answer (status line, headers, body) one byte every
      ``seconds``: no single read waits long, the whole answer takes ages.
    """

    kind: FaultKind
    vendor: str | None = None
    operation: str | None = None
    seconds: float = 0.0
    status: int = 503
    retry_after: float | None = None
    times: int = 1
    message: str = "Injected failure"

    def matches(self, vendor: str, operation: str) -> bool:
        return (self.vendor in (None, vendor)) and (self.operation in (None, operation))


@dataclass(frozen=True)
class Received:
    vendor: str
    operation: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_text: str
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body_text)
        except ValueError:
            return None


class Sandbox:
    MOUNTS = {
        "clubready": "/clubready/api/current",
        "registrar": "/registrar",
        "paytronix": "/paytronix",
    }

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.vendors: dict[str, Any] = {
            "clubready": ClubReady(),
            "registrar": Registrar(),
            "paytronix": Paytronix(),
        }
        self._faults: list[Fault] = []
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def base_url(self, vendor: str) -> str:
        return self.url + self.MOUNTS[vendor]

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- steering ----------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_casing(self, casing: Literal["pascal", "camel"]) -> None:
        self.vendors["clubready"].casing = casing

    def received(self, vendor: str | None = None, operation: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self._received
                if vendor in (None, r.vendor) and operation in (None, r.operation)
            ]

    def clear_received(self) -> None:
        with self._lock:
            self._received.clear()

    def _take_fault(self, vendor: str, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(vendor, operation):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _route(self, path: str) -> tuple[str, str] | None:
        for name, mount in self.MOUNTS.items():
            if path.startswith(mount + "/"):
                return name, path[len(mount) :]
        return None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("sandbox connection error from %s", client_address, exc_info=True)


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "frontdesk-sandbox"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            # Like a vendor's access log, minus the query string (ClubReady's key is in it).
            log.debug("sandbox %s %s", self.command, urlsplit(self.path).path)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            self._dispatch()

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch()

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch()

        def _send(self, reply: Reply) -> None:
            payload = reply.encoded()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up waiting: as a vendor sees it

        def _drip(self, reply: Reply, seconds: float) -> None:
            payload = reply.encoded()
            lines = [
                f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}",
                f"Content-Type: {reply.content_type}",
                f"Content-Length: {len(payload)}",
                *(f"{key}: {value}" for key, value in reply.headers.items()),
                "",
                "",
            ]
            data = "\r\n".join(lines).encode() + payload
            self.close_connection = True
            for index in range(len(data)):
                if sandbox._stopping.is_set():
                    return
                try:
                    self.wfile.write(data[index : index + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up: as a vendor sees it
                    return
                sandbox._wait(seconds)

        def _drop(self) -> None:
            self.close_connection = True
            self.wfile.flush()

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body_text = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            if parts.path.startswith("/_sandbox/"):
                self._send(self._control(parts.path, body_text))
                return
            route = sandbox._route(parts.path)
            vendor = operation = None
            if route is not None:
                vendor, subpath = route
                operation = sandbox.vendors[vendor].operation(self.command, subpath)
            if vendor is None or operation is None:
                owner = sandbox.vendors[vendor] if vendor is not None else None
                self._send(
                    owner.not_found(self.command, parts.path)
                    if owner is not None
                    else not_found(self.command, parts.path)
                )
                return
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            sandbox._record(
                Received(vendor, operation, self.command, parts.path, query, headers, body_text)
            )
            parsed: Any = None
            if body_text and is_json(headers.get("content-type", "")):
                try:
                    parsed = json.loads(body_text)
                except ValueError:
                    parsed = None
            incoming = Incoming(self.command, subpath, query, headers, body_text, parsed)
            fault = sandbox._take_fault(vendor, operation)
            handler = sandbox.vendors[vendor]
            if fault is not None:
                if fault.kind == "drop_before":
                    self._drop()
                    return
                if fault.kind == "status":
                    headers_out = (
                        {"Retry-After": str(int(fault.retry_after))}
                        if fault.retry_after is not None
                        else {}
                    )
                    self._send(
                        Reply(fault.status, "<html>upstream error</html>", headers_out, "text/html")
                    )
                    return
                if fault.kind == "success_false":
                    self._send(Reply(200, handler.failure_body(fault.message)))
                    return
                if fault.kind in ("latency", "read_timeout"):
                    sandbox._wait(fault.seconds)
            try:
                reply = handler.handle(operation, incoming)
            except Refusal as refusal:
                reply = refusal.reply
            if fault is not None and fault.kind == "drop_after":
                self._drop()
                return
            if fault is not None and fault.kind == "drip":
                self._drip(reply, fault.seconds)
                return
            self._send(reply)

        def _control(self, path: str, body_text: str) -> Reply:
            if path == "/_sandbox/faults" and self.command == "POST":
                sandbox.inject(Fault(**json.loads(body_text)))
                return Reply(200, {"ok": True})
            if path == "/_sandbox/faults" and self.command == "DELETE":
                sandbox.clear_faults()
                return Reply(200, {"ok": True})
            if path == "/_sandbox/requests" and self.command == "GET":
                return Reply(200, [asdict(r) for r in sandbox.received()])
            if path == "/_sandbox/casing" and self.command == "POST":
                sandbox.set_casing(json.loads(body_text)["casing"])
                return Reply(200, {"ok": True})
            return Reply(404, {"error": "no such control endpoint"})

    return Handler

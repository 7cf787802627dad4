"""HTTP mode: a WSGI app (Slack events, health) served by waitress."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from waitress.server import create_server

from bot.app import Frontdesk

StartResponse = Callable[..., Any]


def wsgi_app(frontdesk: Frontdesk) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slack = SlackRequestHandler(frontdesk.app)

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
        if path == "/slack/events":
            return slack(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return application


class HttpServer:
    """waitress on a thread (tests, demo) or in the foreground (serve)."""

    def __init__(
        self, frontdesk: Frontdesk, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8
    ) -> None:
        self._server = create_server(wsgi_app(frontdesk), host=host, port=port, threads=threads)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"  # type: ignore[union-attr]

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.run()

    def stop(self) -> None:
        self._server.close()

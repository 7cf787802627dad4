"""The HTTP endpoint besides Slack's: health over HTTP, and unknown paths."""

from __future__ import annotations

import httpx
from sqlalchemy import create_engine

from bot.devtools.stack import Stack


def test_healthz_reports_the_database(stack: Stack) -> None:
    answer = httpx.get(f"{stack.http.url}/healthz")
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    real = stack.frontdesk.db.engine
    stack.frontdesk.db.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        down = httpx.get(f"{stack.http.url}/healthz")
    finally:
        stack.frontdesk.db.engine = real
    assert (down.status_code, down.json()) == (503, {"ok": False, "error": "database"})
    assert httpx.get(f"{stack.http.url}/nope").status_code == 404

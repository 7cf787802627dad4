"""The page behind a load balancer: two real ``frontdesk serve`` processes on one
PostgreSQL; the guest opens the page on one and submits it to the other."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.cluster import REQUESTER, Cluster
from bot.devtools.guest import GuestVisitor, visible_text
from bot.devtools.postgres import PostgresServer
from bot.devtools.stack import wait_for
from bot.workflows.resets import ResetInput
from bot.workflows.roles import Role


@pytest.fixture
def cluster(postgres: PostgresServer | None, tmp_path: Path) -> Iterator[Cluster]:
    if postgres is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    url = postgres.create_database(f"guest{os.getpid()}_{time.monotonic_ns() % 100000}")
    running = Cluster(tmp_path, url, lease_seconds=30)
    with running.local.db.session() as session:
        running.local.services.resets.roles.grant(
            session, by="setup", target=REQUESTER, role=Role.FRONT_DESK, location_id=None
        )
    yield running
    running.stop()


@pytest.mark.postgres
def test_any_process_answers_any_step(cluster: Cluster) -> None:
    alpha = cluster.start_server("alpha")
    beta = cluster.start_server("beta")
    resets = cluster.local.services.resets
    request = resets.prepare(REQUESTER, "partner-bistro", ResetInput(account_id="7001"))
    resets.confirm(REQUESTER, request.id)  # a serving process's worker sends it
    wait_for(lambda: (found := resets.get(request.id)) is not None and found.status == "sent", 20)
    code = cluster.sandbox.received("paytronix", "sendGuestResetPasswordCode")[-1].json["resetCode"]
    guest = GuestVisitor()
    try:
        form = guest.open(f"{alpha}/guest/reset?resetCode={code}")
        assert "Choose a new password" in visible_text(form)
        token = form.split('name="csrf" value="')[1].split('"')[0]
        answer = guest.http.post(
            f"{beta}/guest/reset?resetCode={code}",
            data={"csrf": token, "password": "B3ta-pass", "confirmation": "B3ta-pass"},
        )
        assert "Your new password is set" in visible_text(answer.text)
        used = guest.open(f"{alpha}/guest/reset?resetCode={code}")
        assert "This link has already been used" in visible_text(used)
    finally:
        guest.close()
    assert len(cluster.sandbox.received("paytronix", "resetGuestPassword")) == 1

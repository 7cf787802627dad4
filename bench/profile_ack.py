"""cProfile of the acknowledgement path: signed requests straight into the WSGI app, on
this thread (``process_before_response``: the listener runs here too), with the
worker and the notifier stopped, so only what Slack waits for is measured.

    .venv/bin/python bench/profile_ack.py [--database-url …] [--count 300] [--top 25]

Prints, per operation, the mean time per request and the top entries by cumulative
and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.ack_latency import MANAGER, Work, details_view  # noqa: E402
from bot.devtools.cluster import Cluster  # noqa: E402
from bot.devtools.driver import sign  # noqa: E402
from bot.devtools.stack import SIGNING_SECRET  # noqa: E402
from bot.http import wsgi_app  # noqa: E402
from bot.slack.ids import SALE_FIELDS, Command, ResetAction, SaleView  # noqa: E402
from bot.workflows.roles import Role  # noqa: E402


def environ(body: str, content_type: str) -> dict[str, Any]:
    ts = str(int(time.time()))
    raw = body.encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "QUERY_STRING": "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(raw)),
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
        "HTTP_X_SLACK_SIGNATURE": sign(SIGNING_SECRET, ts, body),
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }


def form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def envelope(kind: str, user: str) -> dict[str, Any]:
    return {
        "type": kind,
        "team": {"id": "T0001", "domain": "example"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "trigger-1",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-profile-"))
    url = args.database_url or f"sqlite:///{workdir}/profile.sqlite3"
    cluster = Cluster(workdir, url, lease_seconds=120)
    try:
        cluster.grant("UFRONT", Role.FRONT_DESK)
        cluster.grant(MANAGER, Role.MANAGER)
        work = Work(cluster, args.count)
        cluster.local.services.resets.sends_per_person_hour = 10**9
        cluster.local.services.resets.limit_per_hour = 10**9
        statements = {"count": 0}

        @event.listens_for(cluster.local.db.engine, "before_cursor_execute")
        def count(*_: Any) -> None:
            statements["count"] += 1

        app = wsgi_app(cluster.local)
        assert cluster.local.app.process_before_response

        def reset(n: int) -> dict[str, Any]:
            body = urlencode(
                {
                    "team_id": "T0001",
                    "user_id": "UFRONT",
                    "command": Command.RESET.value,
                    "text": "",
                    "response_url": cluster.slack.url + "commands/UFRONT",
                    "trigger_id": "trigger-1",
                }
            )
            return environ(body, "application/x-www-form-urlencoded")

        def send(n: int) -> dict[str, Any]:
            payload = {
                **envelope("block_actions", work.owner[work.resets[n]]),
                "container": {"type": "message", "channel_id": "DFRONT", "message_ts": "1.1"},
                "channel": {"id": "DFRONT"},
                "actions": [
                    {"type": "button", "action_id": ResetAction.SEND.value, "value": work.resets[n]}
                ],
            }
            return environ(form(payload), "application/x-www-form-urlencoded")

        def details(n: int) -> dict[str, Any]:
            view = details_view(work.drafts[n])
            values = {
                SALE_FIELDS["first_name"][0]: {
                    SALE_FIELDS["first_name"][1]: {"type": "plain_text_input", "value": "Ann"}
                },
                SALE_FIELDS["last_name"][0]: {
                    SALE_FIELDS["last_name"][1]: {"type": "plain_text_input", "value": "Lee"}
                },
                SALE_FIELDS["email"][0]: {
                    SALE_FIELDS["email"][1]: {
                        "type": "plain_text_input",
                        "value": f"a{n}@example.com",
                    }
                },
                SALE_FIELDS["payment1_amount"][0]: {
                    SALE_FIELDS["payment1_amount"][1]: {
                        "type": "plain_text_input",
                        "value": "49.00",
                    }
                },
                SALE_FIELDS["payment1_token"][0]: {
                    SALE_FIELDS["payment1_token"][1]: {
                        "type": "plain_text_input",
                        "value": f"tok_profile_p{n:05d}",
                    }
                },
            }
            payload = {
                **envelope("view_submission", work.owner[work.drafts[n]]),
                "view": {**view, "state": {"values": values}},
            }
            return environ(form(payload), "application/x-www-form-urlencoded")

        def approve(n: int) -> dict[str, Any]:
            sale = work.pending[n]
            view = {
                "id": "VAPPROVE",
                "type": "modal",
                "callback_id": SaleView.APPROVAL.value,
                "private_metadata": json.dumps({"sale": sale.id, "fp": sale.fingerprint}),
                "blocks": [],
                "state": {"values": {}},
            }
            payload = {**envelope("view_submission", MANAGER), "view": view}
            return environ(form(payload), "application/x-www-form-urlencoded")

        def start_response(status: str, headers: list[Any], *_: Any) -> None:
            assert status.startswith("200"), status

        for name, make in (
            ("/reset", reset),
            ("Send", send),
            ("/sell details", details),
            ("Approve", approve),
        ):
            for n in range(5):  # warm up (compiled statements, imports)
                list(app(make(args.count - 1 - n), start_response))
            requests = [make(n) for n in range(args.count - 10)]
            profiler = cProfile.Profile()
            statements["count"] = 0
            started = time.perf_counter()
            profiler.enable()
            for env in requests:
                list(app(env, start_response))
            profiler.disable()
            elapsed = time.perf_counter() - started
            print(
                f"\n=== {name}: {1000 * elapsed / len(requests):.2f} ms per request (profiled), "
                f"{statements['count'] / len(requests):.1f} SQL statements per request ==="
            )
            for key in ("cumulative", "tottime"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(args.top)
                print("\n".join(out.getvalue().splitlines()[: args.top + 9]))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

"""The floor: a bare Bolt app that only acknowledges, served like ``frontdesk serve``.

Same signing-secret check, same sync App, same waitress WSGI server and thread
count; no database, no views, no Slack calls. Whatever frontdesk takes beyond
this is frontdesk's own cost.

    python bench/floor_app.py --port 3999 --signing-secret …
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from waitress import serve


def build(signing_secret: str) -> App:
    def authorize(**_: Any) -> AuthorizeResult:
        # No network: frontdesk's own auth.test answer is cached after the first request.
        return AuthorizeResult(
            enterprise_id=None, team_id="T0001", bot_token="xoxb-floor", bot_user_id="UBOT"
        )

    app = App(signing_secret=signing_secret, authorize=authorize, logger=logging.getLogger("floor"))
    anything = re.compile(".*")

    @app.command(anything)
    def command(ack: Ack) -> None:
        ack()

    @app.action(anything)
    def action(ack: Ack) -> None:
        ack()

    @app.view(anything)
    def view(ack: Ack) -> None:
        ack()

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    handler = SlackRequestHandler(build(args.signing_secret))

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return handler(environ, start_response)

    serve(application, host="127.0.0.1", port=args.port, threads=args.threads, _quiet=True)


if __name__ == "__main__":
    main()

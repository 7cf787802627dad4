"""One error handler: typed errors become messages users can act on; the rest a reference."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context.respond import Respond

from bot.observability import current_request_id
from bot.workflows.resets import InvalidResetInput
from bot.workflows.roles import NotAuthorized
from bot.workflows.sales import InvalidSaleInput, SaleConflict

log = logging.getLogger("frontdesk.slack")


def message_for(error: Exception) -> tuple[str, str | None]:
    """(what the user is told, the log reference or None for expected refusals)."""
    if isinstance(error, NotAuthorized):
        return f":lock: {error}", None
    if isinstance(error, InvalidResetInput | InvalidSaleInput):
        return ":warning: " + " ".join(error.errors.values()), None
    if isinstance(error, SaleConflict):
        return f":warning: {error}", None
    if isinstance(error, LookupError):
        return f":warning: {error}", None
    # The request id every log line of this request carries: support searches by it.
    reference = current_request_id() or uuid.uuid4().hex[:12]
    return (
        f":boom: Something went wrong on our side. Give support this reference: `{reference}`.",
        reference,
    )


def register(app: App) -> None:
    @app.error
    def handle(error: Exception, body: dict[str, Any], respond: Respond | None) -> BoltResponse:
        text, reference = message_for(error)
        if reference:
            log.error(
                "unexpected error in a listener",
                exc_info=(type(error), error, error.__traceback__),
                extra={"reference": reference, "payload_type": body.get("type") or "command"},
            )
        else:
            log.info("refused", extra={"reason": type(error).__name__})
        if respond is not None and (body.get("response_url") or body.get("response_urls")):
            try:
                respond(text=text, response_type="ephemeral", replace_original=False)
            except Exception:
                log.warning(
                    "could not tell the user about an error", extra={"reference": reference}
                )
        return BoltResponse(status=200, body="")

"""The one mapping from an error to what a person sees, wherever they are.

Expected refusals (:mod:`bot.workflows.errors`) say what to do in plain words;
anything else is a bug, logged with the request id, and the person sees that id as
a short reference support can search for. Where the person is decides the form:

- a modal being submitted (not yet answered): ``response_action: errors``, on the
  fields named (or the first input with the reference), so Slack keeps the modal
  open with everything typed in it; a modal without inputs gets a notice pushed on
  top of it;
- a button in a modal or on App Home: a notice modal (pushed on a modal, opened on
  Home), with the click's live ``trigger_id``;
- a command or a message button: a private message through its ``response_url``;
- a Workflow Builder step (``function_executed``): the step fails with the words,
  which Workflow Builder shows the person running the workflow.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context.fail import Fail
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.observability import current_request_id
from bot.slack.sale_views import notice_modal
from bot.workflows.errors import FrontdeskError, InvalidInput, NotAuthorized

log = logging.getLogger("frontdesk.slack")


def message_for(error: Exception) -> tuple[str, str | None]:
    """(what the person is told, the log reference or None for expected refusals)."""
    if isinstance(error, NotAuthorized):
        return f":lock: {error}", None
    if isinstance(error, FrontdeskError):
        return f":warning: {error}", None
    # The request id every log line of this request carries: support searches by it.
    reference = current_request_id() or uuid.uuid4().hex[:12]
    return (
        f":boom: Something went wrong on our side. Give support this reference: `{reference}`.",
        reference,
    )


def title_for(error: Exception) -> str:
    if isinstance(error, NotAuthorized):
        return "Not allowed"
    if isinstance(error, FrontdeskError):
        return "Not done"
    return "Something went wrong"


def _inputs(view: Mapping[str, Any]) -> list[str]:
    return [
        str(block["block_id"])
        for block in view.get("blocks", [])
        if block.get("type") == "input" and block.get("block_id")
    ]


def view_errors(view: Mapping[str, Any], errors: Mapping[str, str]) -> dict[str, str]:
    """Field errors keyed by the view's input blocks. A block answers for field ``f``
    when its id ends in ``_f`` (``reset_email``, ``sale_payment1_amount``); an error
    no input answers for joins the first input, so nothing to fix is dropped."""
    inputs = _inputs(view)
    shown: dict[str, str] = {}
    stray: list[str] = []
    for field, message in errors.items():
        block = next((b for b in inputs if b == field or b.endswith(f"_{field}")), None)
        if block is None:
            stray.append(message)
        else:
            shown[block] = " ".join(filter(None, [shown.get(block), message]))
    if stray and inputs:
        first = inputs[0]
        shown[first] = " ".join(filter(None, [shown.get(first), *stray]))
    return {block: text[:2000] for block, text in shown.items()}


def _json(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps(payload),
        headers={"content-type": "application/json;charset=utf-8"},
    )


def view_answer(error: Exception, view: Mapping[str, Any]) -> BoltResponse:
    """The answer to a view submission that failed: the modal stays, with the errors."""
    text, _ = message_for(error)
    if isinstance(error, InvalidInput):
        errors = view_errors(view, error.errors)
    else:
        inputs = _inputs(view)
        errors = {inputs[0]: text} if inputs else {}
    if errors:
        return _json({"response_action": "errors", "errors": errors})
    return _json({"response_action": "push", "view": notice_modal(title_for(error), text)})


def is_step(body: Mapping[str, Any]) -> bool:
    """A Workflow Builder step's run (Slack's ``function_executed`` event)."""
    event = body.get("event")
    return isinstance(event, dict) and event.get("type") == "function_executed"


def tell(
    error: Exception,
    body: Mapping[str, Any],
    client: WebClient,
    respond: Respond | None,
    fail: Fail | None = None,
) -> None:
    """Tell the person about an error after their request was acknowledged."""
    text, reference = message_for(error)
    try:
        if is_step(body):
            if fail is not None:
                # Workflow Builder shows it as plain text: no emoji code, no mrkdwn.
                fail(error=text.split(" ", 1)[1] if text.startswith(":") else text)
            return
        if respond is not None and (body.get("response_url") or body.get("response_urls")):
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        trigger_id = body.get("trigger_id")
        if not trigger_id:
            return
        notice = notice_modal(title_for(error), text)
        view = body.get("view") or {}
        if view.get("type") == "modal":
            client.views_push(trigger_id=trigger_id, view=notice)
        else:
            client.views_open(trigger_id=trigger_id, view=notice)
    except Exception:
        log.warning("could not tell the person about an error", extra={"reference": reference})


def _log(error: Exception, body: Mapping[str, Any]) -> None:
    _, reference = message_for(error)
    if reference:
        log.error(
            "unexpected error in a listener",
            exc_info=(type(error), error, error.__traceback__),
            extra={"reference": reference, "payload_type": body.get("type") or "command"},
        )
    else:
        log.info("refused", extra={"reason": type(error).__name__})


#: What the guard needs from Bolt besides what a listener asks for.
_GUARD_ARGS = ("ack", "body", "client", "respond", "fail")


def guarded(listener: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a listener so that an error raised *after* it acknowledged is told to the
    person here, in the listener's thread (Bolt's own handler only sees errors before
    the acknowledgement reliably). Before the acknowledgement the error goes on to
    :func:`register`'s handler, which answers Slack with it."""
    wanted = inspect.getfullargspec(inspect.unwrap(listener)).args

    def wrapper(**kwargs: Any) -> Any:
        try:
            return listener(**{name: kwargs[name] for name in wanted if name in kwargs})
        except Exception as error:
            ack = kwargs.get("ack")
            if ack is None or getattr(ack, "response", None) is None:
                raise
            body = kwargs.get("body") or {}
            _log(error, body)
            tell(error, body, kwargs["client"], kwargs.get("respond"), kwargs.get("fail"))
            return None

    functools.update_wrapper(wrapper, listener)
    del wrapper.__wrapped__  # type: ignore[attr-defined]
    # Bolt passes the arguments a listener's signature names: the listener's own, and ours.
    names = list(dict.fromkeys([*wanted, *_GUARD_ARGS]))
    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    )
    return wrapper


class GuardedApp:
    """The Bolt app as feature modules register on it: every listener guarded."""

    def __init__(self, app: App) -> None:
        self.app = app

    def _wrap(self, kind: str, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        register = getattr(self.app, kind)(*args, **kwargs)
        return lambda listener: register(guarded(listener))

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("command", *args, **kwargs)

    def action(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("action", *args, **kwargs)

    def view(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("view", *args, **kwargs)

    def event(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("event", *args, **kwargs)

    def shortcut(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("shortcut", *args, **kwargs)

    def global_shortcut(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("global_shortcut", *args, **kwargs)

    def message_shortcut(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("message_shortcut", *args, **kwargs)

    def view_closed(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("view_closed", *args, **kwargs)

    def function(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._wrap("function", *args, **kwargs)


def register(app: App) -> None:
    @app.error
    def handle(
        error: Exception,
        body: dict[str, Any],
        response: BoltResponse | None,
        client: WebClient,
        respond: Respond | None,
        fail: Fail | None,
    ) -> BoltResponse | None:
        _log(error, body)
        if body.get("type") == "view_submission" and response is not None:
            # Not yet acknowledged: the answer to the submission is the HTTP response.
            return view_answer(error, body.get("view") or {})
        tell(error, body, client, respond, fail)
        if response is not None:
            # Not yet acknowledged (a command, a click): acknowledge; the person was told.
            return BoltResponse(status=200, body="")
        return None

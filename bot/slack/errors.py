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

import contextvars
import functools
import inspect
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context.fail import Fail
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

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

#: The request a listener is answering (for a modal call made after it returned).
_REQUEST: contextvars.ContextVar[tuple[Mapping[str, Any], WebClient, Respond | None]] = (
    contextvars.ContextVar("frontdesk_request")
)


class ModalCalls(WebClient):
    """The Web API client listeners get: its modal calls (``views.open``, ``views.push``
    with the click's trigger_id, ``views.update`` of the open modal) are made on a pool
    of their own, so no listener waits for Slack on the thread that answers Slack
    (with ``process_before_response`` the answer goes when the listener returns).
    Their errors are told like any other (:func:`tell`); a trigger_id lives 3 seconds,
    ample for a pool that only does this. Everything else goes straight through."""

    def __init__(self, client: WebClient, pool: Executor) -> None:
        super().__init__(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=client.retry_handlers,
            logger=client.logger,
        )
        self._pool = pool

    def _later(self, method: str, kwargs: dict[str, Any]) -> None:
        request = _REQUEST.get(None)
        self._pool.submit(self._call, method, kwargs, request)

    def _call(
        self,
        method: str,
        kwargs: dict[str, Any],
        request: tuple[Mapping[str, Any], WebClient, Respond | None] | None,
    ) -> None:
        try:
            getattr(super(), method)(**kwargs)
        except SlackApiError as error:
            if method == "views_update" and error.response.get("error") == "hash_conflict":
                # A double tap: the view changed since this one was sent (the first tap
                # reshaped it as asked); Slack refused the stale update, nothing is wrong.
                log.info("stale view update ignored", extra={"reason": "hash_conflict"})
                return
            body, client, respond = request or ({}, self, None)
            _log(error, body)
            tell(error, body, client, respond)
        except Exception as error:
            body, client, respond = request or ({}, self, None)
            _log(error, body)
            tell(error, body, client, respond)

    def views_open(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._later("views_open", kwargs)

    def views_push(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._later("views_push", kwargs)

    def views_update(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._later("views_update", kwargs)


def guarded(
    listener: Callable[..., Any], modal_calls: ModalCalls | None = None
) -> Callable[..., Any]:
    """Wrap a listener so that an error raised *after* it acknowledged is told to the
    person here, in the listener's thread (Bolt's own handler only sees errors before
    the acknowledgement reliably). Before the acknowledgement the error goes on to
    :func:`register`'s handler, which answers Slack with it. With ``modal_calls`` the
    listener's client makes its modal calls after it returns (:class:`ModalCalls`)."""
    wanted = inspect.getfullargspec(inspect.unwrap(listener)).args

    def wrapper(**kwargs: Any) -> Any:
        given = {name: kwargs[name] for name in wanted if name in kwargs}
        if modal_calls is not None and "client" in given:
            given["client"] = modal_calls
            _REQUEST.set((kwargs.get("body") or {}, kwargs["client"], kwargs.get("respond")))
        try:
            return listener(**given)
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
    """The Bolt app as feature modules register on it: every listener guarded, and its
    modal calls made off the thread that answers Slack when a pool is given."""

    def __init__(self, app: App, modal_pool: Executor | None = None) -> None:
        self.app = app
        self.modal_calls = ModalCalls(app.client, modal_pool) if modal_pool else None

    def _wrap(self, kind: str, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        register = getattr(self.app, kind)(*args, **kwargs)
        return lambda listener: register(guarded(listener, self.modal_calls))

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
        if body.get("command") and response is not None:
            # A command not yet acknowledged: the answer is the acknowledgement.
            text, _ = message_for(error)
            return _json({"response_type": "ephemeral", "text": text})
        tell(error, body, client, respond, fail)
        if response is not None:
            # Not yet acknowledged (a command, a click): acknowledge; the person was told.
            return BoltResponse(status=200, body="")
        return None

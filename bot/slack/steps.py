"""Workflow Builder steps: thin listeners, and telling Slack how each run ended.

A step's listener runs after Bolt acknowledged the event. It reads the person
running the workflow (the actor middleware takes them from the step's user context
input) and hands the step to the workflow, which checks their roles, limits and
writes the audit as for anyone; a refusal fails the step with its words (the error
mapping). A reset step is then sent by the worker like any other reset; a sale
step's requester gets a direct message to add the member and payment privately.

The end is told from the worker's side, never from the listener: right after the
outcome is recorded (:class:`StepNotices`), and by a sweep at every housekeeping
round for whatever a restart or an unreachable Slack left untold. Completions go
with the app's own bot token: the just-in-time token of an event is never kept.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import ClubReadyLocation
from bot.slack import sale_views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.ids import SaleAction, Step
from bot.workflows.errors import InvalidInput
from bot.workflows.roles import Actor
from bot.workflows.steps import StepEnd, StepKind, StepService

log = logging.getLogger("frontdesk.slack.steps")

#: Slack's answers meaning the run already ended (or never was): nothing left to tell.
ALREADY_ENDED = frozenset({"execution_not_in_running_state", "function_execution_not_found"})


class StepCompleter:
    """Tells Slack how step runs ended (``functions.completeSuccess`` / ``completeError``)
    and records that it did, once."""

    def __init__(self, *, client: WebClient, steps: StepService) -> None:
        self.client = client
        self._steps = steps

    def tell(self, end: StepEnd) -> None:
        try:
            if end.error is None:
                self.client.functions_completeSuccess(
                    function_execution_id=end.function_execution_id, outputs=end.outputs or {}
                )
            else:
                self.client.functions_completeError(
                    function_execution_id=end.function_execution_id, error=end.error
                )
        except SlackApiError as exc:
            code = exc.response.get("error")
            if code == "parameter_validation_failed" and end.error is None:
                # Our outputs disagree with the manifest: a bug. End the run anyway.
                log.error(
                    "step outputs refused by Slack",
                    extra={"subject": end.function_execution_id, "step": end.callback_id},
                )
                self.tell(
                    StepEnd(
                        end.function_execution_id,
                        end.callback_id,
                        error="frontdesk finished this step but could not report its outcome: "
                        f"ask support about step {end.function_execution_id}.",
                    )
                )
                return
            if code not in ALREADY_ENDED:
                raise
        self._steps.record_end(end)

    def after(self, kind: StepKind, subject_id: str) -> None:
        """A reset or sale has a new state: end the step that started it, if it can."""
        end = self._steps.end_of(kind, subject_id)
        if end is not None:
            self.tell(end)

    def tell_due(self) -> None:
        """Every run whose end is known but not told (housekeeping: idempotent)."""
        for end in self._steps.due():
            try:
                self.tell(end)
            except Exception:
                log.exception(
                    "could not tell Slack: step ended", extra={"subject": end.function_execution_id}
                )


class _Notices(Protocol):
    """What the worker tells people as a vendor call goes (``bot.worker.Notices``)."""

    def started(self, row: Any) -> None: ...

    def finished(self, row: Any) -> None: ...

    def late(self, row: Any) -> None: ...


class StepNotices:
    """A queue's notices, then the end of the step that started the row, if any."""

    def __init__(self, inner: _Notices, completer: StepCompleter, kind: StepKind) -> None:
        self._inner = inner
        self._completer = completer
        self._kind = kind

    def started(self, row: Any) -> None:
        self._inner.started(row)

    def finished(self, row: Any) -> None:
        try:
            self._inner.finished(row)
        finally:
            self._completer.after(self._kind, str(row.id))

    def late(self, row: Any) -> None:
        self._inner.late(row)


def _step_actor(context: BoltContext) -> Actor:
    actor = context.get("actor")
    if not isinstance(actor, Actor):
        raise InvalidInput(
            {
                "requester": "This step needs the person running the workflow: start the "
                "workflow from a link, a button or a form, or add a step a person clicks."
            }
        )
    return actor


def _inputs(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    event = body.get("event") or {}
    return str(event.get("function_execution_id") or ""), dict(event.get("inputs") or {})


def register(
    app: GuardedApp, services: Services, steps: StepService, completer: StepCompleter
) -> None:
    @app.function(Step.RESET)
    def reset_step(body: dict[str, Any], context: BoltContext) -> None:
        execution_id, inputs = _inputs(body)
        # Queued (the worker is woken when it commits); the step ends with its outcome.
        steps.start_reset(
            _step_actor(context),
            execution_id,
            Step.RESET,
            str(inputs.get("location") or ""),
            str(inputs.get("identifier") or ""),
        )

    @app.function(Step.SALE)
    def sale_step(body: dict[str, Any], context: BoltContext) -> None:
        execution_id, inputs = _inputs(body)
        actor = _step_actor(context)
        steps.start_sale(
            actor,
            execution_id,
            Step.SALE,
            location=str(inputs.get("location") or ""),
            package=str(inputs.get("package") or ""),
            start_date=inputs.get("start_date"),
            promo_code=inputs.get("promo_code"),
        )
        # Its Continue DM is recorded with the draft (a redelivered event starts nothing).

    @app.action(SaleAction.CONTINUE)
    def continue_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        sale = services.sales.for_edit(actor, body["actions"][0]["value"])
        if sale.member is None:
            view = sale_views.details_modal(sale, root=True)
        else:
            location = services.locations.get(sale.location_id)
            can_sell_now = isinstance(location, ClubReadyLocation) and services.sales.can_sell_now(
                actor, sale
            )
            view = sale_views.review_modal(
                sale, location, can_sell_now, pushed=False, others=services.sales.same_member(sale)
            )
        client.views_open(trigger_id=body["trigger_id"], view=view)

"""Listeners of the sale flow: thin; the workflow decides and records what people are
told (the approval message, the requester's DMs, notes, triage), the notifier tells
them. Everything slow (ClubReady) happens in the worker. The Slack calls left here
are the modal's own: views.open/push with the click's trigger_id, views.update of
the open modal."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.config import ClubReadyLocation
from bot.slack import help as help_text
from bot.slack import sale_views
from bot.slack.context import Services, actor_of
from bot.slack.errors import GuardedApp
from bot.slack.forms import field_value
from bot.slack.ids import SALE_FIELDS, Command, SaleAction, SaleDecision, SaleView
from bot.workflows.command_words import is_help, location_list, read_location
from bot.workflows.errors import Conflict, InvalidInput
from bot.workflows.roles import Actor, Permission
from bot.workflows.sales import (
    MAX_PAYMENT_METHODS,
    MEMBER_FIELDS,
    ApproveResult,
    PaymentInput,
    ReconcileFinding,
    SaleDetails,
    SaleStart,
)

log = logging.getLogger("frontdesk.slack.sales")


def _values(body: dict[str, Any]) -> dict[str, Any]:
    return body["view"]["state"]["values"]  # type: ignore[no-any-return]


def _get(body: dict[str, Any], field: str) -> Any:
    block_id, action_id = SALE_FIELDS[field]
    return field_value(_values(body), block_id, action_id)


def _start_input(body: dict[str, Any]) -> SaleStart:
    return SaleStart(
        location_id=str(_get(body, "location") or ""),
        package=_get(body, "package"),
        start_date=_get(body, "start_date"),
        promo_code=_get(body, "promo_code"),
    )


def _details_input(body: dict[str, Any]) -> SaleDetails:
    """The member and payment as typed (fields a view does not show are absent)."""
    return SaleDetails(
        member={name: _get(body, name) for name in MEMBER_FIELDS},
        payments=tuple(
            PaymentInput(
                amount=_get(body, f"payment{i}_amount"),
                token=_get(body, f"payment{i}_token"),
                kind=_get(body, f"payment{i}_method"),
            )
            for i in range(1, MAX_PAYMENT_METHODS + 1)
        ),
    )


def typed_member(body: dict[str, Any]) -> dict[str, Any]:
    """The member fields of a member view as Slack last saw them (never the payment)."""
    if not (body.get("view") or {}).get("state", {}).get("values"):
        return {}
    return {name: _get(body, name) for name in MEMBER_FIELDS}


def open_sell_modal(
    client: WebClient, trigger_id: str, services: Services, actor: Actor, wanted: str = ""
) -> None:
    """The first view of a sale (/sell and the shortcut), at the actor's locations that
    sell: ``wanted`` if it is one of them, else the first."""
    sales = services.sales
    locations = sales.locations_for(actor)
    if not locations:
        sales.require(actor, Permission.REQUEST_SALE, None)
        return
    wanted = wanted.strip().lower()
    selected = next((loc for loc in locations if loc.id == wanted), locations[0])
    client.views_open(
        trigger_id=trigger_id,
        view=sale_views.start_modal(
            locations, selected, sales.today_at(selected), sales.new_draft_id()
        ),
    )


def register(app: GuardedApp, services: Services) -> None:
    sales = services.sales

    # -- the requester ----------------------------------------------------------------
    @app.command(Command.SELL)
    def sell_command(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        actor = actor_of(context)
        text = (body.get("text") or "").strip()
        wanted = ""
        if text:
            # `/sell help`, `/sell downtown`, `/sell Downtown Fitness`: anything else is
            # pointed out, never silently ignored.
            selling = sales.locations_for(actor)
            if not selling:
                ack()
                sales.require(actor, Permission.REQUEST_SALE, None)  # names the admins
                return
            if is_help(text):
                words = help_text.sell_help(selling, services.resets.grants_of(actor))
                ack(text=words, response_type="ephemeral")
                return
            place, problem = read_location(text, services.locations, selling)
            if place is not None and all(loc.id != place.id for loc in selling):
                if not isinstance(place, ClubReadyLocation) or not place.sells:
                    problem = (
                        f"{place.name} does not sell memberships through frontdesk. "
                        f"You sell at {location_list(selling)}."
                    )
                else:
                    ack()
                    sales.require(actor, Permission.REQUEST_SALE, place.id)  # names the admins
                    return
            if problem:
                ack(
                    text=f":thinking_face: {problem} `/sell help` shows examples.",
                    response_type="ephemeral",
                )
                return
            wanted = place.id if place else ""
        ack()
        open_sell_modal(client, body["trigger_id"], services, actor, wanted)

    @app.action(SALE_FIELDS["location"][1])
    def location_changed(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        chosen = body["actions"][0]["selected_option"]["value"]
        locations = sales.locations_for(actor)
        selected = next((loc for loc in locations if loc.id == chosen), None)
        if selected is None:
            return  # not a location this user may sell at: leave the view as it is
        view = body["view"]
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=sale_views.start_modal(
                locations,
                selected,
                sales.today_at(selected),
                sale_views.draft_id(view) or sales.new_draft_id(),
            ),
        )

    @app.view(SaleView.START)
    def start_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        # Pushed, not replacing: Back on the next view returns here as it was left.
        actor = actor_of(context)
        sale = sales.start(actor, _start_input(body), sale_views.draft_id(body["view"]))
        ack(response_action="push", view=sale_views.details_modal(sale))

    @app.view(SaleView.DETAILS)
    def details_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        sale_id, _ = sale_views.read_metadata(body["view"])
        sale, can_sell_now = sales.add_details_for_review(actor, sale_id, _details_input(body))
        location = services.locations.get(sale.location_id)
        # Pushed too: Edit (the review's close button) returns with everything typed.
        ack(
            response_action="push",
            view=sale_views.review_modal(
                sale, location, can_sell_now, others=sales.same_member(sale)
            ),
        )

    @app.view(SaleView.REVIEW)
    def review_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        # The whole modal closes: the requester's DM from the app is the sale's record
        # from here on (waiting for approval, selling, the outcome).
        actor = actor_of(context)
        sale_id, fingerprint = sale_views.read_metadata(body["view"])
        if _get(body, "decision") == SaleDecision.SELL_NOW:
            sales.sell_now(actor, sale_id, fingerprint or "")
        else:
            sales.submit(actor, sale_id, fingerprint or "")
        ack(response_action="clear")

    def reshaped(
        body: dict[str, Any], client: WebClient, context: BoltContext, **change: int
    ) -> None:
        """More details or a second payment: the same view with those inputs added
        (Slack keeps what was typed in inputs whose ids stay the same)."""
        actor = actor_of(context)
        view = body["view"]
        sale_id, seen = sale_views.read_metadata(view)
        shape = {**sale_views.read_shape(view), **change}
        sale = sales.for_edit(actor, sale_id)
        if view.get("callback_id") == SaleView.EDIT:
            location = services.locations[sale.location_id]
            assert isinstance(location, ClubReadyLocation)
            new = sale_views.edit_modal(
                location,
                sales.today_at(location),
                sale,
                more=bool(shape.get("more")),
                payments=shape.get("pay", 1),
                seen=seen,  # the version this Change was opened on, kept
            )
        else:
            new = sale_views.details_modal(
                sale,
                more=bool(shape.get("more")),
                payments=shape.get("pay", 1),
                root=bool(shape.get("root")),
            )
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)

    @app.action(SaleAction.MORE_DETAILS)
    def more_details_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        reshaped(body, client, context, more=1)

    @app.action(SaleAction.ADD_PAYMENT)
    def add_payment_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        reshaped(body, client, context, pay=MAX_PAYMENT_METHODS)

    @app.action(SaleAction.EDIT)
    def edit_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        sale = sales.for_edit(actor, body["actions"][0]["value"])
        location = services.locations[sale.location_id]
        assert isinstance(location, ClubReadyLocation)
        client.views_open(
            trigger_id=body["trigger_id"],
            view=sale_views.edit_modal(location, sales.today_at(location), sale),
        )

    @app.view(SaleView.EDIT)
    def edit_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        view = body["view"]
        sale_id, seen = sale_views.read_metadata(view)
        # The member and payment are part of the view only when the sale has them.
        has_member = SALE_FIELDS["first_name"][0] in (view.get("state") or {}).get("values", {})
        sales.edit(
            actor,
            sale_id,
            _start_input(body),
            _details_input(body) if has_member else None,
            seen=seen,
        )
        ack()

    @app.action(SaleAction.WITHDRAW)
    def withdraw_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        sales.withdraw(actor_of(context), body["actions"][0]["value"])

    # -- approvers --------------------------------------------------------------------
    @app.action(SaleAction.REVIEW)
    def review_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        sheet = sales.open_review(actor_of(context), body["actions"][0]["value"])
        client.views_open(
            trigger_id=body["trigger_id"],
            view=sale_views.approval_modal(sheet, services.locations.get(sheet.sale.location_id)),
        )

    @app.view(SaleView.APPROVAL)
    def approval_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        sale_id, fingerprint = sale_views.read_metadata(body["view"])
        result = sales.approve(actor, sale_id, fingerprint or "")
        answers = {
            ApproveResult.CHANGED: "This sale changed after you opened it. Nothing was approved: "
            "open it again from the approvals channel to review the new version.",
            ApproveResult.EXPIRED: "This request has expired. Nothing was approved.",
            ApproveResult.CLOSED: "This sale was already decided. Nothing changed.",
            ApproveResult.ALREADY_APPROVED_BY_YOU: "You have already approved this sale: "
            "another manager must approve it too.",
        }
        if result in answers:
            ack(
                response_action="update",
                view=sale_views.notice_modal("Not approved", answers[result]),
            )
            return
        ack()

    @app.action(SaleAction.REJECT)
    def reject_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        sale = sales.review(actor, body["actions"][0]["value"])
        # Bound to the version on the Review it was tapped in (not the sale as it is now).
        _, seen = sale_views.read_metadata(body.get("view") or {})
        client.views_push(
            trigger_id=body["trigger_id"], view=sale_views.reject_modal(sale, seen=seen)
        )

    @app.view(SaleView.REJECT)
    def reject_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        sale_id, seen = sale_views.read_metadata(body["view"])
        sales.reject(actor, sale_id, str(_get(body, "reason") or ""), seen=seen)
        ack(response_action="clear")

    # -- triage -----------------------------------------------------------------------
    @app.action(SaleAction.CLAIM)
    def claim_clicked(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        sales.claim(
            actor_of(context), body["actions"][0]["value"], reply_to=body.get("response_url")
        )

    @app.action(SaleAction.RECONCILE)
    def reconcile_clicked(
        ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        actor = actor_of(context)
        sale = sales.for_reconciliation(actor, body["actions"][0]["value"])
        client.views_open(
            trigger_id=body["trigger_id"],
            view=sale_views.reconcile_modal(sale, services.locations.get(sale.location_id)),
        )

    @app.view(SaleView.RECONCILE)
    def reconcile_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        sale_id, _ = sale_views.read_metadata(body["view"])
        finding = _get(body, "finding")
        if finding not in set(ReconcileFinding):
            raise InvalidInput({"finding": "Choose what you found in ClubReady."})
        done = sales.reconcile(
            actor, sale_id, ReconcileFinding(finding), str(_get(body, "note") or "")
        )
        if not done:
            raise Conflict("Someone has already reconciled this sale.")
        ack()

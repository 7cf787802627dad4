"""Views and messages of the sale flow, built with slack_sdk's models.

Payment tokens never appear in anything built here: payments are shown from the
sale's summary (``…last4``), and token inputs are never given initial values.
Messages that a channel can see show the member masked; the approver's review
modal, seen by that approver alone, shows the member in full.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DatePickerElement,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config import CatalogItem, ClubReadyLocation, Location
from bot.slack.ids import SALE_FIELDS, SaleAction, SaleView, TriageAction
from bot.slack.views import as_blocks, location_option
from bot.slack.wording import clause, day, escape, place, sentence, slack_date
from bot.workflows.sale_fields import Change
from bot.workflows.sales import (
    GENDERS,
    ReconcileFinding,
    ReviewSheet,
    SaleStatus,
    describe_status,
    masked_member_lines,
    money,
    package_key,
)
from storage.models import Sale, SaleApproval

MEMBER_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "cell_phone": "Cell phone",
    "date_of_birth": "Date of birth",
    "address": "Address",
    "city": "City",
    "state": "State",
    "zip": "Zip",
    "gender": "Gender",
    "username": "Username (4 to 255 characters)",
    "emergency_contact_name": "Emergency contact name",
    "emergency_contact_phone": "Emergency contact phone",
}


def metadata(sale: Sale, *, with_fingerprint: bool = False) -> str:
    data = {"sale": sale.id}
    if with_fingerprint:
        data["fp"] = sale.fingerprint
    return json.dumps(data)


def read_metadata(view: dict[str, Any]) -> tuple[str, str | None]:
    """(sale id, fingerprint) from a view's private_metadata."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return str(data.get("sale") or ""), (str(data["fp"]) if data.get("fp") else None)


def _modal(
    callback: SaleView,
    title: str,
    blocks: list[Any],
    *,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str | None = None,
    notify_on_close: bool = False,
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback,
        title=PlainTextObject(text=title),
        submit=PlainTextObject(text=submit) if submit else None,
        close=PlainTextObject(text=close),
        blocks=blocks,
        private_metadata=private_metadata,
        # Closing a draft's view without submitting it wipes its payment tokens at once.
        notify_on_close=notify_on_close or None,
    )
    view.validate_json()
    return view.to_dict()


def _package_option(item: CatalogItem) -> Option:
    return Option(value=package_key(item), text=f"{item.name} · ${money(item.amount)}"[:75])


def _text_input(
    field: str, label: str, *, optional: bool = True, max_length: int = 255, hint: str | None = None
) -> InputBlock:
    block_id, action_id = SALE_FIELDS[field]
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        hint=hint,
        element=PlainTextInputElement(action_id=action_id, max_length=max_length),
    )


def start_modal(
    locations: list[ClubReadyLocation],
    selected: ClubReadyLocation,
    today: date,
    sale: Sale | None = None,
) -> dict[str, Any]:
    """First view: location, package (price shown), start date, promo code."""
    location_block, location_action = SALE_FIELDS["location"]
    package_block, package_action = SALE_FIELDS["package"]
    start_block, start_action = SALE_FIELDS["start_date"]
    promo_block, promo_action = SALE_FIELDS["promo_code"]
    options = [_package_option(item) for item in selected.catalog[:100]]
    initial = next(
        (
            o
            for o in options
            if sale is not None and o.value == f"{sale.package_id}:{sale.installment_plan_id}"
        ),
        None,
    )
    start = sale.start_date if sale is not None and sale.start_date >= today else today
    blocks: list[Any] = [
        InputBlock(
            block_id=location_block,
            label="Location",
            dispatch_action=sale is None,
            element=StaticSelectElement(
                action_id=location_action,
                options=[
                    location_option(loc) for loc in (locations if sale is None else [selected])
                ],
                initial_option=location_option(selected),
            ),
        ),
        InputBlock(
            block_id=package_block,
            label="Package",
            element=StaticSelectElement(
                action_id=package_action,
                placeholder="Choose a package",
                options=options,
                initial_option=initial,
            ),
        ),
        InputBlock(
            block_id=start_block,
            label="Start date",
            hint=f"Today or later, by the calendar at {selected.name}.",
            element=DatePickerElement(action_id=start_action, initial_date=start.isoformat()),
        ),
        InputBlock(
            block_id=promo_block,
            label="Promo code",
            optional=True,
            element=PlainTextInputElement(
                action_id=promo_action,
                max_length=100,
                initial_value=(sale.promo_code if sale is not None else None) or None,
            ),
        ),
    ]
    if sale is None:
        return _modal(SaleView.START, "Sell a membership", blocks, submit="Next")
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Changing the sale means it needs a new approval. "
                    "The member and payment stay as they are."
                )
            ]
        )
    )
    return _modal(
        SaleView.EDIT, "Change the sale", blocks, submit="Save", private_metadata=metadata(sale)
    )


def details_modal(sale: Sale) -> dict[str, Any]:
    """Second view: the new member, then how they pay."""
    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{escape(sale.package_name)}* · ${escape(sale.amount)} · "
                f"starts {day(sale.start_date)}"
            )
        )
    ]
    for field, label in MEMBER_LABELS.items():
        block_id, action_id = SALE_FIELDS[field]
        if field == "date_of_birth":
            blocks.append(
                InputBlock(
                    block_id=block_id,
                    label=label,
                    optional=True,
                    element=DatePickerElement(action_id=action_id),
                )
            )
        elif field == "gender":
            blocks.append(
                InputBlock(
                    block_id=block_id,
                    label=label,
                    optional=True,
                    element=StaticSelectElement(
                        action_id=action_id,
                        options=[Option(value=k, text=v) for k, v in GENDERS.items()],
                    ),
                )
            )
        else:
            blocks.append(
                _text_input(
                    field, label, optional=field not in ("first_name", "last_name", "email")
                )
            )
    if sale.amount == money("0"):
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text="Free package: no payment needed.")])
        )
    else:
        blocks.append(DividerBlock())
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"*Payment* · the amounts must add up to at least ${sale.amount}. "
                    "Paste each token from ClubReady's payment page: a ProfileToken "
                    "*or* an AcctToken per method."
                )
            )
        )
        for index in (1, 2):
            title = "Payment 1" if index == 1 else "Payment 2 (optional)"
            blocks.append(
                _text_input(
                    f"payment{index}_amount", f"{title}: amount", max_length=20, hint="like 49.00"
                )
            )
            blocks.append(
                _text_input(
                    f"payment{index}_profile_token", f"{title}: ProfileToken", max_length=500
                )
            )
            blocks.append(
                _text_input(f"payment{index}_acct_token", f"{title}: AcctToken", max_length=500)
            )
    return _modal(
        SaleView.DETAILS,
        "New member",
        blocks,
        submit="Review",
        close="Back",
        private_metadata=metadata(sale),
        notify_on_close=True,
    )


def _payment_lines(sale: Sale) -> str:
    if not sale.payments:
        return "no payment (free package)"
    kinds = {"profile": "ProfileToken", "acct": "AcctToken"}
    return ", ".join(
        f"${p['amount']} by {kinds.get(p['kind'], p['kind'])} …{escape(str(p['last4']))}"
        for p in sale.payments
    )


def _where(sale: Sale, location: Location | None) -> str:
    return place(location, sale.location_id)


def sale_summary(sale: Sale, location: Location | None) -> str:
    """One masked line: who, what, where, how much."""
    promo = f" · promo {escape(sale.promo_code)}" if sale.promo_code else ""
    return (
        f"*{escape(sale.member_masked or 'new member')}* · {escape(sale.package_name)} "
        f"${escape(sale.amount)} at *{_where(sale, location)}* · starts "
        f"{day(sale.start_date)}{promo}"
    )


def _sale_fields(sale: Sale, *, masked: bool) -> list[Any]:
    if masked:
        member_lines = masked_member_lines(sale.member)
    else:
        member_lines = [
            (MEMBER_LABELS[k].split(" (")[0], GENDERS.get(str(v), str(v)) if k == "gender" else v)
            for k, v in (sale.member or {}).items()
        ]
    text = "\n".join(f"{label}: {escape(str(value))}" for label, value in member_lines)
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{escape(sale.package_name)}* · *${escape(sale.amount)}*\n"
                f"Starts {day(sale.start_date)}"
                + (f" · promo `{escape(sale.promo_code)}`" if sale.promo_code else "")
            )
        ),
        SectionBlock(text=MarkdownTextObject(text=text[:2900] or "no member yet")),
        SectionBlock(text=MarkdownTextObject(text=f"Payment: {_payment_lines(sale)}")),
    ]


def review_modal(sale: Sale, location: Location | None, can_sell_now: bool) -> dict[str, Any]:
    """The requester's last look, masked, with what to do next."""
    buttons = [
        ButtonElement(
            action_id=SaleAction.SUBMIT, text="Submit for approval", style="primary", value=sale.id
        )
    ]
    if can_sell_now:
        buttons.append(
            ButtonElement(
                action_id=SaleAction.SELL_NOW,
                text="Sell now",
                style="danger",
                value=sale.id,
                confirm=ConfirmObject(
                    title="Sell now?",
                    text=f"This charges ${sale.amount} without another approval "
                    "(above your limit a second manager still approves).",
                    confirm="Sell now",
                    deny="Back",
                ),
            )
        )
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(text=f"Review the sale at *{_where(sale, location)}*")
        ),
        *_sale_fields(sale, masked=True),
        ActionsBlock(elements=buttons),
    ]
    return _modal(
        SaleView.REVIEW,
        "Review the sale",
        blocks,
        close="Close",
        private_metadata=metadata(sale, with_fingerprint=True),
        notify_on_close=True,
    )


def notice_modal(title: str, text: str) -> dict[str, Any]:
    return _modal(
        SaleView.NOTICE,
        title[:24],
        [SectionBlock(text=MarkdownTextObject(text=text))],
        close="Close",
    )


def _change_line(change: Change) -> str:
    if change.before is None:
        return f"• {escape(change.label)}: {escape(str(change.after))} (new)"
    if change.after is None:
        return f"• {escape(change.label)}: {escape(change.before)} (removed)"
    return f"• {escape(change.label)}: {escape(change.before)} → *{escape(change.after)}*"


def changes_block(changes: list[Change], since: datetime | None) -> SectionBlock:
    """What changed since an approver last saw the sale, masked, one field a line."""
    when = f" ({_when(since)})" if since else ""
    lines = [f":pencil2: *Changed since you last saw it*{when}:"]
    lines += [_change_line(change) for change in changes]
    return SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:2900]))


def approval_modal(sheet: ReviewSheet, location: Location | None) -> dict[str, Any]:
    """An approver's review: first what changed since they last saw it, then the whole
    sale (this modal is theirs alone), Approve, Reject."""
    sale, approvals = sheet.sale, sheet.approvals
    blocks: list[Any] = []
    if sheet.changes:
        blocks += [changes_block(sheet.changes, sheet.last_seen_at), DividerBlock()]
    blocks += [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"<@{sale.user_id}> asks to sell at *{_where(sale, location)}*."
            )
        ),
        *_sale_fields(sale, masked=False),
    ]
    if sale.required_approvals > 1:
        who = ", ".join(f"<@{a.approver_user_id}>" for a in approvals) or "nobody yet"
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"Above the location's limit: {sale.required_approvals} managers "
                        f"approve. Approved so far by {who}."
                    )
                ]
            )
        )
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=SaleAction.REJECT, text="Reject…", style="danger", value=sale.id
                )
            ]
        )
    )
    return _modal(
        SaleView.APPROVAL,
        "Approve the sale",
        blocks,
        submit="Approve",
        private_metadata=metadata(sale, with_fingerprint=True),
    )


def reject_modal(sale: Sale) -> dict[str, Any]:
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=sale_summary(sale, None))),
        _text_input("reason", "Why? The requester sees this.", optional=False, max_length=1000),
    ]
    return _modal(
        SaleView.REJECT, "Reject the sale", blocks, submit="Reject", private_metadata=metadata(sale)
    )


def reconcile_modal(sale: Sale, location: Location | None) -> dict[str, Any]:
    finding_block, finding_action = SALE_FIELDS["finding"]
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"{sale_summary(sale, location)}\n\nIn ClubReady, look for a member whose "
                f"*ExternalUserId* is `{sale.id}` (or the email above) at store "
                f"{escape(str(getattr(location, 'store_id', '?')))}."
            )
        ),
        InputBlock(
            block_id=finding_block,
            label="What did you find?",
            element=StaticSelectElement(
                action_id=finding_action,
                options=[
                    Option(value=ReconcileFinding.SOLD, text="It was sold"),
                    Option(value=ReconcileFinding.NOT_SOLD, text="It was not sold"),
                ],
            ),
        ),
        _text_input("note", "Note", max_length=1000),
    ]
    return _modal(
        SaleView.RECONCILE,
        "Reconcile the sale",
        blocks,
        submit="Record",
        private_metadata=metadata(sale),
    )


def _when(moment: datetime | None) -> str:
    return slack_date(moment) if moment is not None else ""


def outcome_words(sale: Sale, then: str | None = None) -> str:
    """The sale's state in plain words (``then``: the status it had at a moment a DM
    tells of; else as it is now)."""
    status = SaleStatus(then or sale.status)
    detail = clause(sale.outcome_message)[:500] or "no reason given"
    return {
        SaleStatus.DRAFT: ":pencil2: Draft, not submitted.",
        SaleStatus.PENDING_APPROVAL: ":hourglass_flowing_sand: Waiting for approval"
        + (f" (expires {_when(sale.expires_at)})." if sale.expires_at else "."),
        SaleStatus.APPROVED: ":hourglass_flowing_sand: Approved: sending to ClubReady…",
        SaleStatus.SUBMITTING: ":hourglass_flowing_sand: Approved: sending to ClubReady…",
        SaleStatus.SOLD: ":white_check_mark: Sold"
        + (f" (ClubReady user {escape(sale.vendor_user_id)})." if sale.vendor_user_id else ".")
        + (f" Confirmed by <@{sale.reconciled_by}>." if sale.reconciled_by else ""),
        SaleStatus.REFUSED: f":x: ClubReady refused the sale: {detail}. Nothing was charged.",
        SaleStatus.UNKNOWN: ":grey_question: No clear answer from ClubReady: the sale may or may "
        "not have gone through. Support is checking; *do not sell it again*.",
        SaleStatus.NOT_SOLD: f":heavy_minus_sign: Not sold: <@{sale.reconciled_by}> checked "
        "ClubReady and found no sale.",
        SaleStatus.REJECTED: sentence(
            f":no_entry: Rejected by <@{sale.decided_by}>: {clause(sale.rejection_reason)}"
        ),
        SaleStatus.EXPIRED: ":alarm_clock: Expired: nobody approved it in time. Nothing was sold.",
        SaleStatus.CANCELLED: ":wastebasket: Withdrawn. Nothing was sold.",
    }[status]


def approval_message(
    sale: Sale, location: Location | None, approvals: list[SaleApproval]
) -> tuple[str, list[dict[str, Any]]]:
    """The approvals channel's message: its state first (waiting, sold, rejected…), the
    masked summary, then who decided and when; Review only while there is a decision."""
    status = SaleStatus(sale.status)
    text = f"{outcome_words(sale)}\nSale from <@{sale.user_id}>: {sale_summary(sale, location)}"
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        ContextBlock(elements=[MarkdownTextObject(text=f"Payment: {_payment_lines(sale)}")]),
    ]
    lines = []
    if status is SaleStatus.PENDING_APPROVAL and sale.changed_at is not None:
        what = ", ".join(escape(str(label)).lower() for label in sale.changed_fields or [])
        lines.append(
            f":pencil2: Changed by <@{sale.user_id}> {_when(sale.changed_at)}"
            + (f" ({what})" if what else "")
            + ": earlier approvals no longer count."
        )
    if approvals:
        lines.append(
            "Approved by "
            + ", ".join(f"<@{a.approver_user_id}> {_when(a.at)}" for a in approvals)
            + (
                f" ({len(approvals)} of {sale.required_approvals})"
                if status is SaleStatus.PENDING_APPROVAL
                else ""
            )
        )
    if status is SaleStatus.REJECTED:
        lines.append(f"Decided {_when(sale.decided_at)}")
    if lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(lines))))
    if status is SaleStatus.PENDING_APPROVAL:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        action_id=SaleAction.REVIEW, text="Review", style="primary", value=sale.id
                    )
                ]
            )
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"ref `{sale.id}`")]))
    return text, as_blocks(blocks)


def requester_message(sale: Sale, location: Location | None) -> tuple[str, list[dict[str, Any]]]:
    """The requester's DM about their sale, kept up to date."""
    status = SaleStatus(sale.status)
    text = f"Your sale: {sale_summary(sale, location)}"
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=outcome_words(sale))),
        SectionBlock(text=MarkdownTextObject(text=text)),
    ]
    if status in (SaleStatus.DRAFT, SaleStatus.PENDING_APPROVAL):
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(action_id=SaleAction.EDIT, text="Change", value=sale.id),
                    ButtonElement(
                        action_id=SaleAction.WITHDRAW,
                        text="Withdraw",
                        style="danger",
                        value=sale.id,
                        confirm=ConfirmObject(
                            title="Withdraw the sale?",
                            text="Nothing will be sold; the approvers are told.",
                            confirm="Withdraw",
                            deny="Keep it",
                        ),
                    ),
                ]
            )
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"ref `{sale.id}`")]))
    return f"Your sale is {describe_status(status)}: {sale_summary(sale, location)}", as_blocks(
        blocks
    )


def triage_post(
    sale: Sale, location: Location | None, claimed_by: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A sale's failure as support's channel sees it *now*: its state leads (open,
    claimed, reconciled, resolved); only the buttons that still apply."""
    status = SaleStatus(sale.status)
    words = {
        SaleStatus.REFUSED: "refused by ClubReady (nothing charged)",
        SaleStatus.UNKNOWN: "outcome unknown: check ClubReady before anything else",
    }.get(status, "outcome unknown")
    what = f"sale {words}: {sale_summary(sale, location)}, requested by <@{sale.user_id}>"
    claimed_by = claimed_by or sale.claimed_by
    reconciled = status in (SaleStatus.SOLD, SaleStatus.NOT_SOLD) and sale.reconciled_by
    if reconciled:
        note = f" ({clause(sale.reconciled_note)})" if sale.reconciled_note else ""
        lead = (
            f":white_check_mark: Reconciled by <@{sale.reconciled_by}>: "
            f"{describe_status(status)}{note}. Was: {what}."
        )
    elif sale.resolved_at is not None:
        note = clause(sale.resolution_note)[:1000]
        who = f"<@{sale.resolved_by}>" if sale.resolved_by else "frontdesk"
        lead = f":white_check_mark: Resolved by {who}" + (f": {note}" if note else "")
        lead += f". Was: {what}."
    elif claimed_by:
        lead = f":raising_hand: Claimed by <@{claimed_by}>: {what}."
    else:
        lead = f":rotating_light: {what[0].upper()}{what[1:]}."
    store = getattr(location, "store_id", "?")
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=lead[:3000])),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"ExternalId `{sale.id}` · store {escape(str(store))} · "
                    f"{clause(sale.outcome_message or 'no detail')[:1500]}"
                )
            ]
        ),
    ]
    if reconciled or sale.resolved_at is not None:
        return lead, as_blocks(blocks)
    buttons: list[ButtonElement] = []
    if not claimed_by:
        buttons.append(ButtonElement(action_id=SaleAction.CLAIM, text="Claim", value=sale.id))
    if status is SaleStatus.UNKNOWN:
        buttons.append(
            ButtonElement(action_id=SaleAction.RECONCILE, text="Reconcile", value=sale.id)
        )
    else:
        buttons.append(
            ButtonElement(action_id=TriageAction.RESOLVE, text="Resolve", value=f"sale:{sale.id}")
        )
    blocks.append(ActionsBlock(elements=buttons))
    return lead, as_blocks(blocks)


def continue_message(sale: Sale, location: Location | None) -> tuple[str, list[dict[str, Any]]]:
    """A workflow started this sale for its requester: add the member and the payment
    here, privately (nothing of theirs goes through the workflow)."""
    text = (
        f"A workflow started a sale for you: *{escape(sale.package_name)}* "
        f"${escape(sale.amount)} at *{_where(sale, location)}*, starting "
        f"{day(sale.start_date)}."
    )
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        SectionBlock(
            text=MarkdownTextObject(
                text="Add the new member and the payment (only you see them), then submit it "
                "for approval. The workflow goes on once it is decided."
            )
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=SaleAction.CONTINUE, text="Continue", style="primary", value=sale.id
                ),
                ButtonElement(
                    action_id=SaleAction.WITHDRAW,
                    text="Withdraw",
                    value=sale.id,
                    confirm=ConfirmObject(
                        title="Withdraw the sale?",
                        text="Nothing will be sold and the workflow's step fails.",
                        confirm="Withdraw",
                        deny="Keep it",
                    ),
                ),
            ]
        ),
        ContextBlock(elements=[MarkdownTextObject(text=f"ref `{sale.id}`")]),
    ]
    return text, as_blocks(blocks)

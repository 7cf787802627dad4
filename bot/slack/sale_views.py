"""Views and messages of the sale flow, built with slack_sdk's models.

Payment tokens never appear in anything built here: payments are shown from the
sale's summary (``…last4``), and token inputs are never given initial values.
Messages that a channel can see show the member masked; the approver's review
modal, seen by that approver alone, shows the member in full.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
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
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config import CatalogItem, ClubReadyLocation, Location
from bot.slack.ids import SALE_FIELDS, SaleAction, SaleDecision, SaleView, TriageAction
from bot.slack.views import as_blocks, location_option
from bot.slack.wording import clause, day, escape, inert, place, sentence, slack_date
from bot.workflows.people import named
from bot.workflows.sale_fields import Change
from bot.workflows.sales import (
    GENDERS,
    MAX_PAYMENT_METHODS,
    PAYMENT_KINDS,
    REQUIRED_MEMBER_FIELDS,
    ReconcileFinding,
    ReviewSheet,
    SaleStatus,
    describe_status,
    masked_member,
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


#: The member fields the member and payment view asks first; the rest are "More details".
OPTIONAL_MEMBER_FIELDS = tuple(f for f in MEMBER_LABELS if f not in REQUIRED_MEMBER_FIELDS)


def metadata(
    sale: Sale, *, with_fingerprint: bool = False, seen: str | None = None, **shape: int
) -> str:
    """A sale view's private_metadata: the sale's id (and the fingerprint reviewed), and
    how the view is laid out (``more``: the optional member fields shown; ``pay``: how
    many payment methods; ``root``: opened on its own, not pushed). Nothing else: the
    client can read it, so no member data and never a token."""
    data: dict[str, Any] = {"sale": sale.id}
    if with_fingerprint:
        # ``seen``: the version the person opened (kept when the view is rebuilt).
        data["fp"] = seen or sale.fingerprint
    data.update({k: v for k, v in shape.items() if v})
    return json.dumps(data)


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def read_metadata(view: dict[str, Any]) -> tuple[str, str | None]:
    """(sale id, fingerprint) from a view's private_metadata."""
    data = _metadata(view)
    return str(data.get("sale") or ""), (str(data["fp"]) if data.get("fp") else None)


def read_shape(view: dict[str, Any]) -> dict[str, int]:
    """How a member and payment view is laid out (see :func:`metadata`), bounded."""
    data = _metadata(view)
    shape: dict[str, int] = {}
    for key, top in (("more", 1), ("pay", MAX_PAYMENT_METHODS), ("root", 1)):
        value = data.get(key)
        if isinstance(value, int) and 0 < value <= top:
            shape[key] = value
    return shape


def draft_id(view: dict[str, Any]) -> str | None:
    """The draft a sale's first view stands for (so Next after Back changes it)."""
    value = _metadata(view).get("draft")
    return str(value) if value else None


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
    draft: str,
) -> dict[str, Any]:
    """First view: location, package (price shown), start date, promo code. ``draft``:
    the id the sale's draft takes (Back then Next changes that same draft)."""
    blocks = _start_blocks(locations, selected, today, None)
    return _modal(
        SaleView.START,
        "Sell a membership",
        blocks,
        submit="Next",
        private_metadata=json.dumps({"draft": draft}),
    )


def _start_blocks(
    locations: list[ClubReadyLocation],
    selected: ClubReadyLocation,
    today: date,
    sale: Sale | None,
) -> list[Any]:
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
    return blocks


def _member_input(field: str, value: Any = None) -> InputBlock:
    block_id, action_id = SALE_FIELDS[field]
    label = MEMBER_LABELS[field]
    optional = field not in REQUIRED_MEMBER_FIELDS
    if field == "date_of_birth":
        return InputBlock(
            block_id=block_id,
            label=label,
            optional=True,
            element=DatePickerElement(action_id=action_id, initial_date=value or None),
        )
    if field == "gender":
        options = [Option(value=k, text=v) for k, v in GENDERS.items()]
        return InputBlock(
            block_id=block_id,
            label=label,
            optional=True,
            element=StaticSelectElement(
                action_id=action_id,
                options=options,
                initial_option=next((o for o in options if o.value == value), None),
            ),
        )
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        element=PlainTextInputElement(
            action_id=action_id,
            max_length=255,
            initial_value=str(value) if value else None,
            focus_on_load=(field == "first_name" and not value) or None,
        ),
    )


def _method_options() -> list[Option]:
    return [
        Option(
            value="profile",
            text="ProfileToken",
            description="A card or bank account kept on file for the instalments",
        ),
        Option(value="acct", text="AcctToken", description="A one-time payment method"),
    ]


def _payment_inputs(
    index: int, count: int, amount: str | None, on_file: dict[str, Any] | None
) -> list[Any]:
    """One payment method: how it pays (one choice), its one token, its amount. On a
    Change (``on_file``) the token is asked again only to change the method."""
    title = f"Payment {index}: " if count > 1 else ""
    method_block, method_action = SALE_FIELDS[f"payment{index}_method"]
    token_block, token_action = SALE_FIELDS[f"payment{index}_token"]
    amount_block, amount_action = SALE_FIELDS[f"payment{index}_amount"]
    options = _method_options()
    kind = str(on_file["kind"]) if on_file else "profile"
    if on_file:
        token_hint = (
            f"Leave it empty to keep the {PAYMENT_KINDS.get(kind, kind)} on file "
            f"(…{on_file.get('last4')}); paste a new one to change how they pay."
        )
    else:
        token_hint = "Paste it from ClubReady's payment page (it is never shown again)."
    return [
        InputBlock(
            block_id=method_block,
            label=f"{title}Pays with",
            element=RadioButtonsElement(
                action_id=method_action,
                options=options,
                initial_option=next(o for o in options if o.value == kind),
            ),
        ),
        InputBlock(
            block_id=token_block,
            label=f"{title}Token",
            # A second payment added by mistake is left empty (it is then ignored).
            optional=on_file is not None or index > 1,
            hint=token_hint,
            element=PlainTextInputElement(action_id=token_action, max_length=500),
        ),
        InputBlock(
            block_id=amount_block,
            label=f"{title}Amount ($)",
            optional=index > 1,
            hint="Leave Payment 2 empty to pay with one method." if index > 1 else None,
            element=PlainTextInputElement(
                action_id=amount_action, max_length=20, initial_value=amount or None
            ),
        ),
    ]


def _member_payment_blocks(
    sale: Sale,
    *,
    more: bool,
    payments: int,
    member: dict[str, Any] | None = None,
    on_file: list[dict[str, Any]] | None = None,
) -> list[Any]:
    """The member's required fields, then the payment, then what is one tap away (a
    second payment, the optional member fields). ``member``/``on_file``: a Change's
    prefill (the requester's own input, shown to them alone; never a token)."""
    member = member or {}
    on_file = on_file or []
    blocks: list[Any] = [_member_input(f, member.get(f)) for f in REQUIRED_MEMBER_FIELDS]
    buttons: list[ButtonElement] = []
    if sale.amount == money("0"):
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text="Free package: no payment needed.")])
        )
    else:
        count = max(1, min(MAX_PAYMENT_METHODS, max(payments, len(on_file))))
        words = f"*Payment* · ${escape(sale.amount)}"
        if count > 1:
            words += " · the amounts add up to the price; the last one takes what is left"
        blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=words))]
        for index in range(1, count + 1):
            kept = on_file[index - 1] if index <= len(on_file) else None
            amount = kept["amount"] if kept else (sale.amount if index == 1 else None)
            blocks += _payment_inputs(index, count, amount, kept)
        if count < MAX_PAYMENT_METHODS:
            buttons.append(
                ButtonElement(
                    action_id=SaleAction.ADD_PAYMENT, text="Add a second payment", value=sale.id
                )
            )
    if more:
        blocks += [
            DividerBlock(),
            SectionBlock(text=MarkdownTextObject(text="*More details* (optional)")),
            *(_member_input(f, member.get(f)) for f in OPTIONAL_MEMBER_FIELDS),
        ]
    else:
        buttons.append(
            ButtonElement(
                action_id=SaleAction.MORE_DETAILS,
                text="More details: phone, birthday, address…",
                value=sale.id,
            )
        )
    if buttons:
        blocks.append(ActionsBlock(block_id="sale_more", elements=buttons))
    return blocks


def details_modal(
    sale: Sale, *, more: bool = False, payments: int = 1, root: bool = False
) -> dict[str, Any]:
    """Second view: the new member's required fields, how they pay (one method, the
    amount prefilled with the price), and one tap away a second payment and the
    optional details. Pushed on the first view, so Back returns to it as it was; opened
    on its own (``root``, a sale a workflow started) it has Cancel. What was typed
    before going Back (the requester's own, to them alone) is filled in again."""
    typed = dict(sale.typed_member or {})
    more = more or any(typed.get(f) for f in OPTIONAL_MEMBER_FIELDS)
    blocks: list[Any] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"*{escape(sale.package_name)}* · ${escape(sale.amount)} · "
                    f"starts {day(sale.start_date)} · only you see what you type here"
                )
            ]
        ),
        *_member_payment_blocks(sale, more=more, payments=payments, member=typed),
    ]
    return _modal(
        SaleView.DETAILS,
        "New member",
        blocks,
        submit="Review",
        close="Cancel" if root else "Back",
        private_metadata=metadata(sale, more=int(more), pay=payments, root=int(root)),
        notify_on_close=True,
    )


def edit_modal(
    location: ClubReadyLocation,
    today: date,
    sale: Sale,
    *,
    more: bool | None = None,
    payments: int | None = None,
    seen: str | None = None,
) -> dict[str, Any]:
    """Change: the whole sale prefilled (the requester's own, shown to them alone):
    package, start and promo code, then the member and payment, where a token is asked
    again only to change how they pay."""
    member = dict(sale.member or {})
    if more is None:
        more = any(member.get(f) for f in OPTIONAL_MEMBER_FIELDS)
    on_file = list(sale.payments or [])
    count = payments or max(1, len(on_file))
    blocks = _start_blocks([location], location, today, sale)
    if sale.member is not None:
        blocks += [
            DividerBlock(),
            *_member_payment_blocks(
                sale, more=more, payments=count, member=member, on_file=on_file
            ),
        ]
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Changing a sale that waits for approval means it needs a new one."
                )
            ]
        )
    )
    return _modal(
        SaleView.EDIT,
        "Change the sale",
        blocks,
        submit="Save",
        private_metadata=metadata(
            sale, with_fingerprint=True, seen=seen, more=int(more), pay=count
        ),
    )


def _payment_lines(sale: Sale) -> str:
    if not sale.payments:
        return "no payment (free package)"
    return ", ".join(
        f"${p['amount']} by {PAYMENT_KINDS.get(p['kind'], p['kind'])} …{escape(str(p['last4']))}"
        for p in sale.payments
    )


def _where(sale: Sale, location: Location | None) -> str:
    return place(location, sale.location_id)


def sale_summary(sale: Sale, location: Location | None) -> str:
    """One masked line: who, what, where, how much."""
    promo = f" · promo {inert(sale.promo_code)}" if sale.promo_code else ""
    return (
        f"*{inert(sale.member_masked or 'new member')}* · {escape(sale.package_name)} "
        f"${escape(sale.amount)} at *{_where(sale, location)}* · starts "
        f"{day(sale.start_date)}{promo}"
    )


_COPIED = frozenset({"Email", "Username"})


def _sale_fields(sale: Sale, *, masked: bool) -> list[Any]:
    if masked:
        member_lines = masked_member_lines(sale.member)
    else:
        member_lines = [
            (MEMBER_LABELS[k].split(" (")[0], GENDERS.get(str(v), str(v)) if k == "gender" else v)
            for k, v in (sale.member or {}).items()
        ]
    # What was typed cannot format the post; what is copied (email, username) is as typed.
    text = "\n".join(
        f"{label}: {escape(str(value)) if label in _COPIED else inert(str(value))}"
        for label, value in member_lines
    )
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{escape(sale.package_name)}* · *${escape(sale.amount)}*\n"
                f"Starts {day(sale.start_date)}"
                + (f" · promo `{inert(sale.promo_code)}`" if sale.promo_code else "")
            )
        ),
        SectionBlock(text=MarkdownTextObject(text=text[:2900] or "no member yet")),
        SectionBlock(text=MarkdownTextObject(text=f"Payment: {_payment_lines(sale)}")),
    ]


def others_block(others: Sequence[Sale]) -> SectionBlock:
    """Other open sales to the same member at the same location (same email): pointed
    out, so that nobody sells a membership twice."""
    lines = [":warning: *Another open sale to this member* (same email, same location):"]
    for other in others[:5]:
        status = SaleStatus(other.status)
        words = (
            "its outcome is unknown: *do not sell it again* until support has checked"
            if status is SaleStatus.UNKNOWN
            else describe_status(status)
        )
        lines.append(
            f"• {escape(other.package_name)} ${escape(other.amount)}, asked by "
            f"{named(other.user_id)} {_when(other.submitted_at or other.created_at)}: {words} "
            f"(ref `{other.id}`)"
        )
    lines.append("Check it is not the same sale before going on.")
    return SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:2900]))


def limit_line(sale: Sale, location: Location | None) -> ContextBlock | None:
    """Above the location's limit: two managers approve, never the person who asked."""
    limit = getattr(location, "manager_sale_limit", None)
    if limit is None or Decimal(sale.amount) <= limit:
        return None
    return ContextBlock(
        elements=[
            MarkdownTextObject(
                text=f"Above this location's limit of ${money(limit)}: two managers "
                "approve it, never the person who asked."
            )
        ]
    )


def review_modal(
    sale: Sale,
    location: Location | None,
    can_sell_now: bool,
    *,
    pushed: bool = True,
    others: Sequence[Sale] = (),
) -> dict[str, Any]:
    """The requester's last look: what they typed, in full (this view is theirs alone
    and gone once submitted), tokens as ``…last4``; what the approvers will see, masked.
    Pushed on the member and payment view, its Edit returns there with everything kept.
    A manager of the location chooses between selling now and asking for approval."""
    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Check the sale at *{_where(sale, location)}*, then submit it."
            )
        ),
        *_sale_fields(sale, masked=False),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Only you see this. The approvals channel sees the member as "
                    f"*{inert(masked_member(sale.member or {}))}*; the managers who open "
                    "Review see the member in full. Tokens are never shown."
                )
            ]
        ),
    ]
    if others:
        blocks.insert(0, others_block(others))
    limit = limit_line(sale, location)
    if limit is not None:
        blocks.append(limit)
    submit = "Submit for approval"
    if can_sell_now:
        block_id, action_id = SALE_FIELDS["decision"]
        blocks.append(
            InputBlock(
                block_id=block_id,
                label="Sell it now?",
                element=RadioButtonsElement(
                    action_id=action_id,
                    options=[
                        Option(
                            value=SaleDecision.SELL_NOW,
                            text=f"Sell now: charge ${sale.amount}",
                            description="Within your limit: no other approval",
                        ),
                        Option(
                            value=SaleDecision.SUBMIT,
                            text="Ask another manager to approve",
                        ),
                    ],
                ),
            )
        )
        submit = "Confirm"
    return _modal(
        SaleView.REVIEW,
        "Review the sale",
        blocks,
        submit=submit,
        close="Edit" if pushed else "Close",
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
        return f"• {escape(change.label)}: {inert(str(change.after))} (new)"
    if change.after is None:
        return f"• {escape(change.label)}: {inert(change.before)} (removed)"
    return f"• {escape(change.label)}: {inert(change.before)} → *{inert(change.after)}*"


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
    if sheet.others:
        blocks += [others_block(sheet.others), DividerBlock()]
    blocks += [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"{named(sale.user_id)} asks to sell at *{_where(sale, location)}*."
            )
        ),
        *_sale_fields(sale, masked=False),
    ]
    if sale.required_approvals > 1:
        who = ", ".join(named(a.approver_user_id) for a in approvals) or "nobody yet"
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


def reject_modal(sale: Sale, seen: str | None = None) -> dict[str, Any]:
    """Reject with a reason, bound to the version reviewed (``seen``: the Review's
    fingerprint), so a Reject written for an older version never lands on a fixed one."""
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=sale_summary(sale, None))),
        _text_input("reason", "Why? The requester sees this.", optional=False, max_length=1000),
    ]
    return _modal(
        SaleView.REJECT,
        "Reject the sale",
        blocks,
        submit="Reject",
        private_metadata=metadata(sale, with_fingerprint=True, seen=seen),
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
            + ", ".join(f"{named(a.approver_user_id)} {_when(a.at)}" for a in approvals)
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


def requester_message(
    sale: Sale, location: Location | None, asked: SectionBlock | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The requester's DM about their sale, kept up to date (``asked``: while it is
    pending, who has been asked and when; bot/slack/reminder_views.py)."""
    status = SaleStatus(sale.status)
    text = f"Your sale: {sale_summary(sale, location)}"
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=outcome_words(sale))),
        SectionBlock(text=MarkdownTextObject(text=text)),
    ]
    if asked is not None and status is SaleStatus.PENDING_APPROVAL:
        blocks.append(asked)
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
        lead = f":white_check_mark: Resolved by {named(sale.resolved_by)}" + (
            f": {note}" if note else ""
        )
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

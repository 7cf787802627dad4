"""Message and view builders, through slack_sdk's models so over-limit views fail here."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config import Location
from bot.slack.ids import RESET_FIELDS, ResetAction, ResetView, TriageAction
from bot.slack.wording import (
    clause,
    escape,
    place,
    slack_date,
    vendor_name,
)
from bot.workflows.people import named
from bot.workflows.resets import (
    MEMBER_FILTERS,
    ResetStatus,
    RetryResult,
    identifier_fields,
    may_retry,
)
from storage.models import ResetRequest

FIELD_LABELS = {
    "email": ("Member email", "jane@example.com"),
    "username": ("Member username", "janedoe"),
    "account_id": ("Account id", "digits only"),
    "card": ("Printed card number", "digits only"),
}


def retry_words(result: RetryResult) -> str:
    """What a Retry click did, for the person who clicked."""
    if result.created:
        return (
            f"Retrying as a new request (ref `{result.retry_id}`): "
            "the outcome will follow in this thread."
        )
    when = slack_date(result.at) if result.at else "earlier"
    return (
        f"{named(result.by)} already retried this one {when} (ref `{result.retry_id}`): "
        "nothing new was sent."
    )


def location_option(location: Location) -> Option:
    label = f"{location.name} ({location.vendor_label})"
    return Option(value=location.id, text=label[:75])


def reset_prefill(view: dict[str, Any]) -> dict[str, str]:
    """The member a reset modal was opened for (a message shortcut), kept in the view."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    prefill = data.get("prefill") if isinstance(data, dict) else None
    if not isinstance(prefill, dict):
        return {}
    return {k: str(v) for k, v in prefill.items() if k in FIELD_LABELS and v}


def reset_modal(
    locations: list[Location],
    selected: Location,
    *,
    prefill: dict[str, str] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The /reset modal: location first, then the identifier fields of its vendor.
    ``prefill`` fills the fields it names (the member a message shortcut found); it is
    kept in the view, so that choosing another location keeps it."""
    prefill = prefill or {}
    blocks: list[Any] = [
        InputBlock(
            block_id=ResetView.LOCATION_BLOCK,
            label="Location",
            dispatch_action=True,
            element=StaticSelectElement(
                action_id=ResetAction.LOCATION_SELECT,
                options=[location_option(loc) for loc in locations[:100]],
                initial_option=location_option(selected),
            ),
        )
    ]
    fields = identifier_fields(selected)
    for field in fields:
        block_id, action_id = RESET_FIELDS[field]
        label, placeholder = FIELD_LABELS[field]
        blocks.append(
            InputBlock(
                block_id=block_id,
                label=label,
                optional=True,
                element=PlainTextInputElement(
                    action_id=action_id,
                    placeholder=placeholder,
                    max_length=320,
                    initial_value=prefill.get(field) or None,
                ),
            )
        )
    if selected.has_member_filter:
        options = [Option(value=str(k), text=v) for k, v in MEMBER_FILTERS.items()]
        block_id, action_id = RESET_FIELDS["member_filter"]
        blocks.append(
            InputBlock(
                block_id=block_id,
                label="Member filter",
                element=StaticSelectElement(
                    action_id=action_id, options=options, initial_option=options[0]
                ),
            )
        )
    names = " or ".join(FIELD_LABELS[f][0].lower() for f in fields)
    hint = (
        f"Give exactly one: {names}."
        if selected.one_identifier
        else f"Give the {names}."
        if len(fields) == 1
        else f"Give one or more: {names}."
    )
    missing = [f for f in prefill if f not in fields]
    if missing:
        label = FIELD_LABELS[missing[0]][0].lower()
        hint = f"{selected.name} does not take a {label}: choose another location. {hint}"
    if note:
        hint = f"{note} {hint}"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=hint)]))
    view = View(
        type="modal",
        callback_id=ResetView.CALLBACK,
        title=PlainTextObject(text="Reset a password"),
        submit=PlainTextObject(text="Next"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
        private_metadata=json.dumps({"prefill": prefill}) if prefill else None,
    )
    view.validate_json()
    return view.to_dict()


#: How an identifier is named beside its value, shown in full (an email needs none).
KIND_NAMES = {"email": "", "username": "username ", "account_id": "account id ", "card": "card "}


def member_in_full(identity: dict[str, str]) -> str:
    """The member exactly as typed, for the private screens of the person who typed it
    (so ``jnae@`` can be told from ``jane@`` before Send): code-formatted, escaped."""
    parts = [
        f"{KIND_NAMES.get(kind, '')}`{escape(value).replace('`', 'ˋ')}`"
        for kind, value in identity.items()
    ]
    return " / ".join(parts)


def _summary(request: ResetRequest, location: Location | None, full: bool = False) -> str:
    """The member, the location and the vendor. ``full``: the member as typed, for the
    requester's own private screens only; otherwise masked (what stays or others see)."""
    where = place(location, request.location_id)
    return f"{_member(request, full)} at *{where}* ({vendor_name(request.vendor)})"


def _member(request: ResetRequest, full: bool) -> str:
    """The member as typed (the typist's own private screens) or masked (anywhere else)."""
    if full and request.identity:
        return member_in_full(request.identity)
    return f"*{escape(request.identifier_masked)}*"


def confirmation(
    request: ResetRequest, location: Location | None, *, full: bool = False
) -> list[dict[str, Any]]:
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Reset the password of {_summary(request, location, full)}?"
            )
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=ResetAction.SEND, text="Send", style="primary", value=request.id
                ),
                ButtonElement(action_id=ResetAction.CANCEL, text="Cancel", value=request.id),
            ]
        ),
    ]
    return as_blocks(blocks)


def rate_limited(
    request: ResetRequest,
    location: Location | None,
    limit: int,
    can_override: bool,
    *,
    full: bool = False,
) -> list[dict[str, Any]]:
    text = (
        f":no_entry: {_summary(request, location, full)} has already been sent {limit} resets "
        "in the last hour. Ask the member to check their spam folder, or ask support."
    )
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=text))]
    buttons = [ButtonElement(action_id=ResetAction.CANCEL, text="Cancel", value=request.id)]
    if can_override:
        buttons.insert(
            0,
            ButtonElement(
                action_id=ResetAction.OVERRIDE, text="Send anyway", style="danger", value=request.id
            ),
        )
    blocks.append(ActionsBlock(elements=buttons))
    return as_blocks(blocks)


def status_message(
    request: ResetRequest,
    location: Location | None,
    *,
    full: bool = False,
    retry: ResetRequest | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The confirmation turned into what happened, in plain words (led by the outcome
    of support's ``retry``, if it retried it); a member the vendor does not know, or a
    refusal, is the front desk's to fix: Try again opens the form with what was
    typed."""
    summary = _summary(request, location, full)
    status = ResetStatus(request.status)
    outcome = clause(request.outcome_message) or "no reason given"
    vendor = vendor_name(request.vendor)
    text = {
        ResetStatus.QUEUED: f":hourglass_flowing_sand: Sending the reset for {summary}…",
        ResetStatus.SENDING: f":hourglass_flowing_sand: Sending the reset for {summary}…",
        ResetStatus.SENT: f":white_check_mark: Reset sent for {summary}"
        + (f" to {escape(request.sent_to_masked)}." if request.sent_to_masked else "."),
        ResetStatus.NOT_FOUND: f":mag: {vendor} found no member matching "
        f"{_member(request, full)} at *{place(location, request.location_id)}*. "
        "Check the spelling with the member, then try again.",
        ResetStatus.REFUSED: f":x: The vendor refused the reset for {summary}: {outcome}. "
        "Check the member's details and try again; support has been told.",
        ResetStatus.FAILED: f":warning: The vendor was unavailable, so the reset for {summary} "
        "was not sent. Support has it and can retry.",
        ResetStatus.UNKNOWN: f":grey_question: No answer from the vendor for {summary}: "
        "support has it. Do not send it again yet.",
        ResetStatus.CANCELLED: f"Cancelled: no reset sent for {summary}.",
        ResetStatus.DRAFT: f"Reset the password of {summary}?",
    }[status]
    if status is ResetStatus.UNKNOWN and request.late_outcome_kind == "succeeded":
        text = (
            f":white_check_mark: The vendor answered late, but it did send the reset for "
            f"{summary}. Support will confirm; no need to send it again."
        )
    if request.retried_at is not None:
        text = _retried(request, summary, retry)
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=text))]
    # The person fixes a typo (no such member) from anywhere; a refusal from the screen
    # they sent it from (the record is support's too: it has the refusal in triage).
    again = status is ResetStatus.NOT_FOUND or (full and status is ResetStatus.REFUSED)
    if again and request.retried_at is None and request.identity is not None:
        blocks.append(ActionsBlock(elements=[try_again_button(request)]))
    return text, as_blocks(blocks)


def try_again_button(request: ResetRequest) -> ButtonElement:
    """Try again: the form again, at the location, with what was typed."""
    return ButtonElement(
        action_id=ResetAction.TRY_AGAIN, text="Try again", style="primary", value=request.id
    )


def try_again_note(status: str) -> str:
    """What the form says when Try again opened it."""
    if status == ResetStatus.NOT_FOUND:
        return "The vendor found no such member: check the details with them."
    return "The vendor refused the reset: check the details with the member."


def _retried(request: ResetRequest, summary: str, retry: ResetRequest | None) -> str:
    """A failure support retried, as its requester reads it: the retry's outcome leads."""
    who = named(request.retried_by) if request.retried_by else "Support"
    if retry is not None and retry.status == ResetStatus.SENT:
        to = f" to {escape(retry.sent_to_masked)}" if retry.sent_to_masked else ""
        return f":white_check_mark: Reset sent for {summary}{to}: {who} retried it."
    return f":repeat: {who} retried the reset for {summary}: {retry_outcome(retry)}"


def retry_outcome(retry: ResetRequest | None) -> str:
    """How a retry went, for the failure's post (the details are in its thread)."""
    if retry is None:
        return "sending it again."
    status = ResetStatus(retry.status)
    return {
        ResetStatus.QUEUED: "sending it again…",
        ResetStatus.SENDING: "sending it again…",
        ResetStatus.SENT: "sent"
        + (f" to {escape(retry.sent_to_masked)}." if retry.sent_to_masked else "."),
        ResetStatus.NOT_FOUND: "the vendor found no such member: check the details with "
        "whoever asked.",
        ResetStatus.REFUSED: f"refused again ({clause(retry.outcome_message) or 'no reason'}); "
        "open on support's Home.",
        ResetStatus.FAILED: "the vendor was unavailable again; open on support's Home.",
        ResetStatus.UNKNOWN: "no answer again, it may have been sent; open on support's Home.",
    }.get(status, f"{escape(status.value)}.")


RECORD_NOTE = "The record stays in your messages with frontdesk (the member masked)."
CHECK_NOTE = "Check the member as you typed it: the vendor emails a reset link to them."


def reset_confirm_modal(request: ResetRequest, location: Location | None) -> dict[str, Any]:
    """The /reset modal's next view: the member in full, the location and the vendor,
    and Send. Back (the close button of this pushed view) returns to the form with
    everything kept, to fix a typo."""
    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Reset the password of {_summary(request, location, True)}?"
            )
        ),
        ContextBlock(elements=[MarkdownTextObject(text=CHECK_NOTE)]),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=ResetAction.SEND, text="Send", style="primary", value=request.id
                )
            ]
        ),
    ]
    return _modal(ResetView.CONFIRM, "Confirm the reset", "Back", blocks, request.id)


def reset_screen_modal(
    request: ResetRequest,
    location: Location | None,
    limited: dict[str, Any] | None = None,
    retry: ResetRequest | None = None,
) -> dict[str, Any]:
    """The modal after Send: "Sending…", then the outcome (or the hourly limit, with
    its buttons). Done closes the whole modal."""
    blocks = screen_blocks(request, location, limited, retry)
    return _modal(ResetView.SCREEN, "Reset a password", "Done", blocks, request.id)


def screen_blocks(
    request: ResetRequest,
    location: Location | None,
    limited: dict[str, Any] | None = None,
    retry: ResetRequest | None = None,
) -> list[dict[str, Any]]:
    """What the requester's private screen (the modal, or the message where ``/reset …``
    was typed) shows: the member in full, as they typed it."""
    if request.status == ResetStatus.DRAFT and limited:
        return rate_limited(
            request, location, int(limited["limited"]), bool(limited.get("override")), full=True
        )
    if request.status == ResetStatus.DRAFT:
        return confirmation(request, location, full=True)
    _, blocks = status_message(request, location, full=True, retry=retry)
    note = ContextBlock(elements=[MarkdownTextObject(text=RECORD_NOTE)])
    return [*blocks, *as_blocks([note])]


def _modal(
    callback_id: str, title: str, close: str, blocks: list[Any], request_id: str
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=title),
        close=PlainTextObject(text=close),
        blocks=blocks,
        private_metadata=request_id,
        # After Send there is nothing to go back to: Done closes every view.
        clear_on_close=callback_id == ResetView.SCREEN,
        # Back (or the X) before Send drops the draft, so no unsent one lingers.
        notify_on_close=callback_id == ResetView.CONFIRM,
    )
    view.validate_json()
    return view.to_dict()


def triage_post(
    request: ResetRequest,
    location: Location | None,
    claimed_by: str | None = None,
    retry: ResetRequest | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """A failure as support's channel sees it *now*: its state leads (open, claimed,
    retried with the retry's outcome, resolved); only the buttons that still apply."""
    status = ResetStatus(request.status)
    words = {
        ResetStatus.REFUSED: "refused by the vendor",
        ResetStatus.FAILED: "not sent, the vendor was unavailable",
        ResetStatus.UNKNOWN: "outcome unknown, it may have been sent",
    }.get(status, status.value.replace("_", " "))
    what = (
        f"password reset {words}: {_summary(request, location)}, requested by <@{request.user_id}>"
    )
    claimed_by = claimed_by or request.claimed_by
    if request.retried_at is not None:
        state = (
            f":repeat: Retried by <@{request.retried_by}> {slack_date(request.retried_at)}: "
            f"{retry_outcome(retry)}"
        )
        lead = f"{state} Was: {what}."
    elif request.resolved_at is not None:
        note = clause(request.resolution_note)
        resolved = f":white_check_mark: Resolved by {named(request.resolved_by)}"
        lead = f"{resolved}: {note}. Was: {what}." if note else f"{resolved}. Was: {what}."
    elif claimed_by:
        lead = f":raising_hand: Claimed by <@{claimed_by}>: {what}."
    else:
        lead = f":rotating_light: {what[0].upper()}{what[1:]}."
    detail = clause(request.outcome_message)
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=lead[:3000])),
        ContextBlock(
            elements=[MarkdownTextObject(text=f"{detail or 'no detail'} · ref `{request.id}`")]
        ),
    ]
    if request.late_outcome_kind:
        blocks.append(late_block(request.late_outcome_kind, request.late_outcome_message))
    if request.retried_at is not None:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=f"The retry, ref `{request.retry_id}`: see the thread.")
                ]
            )
        )
        return lead, as_blocks(blocks)
    if request.resolved_at is not None:
        return lead, as_blocks(blocks)
    buttons = [
        ButtonElement(action_id=TriageAction.RESOLVE, text="Resolve", value=f"reset:{request.id}"),
    ]
    if may_retry(request):  # not when the vendor said, late, that it was sent
        buttons.insert(
            0, ButtonElement(action_id=TriageAction.RETRY, text="Retry", value=request.id)
        )
    if not claimed_by:
        buttons.insert(
            0, ButtonElement(action_id=TriageAction.CLAIM, text="Claim", value=request.id)
        )
    blocks.append(ActionsBlock(elements=buttons))
    return lead, as_blocks(blocks)


LATE_WORDS = {
    "succeeded": "it was done",
    "refused": "it refused",
    "unavailable": "it was unavailable",
    "unknown": "its answer was unclear",
}


def not_found_streak(location: Location, payload: dict[str, Any]) -> str:
    """For support: every recent reset at a location found no such member."""
    return (
        f":mag: The last {int(payload.get('in_a_row') or 0)} resets at "
        f"*{place(location)}* all came back from {vendor_name(location.vendor)} as "
        '"no such member" within the hour. Typos are the front desk\'s, but this many in a '
        "row may mean the location's settings are wrong (at Registrar, its "
        "customer_brand_name): check them."
    )


def late_block(kind: str, message: str | None) -> SectionBlock:
    """A vendor's answer that came after frontdesk had given up waiting: shown to
    support beside the outcome, never as a second outcome."""
    words = LATE_WORDS.get(kind, kind)
    detail = f" ({clause(message, 500)})" if message else ""
    return SectionBlock(
        text=MarkdownTextObject(
            text=f":hourglass: The vendor answered after frontdesk had given up waiting: "
            f"{words}{detail}. Check before resolving."
        )
    )


def plain(text: str) -> list[dict[str, Any]]:
    return as_blocks([SectionBlock(text=MarkdownTextObject(text=text))])


def as_blocks(blocks: list[Any]) -> list[dict[str, Any]]:
    for block in blocks:
        block.validate_json()
    return [block.to_dict() for block in blocks]

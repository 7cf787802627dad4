"""From a notice to one Slack call: each kind renders its subject *as it is now*, with
the ``bot/slack`` builders.

A renderer returns what to do, never does it: a :class:`Message` (a slot: posted
the first time, updated afterwards), a :class:`Post` (a message of its own,
possibly in a thread), a :class:`Reply` (ephemeral, through a response_url), a
:class:`Publish` (a Home), or :class:`Nothing` (the message has no reason to exist:
no approvals channel, not a failure, the subject gone). Add a kind here with its
renderer in :data:`RENDERERS` (see :mod:`bot.workflows.outbox` for the other steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import ClubReadyLocation, Location
from bot.slack import home_views, reminder_views, sale_views, views
from bot.workflows.home import HomeService
from bot.workflows.outbox import NoticeKind
from bot.workflows.people import named
from bot.workflows.reminders import AskReason, current_asks, still_asking
from bot.workflows.resets import NEEDS_TRIAGE as RESET_TRIAGE_STATUSES
from bot.workflows.resets import SCREEN_FINAL, ResetService, ResetStatus, RetryResult
from bot.workflows.roles import Actor
from bot.workflows.sales import NEEDS_TRIAGE as SALE_TRIAGE_STATUSES
from bot.workflows.sales import SaleService, SaleStatus, asks_approvers
from storage.models import Notice, ResetRequest, Sale


@dataclass(frozen=True)
class Message:
    """A slot's message: posted in ``channel`` the first time, then updated at
    (``posted_in``, ``ts``)."""

    channel: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str | None
    posted_in: str | None


@dataclass(frozen=True)
class Post:
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class Reply:
    """Through a response_url: a new ephemeral message, or (``replace_original``) the
    one the click came from, replaced."""

    response_url: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    replace_original: bool = False
    #: Nothing more will go through this response_url: forget it once delivered.
    last: bool = False


@dataclass(frozen=True)
class ViewUpdate:
    """An open modal, updated (views.update by its id)."""

    view_id: str
    view: dict[str, Any]


@dataclass(frozen=True)
class Publish:
    user_id: str
    view: dict[str, Any]


@dataclass(frozen=True)
class Nothing:
    why: str


Delivery = Message | Post | Reply | ViewUpdate | Publish | Nothing


@dataclass(frozen=True)
class Context:
    """What renderers read: the rows as they are now, and the locations."""

    resets: ResetService
    sales: SaleService
    home: HomeService
    locations: dict[str, Location]


Renderer = Callable[[Notice, Context], Delivery]


def _reset_confirmation(notice: Notice, ctx: Context) -> Delivery:
    request = ctx.resets.get(str(notice.subject_id))
    if request is None:
        return Nothing("the reset is gone")
    location = ctx.locations.get(request.location_id)
    if request.status == ResetStatus.DRAFT:
        limited = notice.payload.get("limited")
        if limited:
            blocks = views.rate_limited(
                request, location, int(limited), bool(notice.payload.get("override"))
            )
            text = "Reset limit reached"
        else:
            blocks, text = views.confirmation(request, location), "Confirm the password reset"
    else:
        text, blocks = views.status_message(request, location, retry=_retry_of(request, ctx))
    return Message(request.user_id, text, blocks, request.message_ts, request.channel_id)


def _retry_of(request: ResetRequest, ctx: Context) -> ResetRequest | None:
    """Support's retry of a failure, if it retried it."""
    return ctx.resets.get(request.retry_id) if request.retry_id else None


def _reset_screen(notice: Notice, ctx: Context) -> Delivery:
    """The requester's private screen: the modal's view, or the message where they typed
    ``/reset …`` (while its response_url lives); the member in full, as they typed it."""
    request = ctx.resets.get(str(notice.subject_id))
    if request is None:
        return Nothing("the reset is gone")
    location = ctx.locations.get(request.location_id)
    limited = notice.payload if notice.payload.get("limited") else None
    retry = _retry_of(request, ctx)
    if request.screen_view_id:
        view = views.reset_screen_modal(request, location, limited, retry)
        return ViewUpdate(request.screen_view_id, view)
    until = request.screen_until
    if not request.screen_url or until is None or until <= ctx.resets.clock.now():
        return Nothing("the private message can no longer be changed: the DM has the record")
    blocks = views.screen_blocks(request, location, limited, retry)
    text = "Confirm the password reset"
    if request.status != ResetStatus.DRAFT:
        text, _ = views.status_message(request, location, retry=retry)  # masked: a notification
    last = request.status in SCREEN_FINAL
    return Reply(request.screen_url, text, blocks, replace_original=True, last=last)


def _reset_triage(notice: Notice, ctx: Context) -> Delivery:
    request = ctx.resets.get(str(notice.subject_id))
    if request is None:
        return Nothing("the reset is gone")
    location = ctx.locations.get(request.location_id)
    if location is None:
        return Nothing("the location is no longer configured")
    if not request.triage_ts and (
        ResetStatus(request.status) not in RESET_TRIAGE_STATUSES or request.retry_of
    ):
        return Nothing("not a failure with a triage post of its own")
    text, blocks = views.triage_post(request, location, retry=_retry_of(request, ctx))
    return Message(
        location.triage_channel, text, blocks, request.triage_ts, request.triage_channel_id
    )


def _reset_retry_note(notice: Notice, ctx: Context) -> Delivery:
    retry = ctx.resets.get(str(notice.subject_id))
    original = ctx.resets.get(str(notice.payload.get("retry_of")))
    if retry is None or original is None:
        return Nothing("the reset is gone")
    location = ctx.locations.get(retry.location_id)
    text, _ = views.status_message(retry, location)
    if original.triage_ts and original.triage_channel_id:
        return Post(
            original.triage_channel_id,
            f"Retry by <@{retry.user_id}>: {text}",
            thread_ts=original.triage_ts,
        )
    if location is None:
        return Nothing("the location is no longer configured")
    # The first one's triage post never came (it was given up): stand on its own.
    if ResetStatus(retry.status) in RESET_TRIAGE_STATUSES:
        triage_text, blocks = views.triage_post(retry, location)
        return Post(location.triage_channel, triage_text, blocks)
    return Post(location.triage_channel, f"Retry by <@{retry.user_id}>: {text}")


def _reset_not_found_streak(notice: Notice, ctx: Context) -> Delivery:
    location = ctx.locations.get(str(notice.subject_id))
    if location is None:
        return Nothing("the location is no longer configured")
    return Post(location.triage_channel, views.not_found_streak(location, notice.payload))


def _sale_approval(notice: Notice, ctx: Context) -> Delivery:
    sale = ctx.sales.get(str(notice.subject_id))
    if sale is None:
        return Nothing("the sale is gone")
    location = ctx.locations.get(sale.location_id)
    if not isinstance(location, ClubReadyLocation) or not location.approvals_channel:
        return Nothing("no approvals channel")
    if not sale.approval_ts and not asks_approvers(sale):
        return Nothing("nothing for approvers to decide")
    text, blocks = sale_views.approval_message(sale, location, ctx.sales.approvals(sale))
    return Message(
        location.approvals_channel, text, blocks, sale.approval_ts, sale.approval_channel_id
    )


def _sale_dm(notice: Notice, ctx: Context) -> Delivery:
    sale = ctx.sales.get(str(notice.subject_id))
    if sale is None:
        return Nothing("the sale is gone")
    location = ctx.locations.get(sale.location_id)
    if sale.status == "draft" and (notice.payload or {}).get("continue"):
        text, blocks = sale_views.continue_message(sale, location)
        return Message(sale.user_id, text, blocks, sale.dm_ts, sale.dm_channel_id)
    if not sale.dm_ts and sale.submitted_at is None:
        return Nothing("a draft: nothing to tell yet")
    asked = None
    if sale.status == SaleStatus.PENDING_APPROVAL:
        asks = current_asks(sale, ctx.sales.asks(sale.id))
        asked = reminder_views.asked_block(asks, _approval_refused(sale, ctx))
    text, blocks = sale_views.requester_message(sale, location, asked)
    return Message(sale.user_id, text, blocks, sale.dm_ts, sale.dm_channel_id)


def _approval_refused(sale: Sale, ctx: Context) -> bool:
    """Whether Slack refused the sale's approval message for good (never posted)."""
    return not sale.approval_ts and ctx.sales.outbox.slot_was_given_up(
        NoticeKind.SALE_APPROVAL, sale.id
    )


def _sale_triage(notice: Notice, ctx: Context) -> Delivery:
    sale = ctx.sales.get(str(notice.subject_id))
    if sale is None:
        return Nothing("the sale is gone")
    location = ctx.locations.get(sale.location_id)
    if location is None:
        return Nothing("the location is no longer configured")
    if not sale.triage_ts and SaleStatus(sale.status) not in SALE_TRIAGE_STATUSES:
        return Nothing("not a failure")
    text, blocks = sale_views.triage_post(sale, location, sale.claimed_by)
    return Message(location.triage_channel, text, blocks, sale.triage_ts, sale.triage_channel_id)


SALE_NOTES = {
    "changed": ":pencil2: <@{by}> changed this sale: earlier approvals no longer count. "
    "Review it again.",
    "withdrawn": "Withdrawn by <@{by}>.",
    "approved_once": "<@{by}> approved; one more manager must.",
}


def _sale_note(notice: Notice, ctx: Context) -> Delivery:
    sale = ctx.sales.get(str(notice.subject_id))
    if sale is None or not sale.approval_ts or not sale.approval_channel_id:
        return Nothing("no approval message to note on")
    words = SALE_NOTES[str(notice.payload["note"])].format(by=notice.payload.get("by"))
    return Post(sale.approval_channel_id, words, thread_ts=sale.approval_ts)


def _sale_tell(notice: Notice, ctx: Context) -> Delivery:
    sale = ctx.sales.get(str(notice.subject_id))
    if sale is None:
        return Nothing("the sale is gone")
    words = sale_views.outcome_words(sale, notice.payload.get("status"))
    summary = sale_views.sale_summary(sale, ctx.locations.get(sale.location_id))
    return Post(sale.dm_channel_id or sale.user_id, words, views.plain(f"{words}\n{summary}"))


def _sale_ask(notice: Notice, ctx: Context) -> Delivery:
    """A reminder or an escalation: in the approval thread, or a person's DM. Only
    while the sale still waits for a decision on this very version: one queued before
    a decision, a withdrawal, a change or an expiry is dropped here."""
    sale = ctx.sales.get(str(notice.subject_id))
    if sale is None:
        return Nothing("the sale is gone")
    payload = notice.payload
    if not still_asking(sale, str(payload.get("fingerprint")), ctx.sales.clock.now()):
        return Nothing("no longer waiting for a decision on that version")
    reason = AskReason.REMINDER if notice.kind == NoticeKind.SALE_REMINDER else AskReason.ESCALATION
    if payload.get("to") == "thread":
        if not sale.approval_ts or not sale.approval_channel_id:
            return Nothing("no approval message to reply to")
        text, blocks = reminder_views.thread_reply(sale, reason, payload)
        return Post(sale.approval_channel_id, text, blocks, thread_ts=sale.approval_ts)
    location = ctx.locations.get(sale.location_id)
    text, blocks = reminder_views.direct_message(sale, location, reason)
    return Post(str(payload["user_id"]), text, blocks)


def _reply(notice: Notice, ctx: Context) -> Delivery:
    payload = notice.payload
    url = payload.get("response_url")
    if not url:
        return Nothing("no response_url")
    what = payload.get("what")
    if what == "claim_lost":
        text = f"{named(payload.get('holder'))} has already claimed this one."
    elif what == "retry":
        text = views.retry_words(RetryResult.from_notice(payload))
    else:
        text = str(payload.get("text") or "")
    return Reply(str(url), text)


def _home(notice: Notice, ctx: Context) -> Delivery:
    org_id, user_id = str(notice.payload["org_id"]), str(notice.payload["user_id"])
    actor = Actor(team_id=org_id, user_id=user_id)
    home = ctx.home.home(actor, ctx.home.cursors(org_id, user_id))
    return Publish(user_id, home_views.home_view(home, ctx.locations))


RENDERERS: dict[NoticeKind, Renderer] = {
    NoticeKind.RESET_CONFIRMATION: _reset_confirmation,
    NoticeKind.RESET_SCREEN: _reset_screen,
    NoticeKind.RESET_TRIAGE: _reset_triage,
    NoticeKind.RESET_RETRY_NOTE: _reset_retry_note,
    NoticeKind.RESET_NOT_FOUND_STREAK: _reset_not_found_streak,
    NoticeKind.SALE_APPROVAL: _sale_approval,
    NoticeKind.SALE_DM: _sale_dm,
    NoticeKind.SALE_TRIAGE: _sale_triage,
    NoticeKind.SALE_NOTE: _sale_note,
    NoticeKind.SALE_TELL: _sale_tell,
    NoticeKind.SALE_REMINDER: _sale_ask,
    NoticeKind.SALE_ESCALATION: _sale_ask,
    NoticeKind.REPLY: _reply,
    NoticeKind.HOME: _home,
}

"""What reminders and escalations of a pending sale say: a reply in the approval
message's thread, a direct message to each person asked (with Review, so a phone
needs no trip to the channel), and, in the requester's DM, who has been asked and
when. Member data is masked as in the approvals channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.config import Location
from bot.slack.ids import SaleAction
from bot.slack.sale_views import sale_summary
from bot.slack.views import as_blocks, slack_date
from bot.workflows.reminders import AskReason, Target, version_started
from storage.models import Sale, SaleAsk


def _since(sale: Sale) -> str:
    started = version_started(sale)
    return slack_date(started) if started else "earlier"


def _review(sale: Sale) -> ActionsBlock:
    return ActionsBlock(
        elements=[
            ButtonElement(
                action_id=SaleAction.REVIEW, text="Review", style="primary", value=sale.id
            )
        ]
    )


def _people(users: Sequence[str]) -> str:
    return ", ".join(f"<@{user}>" for user in users)


def group_mention(usergroup: str) -> str:
    return f"<!subteam^{usergroup}>"


def thread_reply(
    sale: Sale, reason: AskReason, payload: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """The reply in the approval message's thread."""
    since = _since(sale)
    users = [str(u) for u in payload.get("users") or []]
    if reason is AskReason.REMINDER:
        if users:
            many = "managers who have" if len(users) > 1 else "manager who has"
            who = f"Reminded by direct message: {len(users)} {many} not opened it yet."
        elif payload.get("managers"):
            who = "Every manager here has opened it: one of them must decide."
        else:
            who = (
                "No manager of this location could be found to remind: an admin must grant "
                "the manager role here."
            )
        text = f":bell: Still waiting for a decision since {since}. {who}"
    else:
        usergroup = payload.get("usergroup")
        to = group_mention(str(usergroup)) if usergroup else _people(users)
        text = (
            f":rotating_light: Escalated to {to or 'nobody (the escalation group is empty)'}: "
            f"this sale has waited for a decision since {since}."
        )
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=text)), _review(sale)]
    return text, as_blocks(blocks)


def direct_message(
    sale: Sale, location: Location | None, reason: AskReason
) -> tuple[str, list[dict[str, Any]]]:
    """The direct message to a manager being reminded, or a person escalated to."""
    since = _since(sale)
    summary = sale_summary(sale, location)
    if reason is AskReason.REMINDER:
        text = (
            f":bell: A sale waits for your decision since {since}: {summary}, "
            f"requested by <@{sale.user_id}>."
        )
    else:
        text = (
            f":rotating_light: Escalated to you: nobody has decided this sale since {since}: "
            f"{summary}, requested by <@{sale.user_id}>."
        )
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        _review(sale),
        ContextBlock(elements=[MarkdownTextObject(text=f"ref `{sale.id}`")]),
    ]
    return text, as_blocks(blocks)


def asked_lines(asks: Sequence[SaleAsk]) -> list[str]:
    """Who has been asked about this version and when, a line per time they were
    asked (oldest first): the approvals channel, reminders, escalations."""
    lines: list[str] = []
    for reason in (AskReason.REQUEST, AskReason.REMINDER, AskReason.ESCALATION):
        rows = [a for a in asks if a.reason == reason.value]
        if not rows:
            continue
        when = slack_date(min(a.at for a in rows))
        channels = [a.target_id for a in rows if a.target_kind == Target.CHANNEL.value]
        users = [a.target_id for a in rows if a.target_kind == Target.USER.value]
        groups = [a.target_id for a in rows if a.target_kind == Target.USERGROUP.value]
        if reason is AskReason.REQUEST:
            where = ", ".join(f"<#{c}>" for c in channels)
            lines.append(f"Sent for approval {when} in {where}")
        elif reason is AskReason.REMINDER:
            dms = f", and by direct message {_people(users)}" if users else ""
            lines.append(f"Reminder {when}: in the approval thread{dms}")
        else:
            named = [group_mention(g) for g in groups] + [f"<@{u}>" for u in users]
            lines.append(f"Escalated {when} to {', '.join(named) or 'nobody'}")
    return lines


def asked_block(asks: Sequence[SaleAsk]) -> SectionBlock | None:
    """The requester's DM: who has been asked about the sale as it is, and when."""
    lines = asked_lines(asks)
    if not lines:
        return None
    text = "*Who has been asked*\n" + "\n".join(f"• {line}" for line in lines)
    return SectionBlock(text=MarkdownTextObject(text=text))

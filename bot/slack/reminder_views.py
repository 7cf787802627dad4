"""What reminders and escalations of a pending sale say: a reply in the approval
message's thread, a direct message to each person asked (with Review, so a phone
needs no trip to the channel), and, in the requester's DM, who has been asked and
when. Member data is masked as in the approvals channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
from bot.workflows.people import named
from bot.workflows.reminders import AskReason, Target, round_of
from storage.models import Sale, SaleAsk

#: At most this many people are named in one message; the rest are counted (a
#: section's text takes 3000 characters, and a chain can have hundreds of managers).
NAMED = 20


def _since(sale: Sale, reason: AskReason) -> str:
    """Since when the sale has waited, for this step: the escalation counts from the
    submission, the reminder from this version's."""
    started = round_of(sale, reason)
    return slack_date(started) if started else "earlier"


def _review(sale: Sale) -> ActionsBlock:
    return ActionsBlock(
        elements=[
            ButtonElement(
                action_id=SaleAction.REVIEW, text="Review", style="primary", value=sale.id
            )
        ]
    )


def _people(users: Sequence[str], groups: Sequence[str] = ()) -> str:
    """Mentions of the groups and people, the first :data:`NAMED` of them, then how
    many others."""
    mentions = [group_mention(g) for g in groups] + [named(user) for user in users]
    if len(mentions) <= NAMED:
        return ", ".join(mentions)
    return f"{', '.join(mentions[:NAMED])} and {len(mentions) - NAMED} others"


def group_mention(usergroup: str) -> str:
    return f"<!subteam^{usergroup}>"


def thread_reply(
    sale: Sale, reason: AskReason, payload: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """The reply in the approval message's thread."""
    since = _since(sale, reason)
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
        to = _people(users, [str(usergroup)] if usergroup else [])
        if to:
            text = (
                f":rotating_light: Escalated to {to}: this sale has waited for a decision "
                f"since {since}. They may decide it."
            )
        else:
            text = (
                f":rotating_light: This sale has waited for a decision since {since}, but "
                f"nobody could be asked to decide it: {_nobody(payload)} An admin must add "
                "someone else to this location's escalation_group."
            )
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=text)), _review(sale)]
    return text, as_blocks(blocks)


def _nobody(payload: dict[str, Any]) -> str:
    """Why an escalation asked nobody: who is in the group, and why each was left out."""
    requester = [str(u) for u in payload.get("requester") or []]
    approved = [str(u) for u in payload.get("approved") or []]
    why = []
    if requester:
        why.append(f"{_people(requester)} requested it (a requester never decides their own sale)")
    if approved:
        why.append(f"{_people(approved)} approved it already")
    if not why:
        return "the escalation group names nobody."
    return f"the escalation group is only {_people(requester + approved)}: {'; '.join(why)}."


def direct_message(
    sale: Sale, location: Location | None, reason: AskReason
) -> tuple[str, list[dict[str, Any]]]:
    """The direct message to a manager being reminded, or a person escalated to."""
    since = _since(sale, reason)
    summary = sale_summary(sale, location)
    if reason is AskReason.REMINDER:
        text = (
            f":bell: A sale waits for your decision since {since}: {summary}, "
            f"requested by <@{sale.user_id}>."
        )
    else:
        text = (
            f":rotating_light: Escalated to you: nobody has decided this sale since {since}: "
            f"{summary}, requested by <@{sale.user_id}>. You may decide it: Review, then "
            "Approve or Reject."
        )
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        _review(sale),
        ContextBlock(elements=[MarkdownTextObject(text=f"ref `{sale.id}`")]),
    ]
    return text, as_blocks(blocks)


def asked_lines(asks: Sequence[SaleAsk], refused: bool = False) -> list[str]:
    """Who has been asked about the sale as it is and when, a line per time they were
    asked (oldest first): the approvals channel, reminders, escalations. Only what did
    happen: ``refused``, Slack refused the approval message for good (the channel is
    gone, frontdesk not in it), so nothing was posted there nor in its thread (its
    abandonment refreshes this DM; a message still on its way is posted before any
    reply in its thread)."""
    lines: list[tuple[datetime, str]] = []
    thread = not refused
    for reason in (AskReason.REQUEST, AskReason.REMINDER, AskReason.ESCALATION):
        rows = [a for a in asks if a.reason == reason.value]
        if not rows:
            continue
        at = min(a.at for a in rows)
        when = slack_date(at)
        channels = [a.target_id for a in rows if a.target_kind == Target.CHANNEL.value]
        users = [a.target_id for a in rows if a.target_kind == Target.USER.value]
        groups = [a.target_id for a in rows if a.target_kind == Target.USERGROUP.value]
        where = ", ".join(f"<#{c}>" for c in channels)
        if reason is AskReason.REQUEST:
            if refused:
                line = (
                    f"Sent for approval {when}, but Slack refused the message in {where}: "
                    "nobody saw it there. Tell an admin (frontdesk must be in that channel)"
                )
            else:
                line = f"Sent for approval {when} in {where}"
        elif reason is AskReason.REMINDER:
            how = (["in the approval thread"] if thread else []) + (
                [f"by direct message {_people(users)}"] if users else []
            )
            line = f"Reminder {when}: {', and '.join(how) or 'nobody could be reminded'}"
        else:
            to = _people(users, groups)
            if to and thread:
                line = f"Escalated {when} to {to}"
            elif users:
                line = f"Escalated {when} by direct message to {_people(users)}"
            else:
                line = f"Escalation due {when}, but nobody could be asked"
        lines.append((at, line))
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]


def asked_block(asks: Sequence[SaleAsk], refused: bool = False) -> SectionBlock | None:
    """The requester's DM: who has been asked about the sale as it is, and when."""
    lines = asked_lines(asks, refused)
    if not lines:
        return None
    text = "*Who has been asked*\n" + "\n".join(f"• {line}" for line in lines)
    return SectionBlock(text=MarkdownTextObject(text=text))

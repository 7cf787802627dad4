"""App Home, triage resolve modal and the roles modal, built with slack_sdk's models.

A home stays well inside Slack's 100 blocks: each list is one page of ten,
one block per item (a failure's actions live in an overflow menu).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.config import Location
from bot.slack.ids import AdminAction, AdminView, HomeAction, TriageView
from bot.slack.views import VENDOR_NAMES, escape
from bot.workflows.home import Home
from bot.workflows.roles import ALL_LOCATIONS, Role
from bot.workflows.triage import Item, Kind
from storage.models import RoleGrant

STATUS_WORDS = {
    "sent": ":white_check_mark: sent",
    "sold": ":white_check_mark: sold",
    "refused": ":x: refused",
    "failed": ":warning: vendor unavailable",
    "unknown": ":grey_question: outcome unknown",
    "not_sold": ":heavy_minus_sign: not sold",
    "queued": ":hourglass_flowing_sand: queued",
    "sending": ":hourglass_flowing_sand: sending",
    "submitting": ":hourglass_flowing_sand: sending",
    "approved": ":hourglass_flowing_sand: approved",
    "pending_approval": ":hourglass: waiting for approval",
    "rejected": ":no_entry: rejected",
    "expired": ":alarm_clock: expired",
    "cancelled": "cancelled",
    "draft": "draft",
}


def _when(moment: datetime) -> str:
    stamp = int(moment.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='minutes')}>"


def item_line(item: Item, locations: dict[str, Location]) -> str:
    where = locations.get(item.location_id)
    place = escape(where.name if where else item.location_id)
    what = "Sale" if item.kind is Kind.SALE else "Reset"
    amount = f" ${escape(item.amount)}" if item.amount else ""
    vendor = VENDOR_NAMES.get(item.vendor, item.vendor)
    line = (
        f"*{what}*{amount} · {escape(item.member)} · {place} ({vendor}) · "
        f"{STATUS_WORDS.get(item.status, item.status)} · {_when(item.at)}"
    )
    return line


def history_text(items: list[Item], locations: dict[str, Location]) -> str:
    """``/frontdesk history`` and the shortcuts: one member's resets and sales."""
    if not items:
        return "Nothing found for that member at your locations."
    lines = [item_line(item, locations) for item in items]
    return "Member history, newest first:\n" + "\n".join(lines)


def _pager(section: str, cursor: str | None, cursors: dict[str, str]) -> list[Any]:
    buttons = []
    if section in cursors:
        buttons.append(
            ButtonElement(
                action_id=HomeAction.PAGE,
                text="Back to the start",
                value=json.dumps({**cursors, section: ""}),
            )
        )
    if cursor:
        buttons.append(
            ButtonElement(
                action_id=f"{HomeAction.PAGE}_{section}",
                text="More",
                value=json.dumps({**cursors, section: cursor}),
            )
        )
    return [ActionsBlock(elements=buttons)] if buttons else []


def failure_menu(item: Item) -> OverflowMenuElement:
    value = f"{item.kind.value}:{item.id}"
    options = []
    if not item.claimed_by:
        options.append(Option(value=f"claim:{value}", text="Claim"))
    if item.kind is Kind.RESET:
        options.append(Option(value=f"retry:{value}", text="Retry"))
    if item.kind is Kind.SALE and item.status == "unknown":
        options.append(Option(value=f"reconcile:{value}", text="Reconcile"))
    else:
        options.append(Option(value=f"resolve:{value}", text="Resolve"))
    return OverflowMenuElement(action_id=HomeAction.FAILURE_MENU, options=options)


def home_view(home: Home, locations: dict[str, Location]) -> dict[str, Any]:
    blocks: list[Any] = [HeaderBlock(text="frontdesk")]
    roles = ", ".join(sorted(r.value.replace("_", " ") for r in home.roles)) or "none"
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Your roles: {roles}. `/reset` · `/sell` · `/frontdesk history …`"
                    + (" · `/frontdesk roles`" if Role.ADMIN in home.roles else "")
                )
            ]
        )
    )
    blocks.append(
        ActionsBlock(
            elements=[ButtonElement(action_id=HomeAction.REFRESH, text="Refresh", value="{}")]
        )
    )
    if not home.roles:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text="You have no role yet. An admin can grant one with `/frontdesk roles`."
                )
            )
        )
    if home.setup_problems:
        lines = "\n".join(f"• {escape(line)}" for line in home.setup_problems[:20])
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":warning: *The bot cannot post in these channels*\n{lines}"[:3000]
                )
            )
        )
    if home.failures is not None:
        blocks += [DividerBlock(), HeaderBlock(text="Open failures, oldest first")]
        if home.counts:
            counts = " · ".join(
                f"{VENDOR_NAMES.get(vendor, vendor)} {outcome}: {count}"
                for (vendor, outcome), count in sorted(home.counts.items())
            )
            blocks.append(
                ContextBlock(elements=[MarkdownTextObject(text=f"Last 24 hours: {counts}"[:2000])])
            )
        for item in home.failures.items:
            claimed = f"\n:raising_hand: <@{item.claimed_by}>" if item.claimed_by else ""
            detail = f"\n_{escape(item.detail or '')[:200]}_" if item.detail else ""
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(
                        text=f"{item_line(item, locations)} · by <@{item.requester}>"
                        f"{detail}{claimed}"[:3000]
                    ),
                    accessory=failure_menu(item),
                )
            )
        if not home.failures.items:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="Nothing open. :tada:")))
        blocks += _pager("failures", home.failures.next_cursor, home.cursors)
    if home.approvals is not None:
        blocks += [DividerBlock(), HeaderBlock(text="Sales waiting for approval")]
        for item in home.approvals.items:
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(
                        text=f"{item_line(item, locations)} · by <@{item.requester}>"
                    ),
                    accessory=ButtonElement(
                        action_id=HomeAction.REVIEW, text="Review", value=item.id
                    ),
                )
            )
        if not home.approvals.items:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="None waiting.")))
        blocks += _pager("approvals", home.approvals.next_cursor, home.cursors)
        if home.location_sales:
            lines = "\n".join(item_line(i, locations) for i in home.location_sales)
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=f"*Recent sales*\n{lines}"[:3000]))
            )
    if home.abandoned is not None:
        total, latest = home.abandoned
        blocks += [DividerBlock(), HeaderBlock(text="Slack notices given up")]
        if not total:
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text="None in the last week. :tada:"))
            )
        else:
            given_up = [
                f"`{escape(n.kind)}` · {escape(n.subject_type or '')} "
                f"`{escape(n.subject_id or '-')}` · {escape(n.reason or '')[:120]} · {_when(n.at)}"
                for n in latest
            ]
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(
                        text=(
                            f"*{total}* in the last week (never delivered to Slack; what "
                            "they reported is stored):\n" + "\n".join(given_up)
                        )[:3000]
                    )
                )
            )
    if home.recent is not None:
        blocks += [DividerBlock(), HeaderBlock(text="Your recent requests")]
        for item in home.recent.items:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=item_line(item, locations))))
        if not home.recent.items:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="None yet.")))
        blocks += _pager("recent", home.recent.next_cursor, home.cursors)
    view = View(type="home", blocks=blocks, private_metadata=json.dumps(home.cursors))
    view.validate_json()
    return view.to_dict()


def resolve_modal(kind: Kind, item_id: str, summary: str) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=TriageView.RESOLVE,
        title=PlainTextObject(text="Resolve"),
        submit=PlainTextObject(text="Resolve"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"kind": kind.value, "id": item_id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=summary[:3000])),
            InputBlock(
                block_id=TriageView.NOTE_BLOCK,
                label="What was done? (the next person reads this)",
                element=PlainTextInputElement(
                    action_id=TriageView.NOTE_INPUT, multiline=True, max_length=2000
                ),
            ),
        ],
    )
    view.validate_json()
    return view.to_dict()


def roles_modal(grants: list[RoleGrant], locations: dict[str, Location]) -> dict[str, Any]:
    """Grant a role (user, role, locations or all); the current grants with Revoke."""
    everywhere = Option(value=ALL_LOCATIONS, text="All locations")
    blocks: list[Any] = [
        InputBlock(
            block_id=AdminView.USER_BLOCK,
            label="Person",
            element=UserSelectElement(action_id=AdminView.USER_INPUT),
        ),
        InputBlock(
            block_id=AdminView.ROLE_BLOCK,
            label="Role",
            element=StaticSelectElement(
                action_id=AdminView.ROLE_INPUT,
                options=[Option(value=r.value, text=r.value.replace("_", " ")) for r in Role],
            ),
        ),
        InputBlock(
            block_id=AdminView.LOCATIONS_BLOCK,
            label="Where",
            element=StaticMultiSelectElement(
                action_id=AdminView.LOCATIONS_INPUT,
                options=[everywhere]
                + [
                    Option(value=loc.id, text=loc.name[:75])
                    for loc in list(locations.values())[:99]
                ],
                initial_options=[everywhere],
            ),
        ),
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=f"*Current grants* ({len(grants)})")),
    ]
    for grant in grants[:40]:
        where = grant.location_id or "all locations"
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"<@{grant.user_id}> · {grant.role.replace('_', ' ')} · {escape(where)}"
                ),
                accessory=ButtonElement(
                    action_id=AdminAction.REVOKE, text="Revoke", value=str(grant.id)
                ),
            )
        )
    if len(grants) > 40:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text="More grants: `frontdesk roles list` shows them all.")
                ]
            )
        )
    view = View(
        type="modal",
        callback_id=AdminView.ROLES,
        title=PlainTextObject(text="Roles"),
        submit=PlainTextObject(text="Grant"),
        close=PlainTextObject(text="Done"),
        blocks=blocks,
    )
    view.validate_json()
    return view.to_dict()

"""App Home, triage resolve modal and the roles modal, built with slack_sdk's models.

A home stays well inside Slack's 100 blocks: each list is one page of ten,
one block per item (a failure's actions live in an overflow menu).
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
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
from bot.slack.wording import (
    NOTICE_WORDS,
    ROLE_LINES,
    clause,
    escape,
    place,
    role_name,
    slack_date,
    status_words,
    vendor_name,
)
from bot.workflows.home import Home, HomeStart
from bot.workflows.people import any_of, named
from bot.workflows.roles import ALL_LOCATIONS, Role
from bot.workflows.triage import Item, Kind
from storage.models import RoleGrant


def item_line(item: Item, locations: dict[str, Location]) -> str:
    where = place(locations.get(item.location_id), item.location_id)
    what = "Sale" if item.kind is Kind.SALE else "Reset"
    amount = f" ${escape(item.amount)}" if item.amount else ""
    return (
        f"*{what}*{amount} · {escape(item.member)} · {where} ({vendor_name(item.vendor)}) · "
        f"{status_words(item.status)} · {slack_date(item.at)}"
    )


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
    if item.kind is Kind.RESET and item.retryable:
        options.append(Option(value=f"retry:{value}", text="Retry"))
    if item.kind is Kind.SALE and item.status == "unknown":
        options.append(Option(value=f"reconcile:{value}", text="Reconcile"))
    else:
        options.append(Option(value=f"resolve:{value}", text="Resolve"))
    return OverflowMenuElement(action_id=HomeAction.FAILURE_MENU, options=options)


#: Home's buttons: what each starts, with the same modal as its command.
START_BUTTONS = {
    HomeStart.RESET: (HomeAction.RESET, "Reset a password"),
    HomeStart.SELL: (HomeAction.SELL, "Sell a membership"),
    HomeStart.ROLES: (HomeAction.ROLES, "Manage roles"),
}

ABOUT = (
    "*frontdesk* resets members' passwords (ClubReady, Registrar, Paytronix) and sells "
    "memberships from Slack: the front desk asks, managers approve sales, support follows "
    "up on anything that went wrong."
)


def _admins(admins: list[str]) -> str:
    if not admins:
        return "an admin of frontdesk (whoever installed it in Slack)"
    return any_of(admins)


def counts_line(counts: dict[tuple[str, str], int]) -> str:
    """The last day's outcomes in plain words: ``ClubReady: 2 resets sent, 1 sale not
    sold``."""
    by_vendor: dict[str, list[str]] = {}
    for (vendor, outcome), count in sorted(counts.items()):
        kind, _, status = outcome.partition(" ")
        noun = kind if count == 1 else f"{kind}s"
        by_vendor.setdefault(vendor, []).append(
            f"{count} {noun} {status_words(status, emoji=False)}"
        )
    return " · ".join(
        f"{vendor_name(vendor)}: {', '.join(parts)}" for vendor, parts in by_vendor.items()
    )


def home_view(home: Home, locations: dict[str, Location]) -> dict[str, Any]:
    blocks: list[Any] = [HeaderBlock(text="frontdesk")]
    if not home.roles:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=ABOUT)))
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text="You have no role in frontdesk yet, so there is nothing here for you "
                    f"to do. To reset passwords, sell or follow up, ask {_admins(home.admins)} "
                    "to give you a role."
                )
            )
        )
    else:
        roles = ", ".join(sorted(role_name(r.value) for r in home.roles))
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Your roles: {roles}.")]))
    buttons = [
        ButtonElement(
            action_id=action_id,
            text=label,
            value=start.value,
            style="primary" if start is HomeStart.RESET else None,
        )
        for start, (action_id, label) in START_BUTTONS.items()
        if start in home.actions
    ]
    buttons.append(ButtonElement(action_id=HomeAction.REFRESH, text="Refresh", value="{}"))
    blocks.append(ActionsBlock(elements=buttons))
    if Role.ADMIN in home.roles:
        held = [
            f"• *{role_name(role.value)}* ({home.people_by_role.get(role, 0)}): "
            f"{ROLE_LINES[role.value]}"
            for role in Role
        ]
        blocks += [
            DividerBlock(),
            HeaderBlock(text="Who does what"),
            SectionBlock(
                text=MarkdownTextObject(
                    text="People with each role (granted here; Slack user groups mapped to "
                    "roles come on top):\n" + "\n".join(held)
                )
            ),
        ]
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
            blocks.append(
                ContextBlock(
                    elements=[
                        MarkdownTextObject(text=f"Last 24 hours: {counts_line(home.counts)}"[:2000])
                    ]
                )
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
                f"{escape(NOTICE_WORDS.get(n.kind, n.kind))} · ref `{escape(n.subject_id or '-')}`"
                f" · {clause(n.reason)[:120]} · {slack_date(n.at)}"
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


def resolve_modal(item: Item, locations: dict[str, Location]) -> dict[str, Any]:
    """Close a failure with a note: which failure, in words (member masked, location,
    what failed), so it can be told apart on a phone."""
    what = clause(item.detail)[:1500] or "no detail from the vendor"
    summary = f"Resolve this failure?\n{item_line(item, locations)}\nWhat failed: {what}."
    kind, item_id = item.kind, item.id
    view = View(
        type="modal",
        callback_id=TriageView.RESOLVE,
        title=PlainTextObject(text="Resolve"),
        submit=PlainTextObject(text="Resolve"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"kind": kind.value, "id": item_id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=summary[:3000])),
            ContextBlock(elements=[MarkdownTextObject(text=f"ref `{item_id}`")]),
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
    """Grant a role (user, role, locations or all), each role explained in a line; the
    current grants by location name, each with a Revoke that asks first."""
    everywhere = Option(value=ALL_LOCATIONS, text="All locations")
    explained = "\n".join(f"• *{role_name(r.value)}*: {ROLE_LINES[r.value]}" for r in Role)
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
                options=[Option(value=r.value, text=role_name(r.value)) for r in Role],
            ),
        ),
        ContextBlock(elements=[MarkdownTextObject(text=explained)]),
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
            hint="Support and admins act everywhere, whatever is chosen here.",
        ),
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=f"*Current grants* ({len(grants)})")),
    ]
    for grant in grants[:40]:
        location = locations.get(grant.location_id or "")
        where = place(location, grant.location_id)
        role = role_name(grant.role)
        # A confirm dialog's text is plain text (no mentions, no formatting).
        plain_where = location.name if location else grant.location_id or "all locations"
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=f"{named(grant.user_id)} · {role} · {where}"),
                accessory=ButtonElement(
                    action_id=AdminAction.REVOKE,
                    text="Revoke",
                    value=str(grant.id),
                    confirm=ConfirmObject(
                        title="Revoke this role?",
                        text=PlainTextObject(
                            text=f"The person on this row will no longer be {role} at "
                            f"{plain_where}."[:300]
                        ),
                        confirm="Revoke",
                        deny="Keep it",
                        style="danger",
                    ),
                ),
            )
        )
    if len(grants) > 40:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"The first 40 of {len(grants)} grants are shown; revoke some to "
                        "see the others."
                    )
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

"""``help`` after any command (``/reset help``, ``/sell help``, ``/frontdesk help``): what
this person may do, with examples for their own locations, in mrkdwn for a private
answer. Built from what the workflows say the person may do (their grants, read from
the database when the command arrives), never from the payload."""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import ClubReadyLocation, Location
from bot.slack.context import Services
from bot.slack.wording import place, vendor_name
from bot.workflows.command_words import location_list, takes
from bot.workflows.errors import NotAuthorized
from bot.workflows.roles import Actor, Grant, Permission, Role, allows
from bot.workflows.sales import money

#: An example of each identifier, as a person would type it.
EXAMPLES = {
    "email": "jane@example.com",
    "username": "janedoe",
    "account_id": "7001",
    "card": "6000100020003000",
}
SHOWN = 6


def _example(location: Location) -> str:
    kind = "email" if "email" in location.identifier_fields else location.identifier_fields[0]
    return EXAMPLES[kind]


def _name(location: Location) -> str:
    return f"*{place(location)}* (`{location.id}`, {vendor_name(location.vendor)})"


def reset_help(allowed: Sequence[Location], last: str | None, grants: Sequence[Grant]) -> str:
    """``/reset help`` for a person who may reset at ``allowed`` (never empty: someone
    who may reset nowhere gets the refusal, which names the admins)."""
    default = next((loc for loc in allowed if loc.id == last), allowed[0])
    other = next((loc for loc in allowed if loc.id != default.id), None)
    lines = [
        "*Reset a member's password.* You always see the member as you typed it, with "
        "Send, before anything is sent.",
        f"• `/reset` opens the form (at {default.name}, the last place you used).",
        f"• `/reset {_example(default)}` asks you to confirm here, privately, at "
        f"{default.name}; the outcome shows here too, and a record stays in your messages "
        "with frontdesk.",
    ]
    if other is not None:
        lines.append(
            f"• `/reset {_example(other)} {other.name}` (or `{other.id}`, any case) resets at "
            f"another of your locations; `/reset {other.name}` opens the form there."
        )
    if allows(grants, Permission.RESET_OVERRIDE_LIMIT, None):
        lines.append(
            "• As support you reset at every location, and may send past the hourly limit "
            "(Send anyway)."
        )
    lines.append("*Where you reset, and how each finds a member:*")
    for location in allowed[:SHOWN]:
        lines.append(
            f"• {_name(location)}: {takes(location)}, e.g. "
            f"`/reset {_example(location)} {location.id}`"
        )
    if len(allowed) > SHOWN:
        lines.append(f"• and {len(allowed) - SHOWN} more: {location_list(allowed[SHOWN:], 10)}")
    return "\n".join(lines)


def sell_help(selling: Sequence[ClubReadyLocation], grants: Sequence[Grant]) -> str:
    """``/sell help`` for a person who may sell at ``selling`` (never empty)."""
    first = selling[0]
    lines = [
        "*Sell a membership.* A form takes the package and start date, then the new "
        "member and the payment; you review it all before it goes anywhere.",
        f"• `/sell` opens the form (at {first.name}).",
        f"• `/sell {first.name}` (or `/sell {first.id}`, any case) opens it at that location.",
        "*Where you sell:*",
    ]
    for location in selling[:SHOWN]:
        packages = ", ".join(f"{i.name} ${money(i.amount)}" for i in location.catalog[:5])
        if allows(grants, Permission.APPROVE_SALE, location.id):
            limit = location.manager_sale_limit
            how = "you may sell now, without approval" + (
                f", up to ${money(limit)} (above it two other managers approve)"
                if limit is not None
                else ""
            )
        else:
            how = "a manager of the location approves each sale before it is charged"
        lines.append(f"• {_name(location)}: {packages or 'no packages'}; {how}.")
    if len(selling) > SHOWN:
        lines.append(f"• and {len(selling) - SHOWN} more: {location_list(selling[SHOWN:], 10)}")
    return "\n".join(lines)


def frontdesk_help(
    grants: Sequence[Grant],
    resets_at: Sequence[Location],
    sells_at: Sequence[Location],
    refusal: str | None,
) -> str:
    """``/frontdesk help`` (and ``/frontdesk`` alone): the commands this person may use.
    ``refusal``: for a person with no role, the words that name who can grant one."""
    lines = ["*frontdesk* resets members' passwords and sells memberships from Slack."]
    if resets_at:
        lines.append(
            f"• `/reset jane@example.com`: reset a member's password at "
            f"{location_list(resets_at, 3)}. `/reset help` for more."
        )
    if sells_at:
        lines.append(
            f"• `/sell`: sell a membership at {location_list(sells_at, 3)}. `/sell help` for more."
        )
    if allows(grants, Permission.HISTORY, None):
        lines.append(
            "• `/frontdesk history jane@example.com`: one member's resets and sales "
            "(also by username, account id or card number)."
        )
    if allows(grants, Permission.TRIAGE, None):
        lines.append(
            "• Failures come to your triage channel with Claim, Retry and Resolve "
            "(also on your App Home)."
        )
    if any(g.role is Role.ADMIN for g in grants):
        lines.append(
            "• `/frontdesk roles`: grant and revoke roles. `/frontdesk roles refresh`: read "
            "the mapped Slack user groups again."
        )
    if len(lines) == 1:
        lines.append(refusal or "You have no role in frontdesk yet: ask an admin for one.")
    return "\n".join(lines)


def help_for(services: Services, actor: Actor) -> str:
    """:func:`frontdesk_help` for this person, from their grants now (someone with no
    role is told what frontdesk is and whom to ask)."""
    grants = services.resets.grants_of(actor)
    refusal = None
    if not grants:
        try:
            services.resets.require(actor, Permission.RESET, None)
        except NotAuthorized as error:
            refusal = str(error)
    return frontdesk_help(
        grants,
        services.resets.locations_for(actor) if grants else [],
        services.sales.locations_for(actor) if grants else [],
        refusal,
    )

"""The domain's exceptions, all in one place. Workflows raise these and nothing else
as signals; the Slack layer maps each to what a person sees (``bot/slack/errors.py``).

    FrontdeskError
    ├── NotAuthorized   the actor lacks a role for this, here (says who can grant it)
    ├── InvalidInput    field errors, keyed by form field; nothing was recorded
    ├── Conflict        the thing is not in a state that allows this (plain words why)
    │   └── SelfApproval
    └── NotFound        it does not exist (any more)

Anything else escaping a workflow is a bug: the person sees a short reference
that support finds in the logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.workflows.people import any_of


class FrontdeskError(Exception):
    """Base of every expected refusal; ``str()`` is what the person is told."""


class NotAuthorized(FrontdeskError):
    """A refusal that says, in plain words, what the person cannot do where, and
    who can grant it."""

    def __init__(
        self,
        *,
        permission: str,
        doing: str,
        roles: Sequence[str],
        location_id: str | None = None,
        location_name: str | None = None,
        admins: Sequence[str] = (),
        everywhere: bool = False,
    ) -> None:
        self.permission = permission
        self.location_id = location_id
        self.roles = tuple(roles)
        self.admins = tuple(admins)
        place = location_name or location_id
        where = f" at {place}" if place else ""
        # A role held everywhere (support, admin) is not a role "there".
        there = " there" if place and not everywhere else ""
        names = list(roles)
        needed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        who = (
            f"Ask {any_of(admins)} (frontdesk's {'admins' if len(admins) > 1 else 'admin'}) "
            "to give it to you."
            if admins
            else "Ask whoever installed frontdesk in Slack (its admin) to give it to you."
        )
        super().__init__(f"You can't {doing}{where}: that needs the {needed} role{there}. {who}")


class InvalidInput(FrontdeskError):
    """Field errors keyed by form field (``email``, ``payment1_amount``, …)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


class Conflict(FrontdeskError):
    """Not in a state that allows this; the message says why, plainly."""


class SelfApproval(Conflict):
    def __init__(self) -> None:
        super().__init__("You requested this sale, so another manager has to approve it.")


class NotFound(FrontdeskError):
    """It does not exist, or no longer does."""

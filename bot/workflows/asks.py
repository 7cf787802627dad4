"""Who has been asked to decide a pending sale, in rounds: the vocabulary shared by
the sale workflow (the request to the approvals channel, who may decide) and the
reminders (:mod:`bot.workflows.reminders`), in ``sale_asks``.

A round is keyed on when it began, never on the sale's content: a sale changed back
to an earlier version (A, B, A) is a new round, asked and reminded again. The
request and the reminder belong to the version's round (its submission, or its last
change); the escalation to the submission's, so editing cannot hold it off.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from storage.models import GroupMembership, Sale, SaleAsk


class AskReason(StrEnum):
    REQUEST = "request"  # the approvals channel, when the version was sent for approval
    REMINDER = "reminder"
    ESCALATION = "escalation"


class Target(StrEnum):
    CHANNEL = "channel"  # the approvals channel (the message, or a reply in its thread)
    USER = "user"  # a direct message
    USERGROUP = "usergroup"  # mentioned in the thread


def version_started(sale: Sale) -> datetime | None:
    """When the approvers were asked about this version of a pending sale: when it was
    submitted, or when it last changed after that (the round of its request and
    reminder)."""
    return sale.changed_at or sale.submitted_at


def round_of(sale: Sale, reason: AskReason) -> datetime | None:
    """The round an ask of ``reason`` about the sale as it is now belongs to: the
    escalation's is the submission (a change does not restart it), the others' the
    version's start."""
    return sale.submitted_at if reason is AskReason.ESCALATION else version_started(sale)


def current_asks(sale: Sale, asks: Iterable[SaleAsk]) -> list[SaleAsk]:
    """Those of ``asks`` about the sale as it is now: this round's request and reminder,
    and the escalation of this submission."""
    return [a for a in asks if a.round_at == round_of(sale, AskReason(a.reason))]


def escalated_to(session: Session, sale: Sale, user_id: str) -> bool:
    """Whether this submission of the sale was escalated to the person, by name or
    through a user group they are in (its members as last read from Slack): those
    people may decide it, the point of escalating, even without the manager role at
    the location (they still never decide their own)."""
    if sale.submitted_at is None:
        return False
    mine = ((SaleAsk.target_kind == Target.USER.value) & (SaleAsk.target_id == user_id)) | (
        (SaleAsk.target_kind == Target.USERGROUP.value)
        & exists().where(
            GroupMembership.org_id == sale.org_id,
            GroupMembership.usergroup_id == SaleAsk.target_id,
            GroupMembership.user_id == user_id,
        )
    )
    return bool(
        session.scalar(
            select(
                exists().where(
                    SaleAsk.sale_id == sale.id,
                    SaleAsk.reason == AskReason.ESCALATION.value,
                    SaleAsk.round_at == sale.submitted_at,
                    mine,
                )
            )
        )
    )

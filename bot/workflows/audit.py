"""The append-only audit trail: who did what, when (never member data in clear)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from bot.clock import Clock
from storage.models import AuditEvent

#: Built once: every audit row is the same statement with other values.
_INSERT = insert(cast(Table, AuditEvent.__table__))


def record(
    session: Session,
    clock: Clock,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    location_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.execute(
        _INSERT,
        {
            "at": clock.now(),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "location_id": location_id,
            "details": details or {},
        },
    )

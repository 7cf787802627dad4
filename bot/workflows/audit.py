"""The append-only audit trail: who did what, when (never member data in clear)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.clock import Clock
from storage.models import AuditEvent


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
    session.add(
        AuditEvent(
            at=clock.now(),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            location_id=location_id,
            details=details or {},
        )
    )

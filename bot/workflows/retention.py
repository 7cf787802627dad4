"""Retention: member data older than the retention period is purged; the audit trail
keeps who did what, without the member's data. Exporting the audit trail.

Purging is idempotent (it only touches rows that still hold data), so every
process may run it daily without coordination.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update

from bot.clock import Clock
from storage.db import Database
from storage.models import (
    AuditEvent,
    ResetIdentifier,
    ResetRequest,
    Sale,
    SaleSeen,
    VendorAttempt,
)

PURGED = "(purged)"
AUDIT_FIELDS = [
    "id",
    "at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "location_id",
    "details",
]
#: Audit details that can hold member data or free text about a member.
PERSONAL_DETAILS = ("member", "note", "reason")


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    resets: int
    sales: int
    vendor_attempts: int
    audit_events: int


def purge(
    db: Database, clock: Clock, retention_days: int, *, audit_window_days: int | None = None
) -> PurgeReport:
    """Purge member data older than ``retention_days``.

    Audit details are rewritten row by row; ``audit_window_days`` bounds that to the
    events that crossed the cutoff recently (the daily run), while ``None`` sweeps
    them all (the command line, to catch up).
    """
    cutoff = clock.now() - timedelta(days=retention_days)
    with db.session() as session:
        resets = session.execute(
            update(ResetRequest)
            .where(ResetRequest.created_at < cutoff, ResetRequest.identifier_masked != PURGED)
            .values(
                identity=None,
                identifier_masked=PURGED,
                identifier_hash="",
                sent_to_masked=None,
                outcome_message=None,
                late_outcome_message=None,
                resolution_note=None,
                screen_url=None,
                screen_view_id=None,
            )
        ).rowcount  # type: ignore[attr-defined]
        # The hashes a member's hourly limit was counted by go with the member's data.
        session.execute(
            delete(ResetIdentifier).where(
                ResetIdentifier.request_id.in_(
                    select(ResetRequest.id).where(ResetRequest.created_at < cutoff)
                )
            )
        )
        sales = session.execute(
            update(Sale)
            .where(
                Sale.created_at < cutoff,
                Sale.member_masked != PURGED,
                Sale.sealed_tokens.is_(None),
            )
            .values(
                member=None,
                member_masked=PURGED,
                member_email_hash=None,
                payments=[],
                outcome_message=None,
                rejection_reason=None,
                reconciled_note=None,
                resolution_note=None,
                late_outcome_message=None,
            )
        ).rowcount  # type: ignore[attr-defined]
        # What approvers saw of those sales (masked member fields): not kept either.
        session.execute(
            delete(SaleSeen).where(
                SaleSeen.sale_id.in_(select(Sale.id).where(Sale.created_at < cutoff))
            )
        )
        attempts = session.execute(
            update(VendorAttempt)
            .where(VendorAttempt.created_at < cutoff, VendorAttempt.message != PURGED)
            .values(exchanges={}, message=PURGED)
        ).rowcount  # type: ignore[attr-defined]
        events = 0
        query = select(AuditEvent).where(AuditEvent.at < cutoff)
        if audit_window_days is not None:
            query = query.where(AuditEvent.at >= cutoff - timedelta(days=audit_window_days))
        for event in session.scalars(query.execution_options(yield_per=1000)):
            if any(key in (event.details or {}) for key in PERSONAL_DETAILS):
                event.details = {
                    k: v for k, v in event.details.items() if k not in PERSONAL_DETAILS
                }
                events += 1
    return PurgeReport(cutoff, resets, sales, attempts, events)


def export_audit(
    db: Database, *, since: datetime, until: datetime | None = None, fmt: Literal["csv", "json"]
) -> str:
    """The audit trail from ``since``, oldest first, as CSV or JSON lines."""
    with db.session() as session:
        query = (
            select(AuditEvent).where(AuditEvent.at >= since).order_by(AuditEvent.at, AuditEvent.id)
        )
        if until is not None:
            query = query.where(AuditEvent.at < until)
        rows: list[dict[str, Any]] = [
            {
                "id": event.id,
                "at": event.at.isoformat(),
                "actor": event.actor,
                "action": event.action,
                "subject_type": event.subject_type,
                "subject_id": event.subject_id,
                "location_id": event.location_id or "",
                "details": event.details or {},
            }
            for event in session.scalars(query)
        ]
    if fmt == "json":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=AUDIT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "details": json.dumps(row["details"], ensure_ascii=False)})
    return out.getvalue()

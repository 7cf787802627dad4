"""The database as a work queue: claiming due rows once, whatever the number of workers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session


def claim_due(
    session: Session,
    model: Any,
    *,
    ready: str,
    claimed: str,
    worker_id: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] | None = None,
) -> list[Any]:
    """Move up to ``limit`` rows due now from ``ready`` to ``claimed`` for this worker.

    On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` so that
    workers take different rows; on any database the ``UPDATE … WHERE status =
    ready`` is the compare-and-set that makes each claim happen once. ``where`` narrows
    the candidates (the outbox takes only the first notice of each lane), ``order_by``
    says which go first (default: the longest due).
    """
    query = (
        select(model.id)
        .where(model.status == ready, model.available_at <= now, *where)
        .order_by(*(order_by or (model.available_at,)))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    won: list[Any] = []
    for item_id in session.scalars(query).all():
        changed = session.execute(
            update(model)
            .where(model.id == item_id, model.status == ready)
            .values(status=claimed, worker_id=worker_id, lease_until=lease_until, updated_at=now)
            if hasattr(model, "updated_at")
            else update(model)
            .where(model.id == item_id, model.status == ready)
            .values(status=claimed, worker_id=worker_id, lease_until=lease_until)
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            won.append(item_id)
    return won

"""Per-user preferences (last location, when Home was last opened)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.workflows.roles import Actor
from storage.models import UserPreference


def remember(session: Session, actor: Actor, **values: Any) -> None:
    """Upsert some of the user's preferences in one statement, so that two requests
    of the same user at the same moment cannot collide on the primary key."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(UserPreference).values(org_id=actor.org_id, user_id=actor.user_id, **values)
    session.execute(
        statement.on_conflict_do_update(index_elements=["org_id", "user_id"], set_=values)
    )

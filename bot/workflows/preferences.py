"""Per-user preferences (last location, when Home was last opened)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.workflows.roles import Actor
from storage.db import insert_for
from storage.models import UserPreference


def remember(session: Session, actor: Actor, **values: Any) -> None:
    """Upsert some of the user's preferences in one statement, so that two requests
    of the same user at the same moment cannot collide on the primary key."""
    insert = insert_for(session)
    statement = insert(UserPreference).values(org_id=actor.org_id, user_id=actor.user_id, **values)
    session.execute(
        statement.on_conflict_do_update(index_elements=["org_id", "user_id"], set_=values)
    )

"""one lifecycle, persons by organisation, idempotent retries, rate locks

- A person is (org_id, user_id): org_id is the enterprise id on Enterprise Grid,
  else the team id. Grants, requests, sales, preferences and group memberships
  carry it; approvals name the approver as ``org_id:user_id`` (duplicates of one
  person under two workspaces collapse into one).
- A reset's first Retry is recorded on the original (retried_by/at, retry_id) and
  ``retry_of`` is unique: one retry per failure.
- Late vendor answers are kept beside the settled row (late_outcome_*).
- rate_locks and reset_identifiers serialize and widen a member's hourly limit.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ORG = (
    "CASE WHEN enterprise_id IS NOT NULL AND enterprise_id <> '' "
    "THEN enterprise_id ELSE team_id END"
)


def _late_columns(batch_op: object) -> None:
    batch_op.add_column(sa.Column("late_outcome_kind", sa.String(length=16), nullable=True))  # type: ignore[attr-defined]
    batch_op.add_column(sa.Column("late_outcome_message", sa.Text(), nullable=True))  # type: ignore[attr-defined]
    batch_op.add_column(sa.Column("late_at", sa.DateTime(timezone=True), nullable=True))  # type: ignore[attr-defined]


def _person(approver: str) -> str:
    parts = approver.split(":")
    if len(parts) == 3:
        enterprise, team, user = parts
        return f"{enterprise or team}:{user}"
    return approver


def upgrade() -> None:
    bind = op.get_bind()
    for table in ("role_grants", "reset_requests", "sales"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("org_id", sa.String(length=32), nullable=True))
        op.execute(f"UPDATE {table} SET org_id = {ORG}")  # noqa: S608 - constant SQL
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("org_id", existing_type=sa.String(length=32), nullable=False)

    with op.batch_alter_table("role_grants") as batch_op:
        batch_op.drop_constraint("uq_role_grant", type_="unique")
    # Grants of one person under two team ids of one enterprise become duplicates.
    rows = bind.execute(
        sa.text("SELECT id, org_id, user_id, role, location_key FROM role_grants ORDER BY id")
    ).all()
    seen: set[tuple[str, str, str, str]] = set()
    for row in rows:
        key = (row.org_id, row.user_id, row.role, row.location_key)
        if key in seen:
            bind.execute(sa.text("DELETE FROM role_grants WHERE id = :id"), {"id": row.id})
        seen.add(key)
    with op.batch_alter_table("role_grants") as batch_op:
        batch_op.create_unique_constraint(
            "uq_role_grant", ["org_id", "user_id", "role", "location_key"]
        )

    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.drop_index("ix_reset_requester")
        batch_op.create_index("ix_reset_requester", ["org_id", "user_id", "created_at"])
        batch_op.add_column(sa.Column("retried_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retry_id", sa.String(length=36), nullable=True))
        _late_columns(batch_op)
    # Earlier retries: the first one of each failure keeps the link, later ones
    # (the doubled retries this revision stops) lose it so the link can be unique.
    retries = bind.execute(
        sa.text(
            "SELECT id, retry_of, user_id, created_at FROM reset_requests "
            "WHERE retry_of IS NOT NULL ORDER BY created_at, id"
        )
    ).all()
    linked: set[str] = set()
    for row in retries:
        if row.retry_of in linked:
            bind.execute(
                sa.text("UPDATE reset_requests SET retry_of = NULL WHERE id = :id"), {"id": row.id}
            )
            continue
        linked.add(row.retry_of)
        bind.execute(
            sa.text(
                "UPDATE reset_requests SET retried_by = :by, retried_at = :at, retry_id = :rid "
                "WHERE id = :original"
            ),
            {"by": row.user_id, "at": row.created_at, "rid": row.id, "original": row.retry_of},
        )
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.create_index("uq_reset_retry_of", ["retry_of"], unique=True)

    with op.batch_alter_table("sales") as batch_op:
        batch_op.drop_index("ix_sale_requester")
        batch_op.create_index("ix_sale_requester", ["org_id", "user_id", "created_at"])
        _late_columns(batch_op)

    approvals = bind.execute(
        sa.text("SELECT id, sale_id, approver, fingerprint FROM sale_approvals ORDER BY at, id")
    ).all()
    kept: set[tuple[str, str, str]] = set()
    for row in approvals:
        person = _person(row.approver)
        approval = (row.sale_id, person, row.fingerprint)
        if approval in kept:
            bind.execute(sa.text("DELETE FROM sale_approvals WHERE id = :id"), {"id": row.id})
            continue
        kept.add(approval)
        bind.execute(
            sa.text("UPDATE sale_approvals SET approver = :person WHERE id = :id"),
            {"person": person, "id": row.id},
        )

    with op.batch_alter_table("user_preferences") as batch_op:
        batch_op.alter_column(
            "team_id", new_column_name="org_id", existing_type=sa.String(length=32)
        )
    with op.batch_alter_table("group_memberships") as batch_op:
        batch_op.alter_column(
            "team_id", new_column_name="org_id", existing_type=sa.String(length=32)
        )

    op.create_table(
        "rate_locks",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "reset_identifiers",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("identifier_hash", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["reset_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_id", "identifier_hash"),
    )
    op.create_index(
        "ix_reset_identifier_member", "reset_identifiers", ["location_id", "identifier_hash"]
    )
    # Existing requests count under the identifier they were stored by.
    op.execute(
        "INSERT INTO reset_identifiers (request_id, identifier_hash, location_id) "
        "SELECT id, identifier_hash, location_id FROM reset_requests"
    )


def downgrade() -> None:
    op.drop_index("ix_reset_identifier_member", table_name="reset_identifiers")
    op.drop_table("reset_identifiers")
    op.drop_table("rate_locks")
    with op.batch_alter_table("group_memberships") as batch_op:
        batch_op.alter_column(
            "org_id", new_column_name="team_id", existing_type=sa.String(length=32)
        )
    with op.batch_alter_table("user_preferences") as batch_op:
        batch_op.alter_column(
            "org_id", new_column_name="team_id", existing_type=sa.String(length=32)
        )
    with op.batch_alter_table("sales") as batch_op:
        batch_op.drop_column("late_at")
        batch_op.drop_column("late_outcome_message")
        batch_op.drop_column("late_outcome_kind")
        batch_op.drop_index("ix_sale_requester")
        batch_op.create_index("ix_sale_requester", ["team_id", "user_id", "created_at"])
        batch_op.drop_column("org_id")
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.drop_index("uq_reset_retry_of")
        batch_op.drop_column("late_at")
        batch_op.drop_column("late_outcome_message")
        batch_op.drop_column("late_outcome_kind")
        batch_op.drop_column("retry_id")
        batch_op.drop_column("retried_at")
        batch_op.drop_column("retried_by")
        batch_op.drop_index("ix_reset_requester")
        batch_op.create_index("ix_reset_requester", ["team_id", "user_id", "created_at"])
        batch_op.drop_column("org_id")
    with op.batch_alter_table("role_grants") as batch_op:
        batch_op.drop_constraint("uq_role_grant", type_="unique")
        batch_op.create_unique_constraint(
            "uq_role_grant", ["team_id", "user_id", "role", "location_key"]
        )
        batch_op.drop_column("org_id")

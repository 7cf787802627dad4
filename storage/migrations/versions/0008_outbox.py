"""outbox: Slack notices written with the change they report; a shared rate budget

- ``notices``: one row per thing to tell Slack, claimed by the notifier like the
  other queues (lanes keep one message's notices in order; one pending notice per
  message slot).
- ``rate_budgets``: token buckets shared by every process (Home publishes).
- ``user_preferences.home_cursors``: the page a viewer is on, so a republish from
  any process keeps them there.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("lane", sa.String(length=160), nullable=False),
        sa.Column("slot", sa.String(length=160), nullable=True),
        sa.Column("subject_type", sa.String(length=16), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("location_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uncertain_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
    )
    with op.batch_alter_table("notices") as batch_op:
        batch_op.create_index("ix_notice_due", ["status", "priority", "available_at"])
        batch_op.create_index("ix_notice_lane", ["lane", "status", "id"])
        batch_op.create_index(
            "uq_notice_pending_slot",
            ["slot"],
            unique=True,
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )
        batch_op.create_index("ix_notice_finished", ["status", "finished_at"])
    op.create_table(
        "rate_budgets",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("user_preferences") as batch_op:
        batch_op.add_column(sa.Column("home_cursors", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_preferences") as batch_op:
        batch_op.drop_column("home_cursors")
    op.drop_table("rate_budgets")
    with op.batch_alter_table("notices") as batch_op:
        batch_op.drop_index("ix_notice_finished")
        batch_op.drop_index("uq_notice_pending_slot")
        batch_op.drop_index("ix_notice_lane")
        batch_op.drop_index("ix_notice_due")
    op.drop_table("notices")

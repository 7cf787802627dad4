"""what each approver saw, who was asked, Workflow Builder steps (issue 18)

- sales.changed_at / changed_fields: when a pending sale last changed, and what.
- sale_seen: per approver, the version of a sale they last reviewed and its fields,
  masked (never tokens), so Review shows first what changed since.
- sale_asks: who was asked to decide a pending sale, how and when (the approvals
  channel now; reminders and escalations add rows later).
- step_runs: a Workflow Builder step's function_execution_id, the reset or sale it
  started, and whether Slack has been told its end.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OPEN_STEP = "completed_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("sales") as batch_op:
        batch_op.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("changed_fields", sa.JSON(), nullable=True))
    op.create_table(
        "sale_seen",
        sa.Column("sale_id", sa.String(length=36), nullable=False),
        sa.Column("approver", sa.String(length=100), nullable=False),
        sa.Column("approver_user_id", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"]),
        sa.PrimaryKeyConstraint("sale_id", "approver"),
    )
    op.create_table(
        "sale_asks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "sale_id", "fingerprint", "reason", "target_kind", "target_id", name="uq_sale_ask"
        ),
    )
    op.create_index("ix_sale_ask_sale", "sale_asks", ["sale_id", "at"])
    op.create_table(
        "step_runs",
        sa.Column("function_execution_id", sa.String(length=64), nullable=False),
        sa.Column("callback_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=True),
        sa.Column("subject_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("function_execution_id"),
    )
    op.create_index(
        "ix_step_run_open",
        "step_runs",
        ["created_at"],
        postgresql_where=sa.text(OPEN_STEP),
        sqlite_where=sa.text(OPEN_STEP),
    )
    op.create_index("ix_step_run_subject", "step_runs", ["subject_type", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_step_run_subject", table_name="step_runs")
    op.drop_index(
        "ix_step_run_open",
        table_name="step_runs",
        postgresql_where=sa.text(OPEN_STEP),
        sqlite_where=sa.text(OPEN_STEP),
    )
    op.drop_table("step_runs")
    op.drop_index("ix_sale_ask_sale", table_name="sale_asks")
    op.drop_table("sale_asks")
    op.drop_table("sale_seen")
    with op.batch_alter_table("sales") as batch_op:
        batch_op.drop_column("changed_fields")
        batch_op.drop_column("changed_at")

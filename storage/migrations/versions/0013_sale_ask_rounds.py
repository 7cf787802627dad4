"""sale ask rounds: who was asked about a pending sale is keyed on the round, not the
content

- sale_asks.round_at: when the round began (the submission or change that sent the
  version for approval; the submission for an escalation). The unique key becomes
  (sale, round, reason, target): a sale changed back to an earlier version (A, B, A)
  is asked again, reminded again, and its notices are not lost to a conflict.
- Existing rows: those of the sale's current version take the current round (the
  last change, else the submission; the submission for escalations); older ones the
  time their version was sent for approval (their "request" row), else their own.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sale_asks") as batch_op:
        batch_op.add_column(sa.Column("round_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        """
        UPDATE sale_asks SET round_at = COALESCE(
            (SELECT CASE WHEN sale_asks.reason = 'escalation' THEN s.submitted_at
                         ELSE COALESCE(s.changed_at, s.submitted_at) END
               FROM sales s
              WHERE s.id = sale_asks.sale_id AND s.fingerprint = sale_asks.fingerprint),
            (SELECT MIN(r.at) FROM sale_asks r
              WHERE r.sale_id = sale_asks.sale_id AND r.fingerprint = sale_asks.fingerprint
                AND r.reason = 'request'),
            sale_asks.at)
        """
    )
    with op.batch_alter_table("sale_asks") as batch_op:
        batch_op.alter_column("round_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_constraint("uq_sale_ask", type_="unique")
        batch_op.create_unique_constraint(
            "uq_sale_ask_round", ["sale_id", "round_at", "reason", "target_kind", "target_id"]
        )


def downgrade() -> None:
    # Several rounds of one version would break the old key: keep the latest round's.
    op.execute(
        """
        DELETE FROM sale_asks WHERE EXISTS (
            SELECT 1 FROM sale_asks later
             WHERE later.sale_id = sale_asks.sale_id
               AND later.fingerprint = sale_asks.fingerprint
               AND later.reason = sale_asks.reason
               AND later.target_kind = sale_asks.target_kind
               AND later.target_id = sale_asks.target_id
               AND later.round_at > sale_asks.round_at)
        """
    )
    with op.batch_alter_table("sale_asks") as batch_op:
        batch_op.drop_constraint("uq_sale_ask_round", type_="unique")
        batch_op.create_unique_constraint(
            "uq_sale_ask", ["sale_id", "fingerprint", "reason", "target_kind", "target_id"]
        )
        batch_op.drop_column("round_at")

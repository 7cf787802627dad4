"""sale typed member: what the requester typed on the member view before going Back

- sales.typed_member: the member fields (never a token) that were typed on the member
  and payment view when its requester went Back to the first view (Slack's
  view_closed carries them), so that Next shows them again. Only while the sale is a
  draft: wiped when the member is added, and when the sale leaves draft.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales") as batch_op:
        batch_op.add_column(sa.Column("typed_member", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales") as batch_op:
        batch_op.drop_column("typed_member")

"""reset screens: where the requester is looking at their reset

- reset_requests.screen_view_id: the modal view (the /reset modal's confirmation)
  that shows the reset to its requester, updated with views.update until it ends;
- reset_requests.screen_url, screen_until: the response_url of the private message
  in the conversation where ``/reset …`` was typed (the last click's), and until when
  Slack takes it (30 minutes); past that the DM keeps the record alone.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.add_column(sa.Column("screen_view_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("screen_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("screen_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch_op:
        batch_op.drop_column("screen_until")
        batch_op.drop_column("screen_url")
        batch_op.drop_column("screen_view_id")

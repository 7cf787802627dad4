"""outbox lookup: where a post that may have landed is looked for, kept between attempts

- notices.lookup: the channel and the window of Slack timestamps a post whose answer
  was lost can be in, narrowed as pages of history are read, so a lookup interrupted
  by Slack's rate limits resumes where it stopped instead of starting over.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch_op:
        batch_op.add_column(sa.Column("lookup", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch_op:
        batch_op.drop_column("lookup")

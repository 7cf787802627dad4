"""guest page results: each submission's attempt names the vendor call that settled it

- guest_page_attempts.vendor_attempt_id: the resetGuestPassword call (its outcome and
  Paytronix's own words, redacted) that settled this submission, so the page can show
  the result on a GET after the form's POST (post/redirect/get), on any process,
  without keeping the password.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("guest_page_attempts") as batch_op:
        batch_op.add_column(sa.Column("vendor_attempt_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("guest_page_attempts") as batch_op:
        batch_op.drop_column("vendor_attempt_id")

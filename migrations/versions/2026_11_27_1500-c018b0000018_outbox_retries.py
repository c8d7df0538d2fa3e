"""Outbox emails are retried with backoff: when the next attempt is due (issue #18)

Revision ID: c018b0000018
Revises: b1a1c0de0016
Create Date: 2026-11-27 15:00:00
"""
import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'c018b0000018'
down_revision = 'b1a1c0de0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_emails") as batch:
        batch.add_column(sa.Column("next_attempt_at", UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_emails") as batch:
        batch.drop_column("next_attempt_at")

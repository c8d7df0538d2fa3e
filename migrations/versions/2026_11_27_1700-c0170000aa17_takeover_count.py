"""workflow_executions.takeover_count: claims of a running run whose lease had expired (issue #17)

Revision ID: c0170000aa17
Revises: c018b0000018
Create Date: 2026-11-27 17:00:00

The runner fails a run taken over more often than EXECUTION_MAX_TAKEOVERS instead of letting
workers take it over forever. claim_count also counts every resume after a wait, so it cannot tell.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c0170000aa17'
down_revision = 'c018b0000018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("workflow_executions") as batch:
        batch.add_column(sa.Column("takeover_count", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("workflow_executions") as batch:
        batch.drop_column("takeover_count")

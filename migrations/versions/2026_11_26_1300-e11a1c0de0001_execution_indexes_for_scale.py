"""indexes for a million-run history (issue #11)

Revision ID: e11a1c0de0001
Revises: b4a1c0de0001
Create Date: 2026-11-26 13:00:00

The run detail lists the replays of a run (WHERE replay_of_id = ...): without an index that is a
scan of the whole table (73 ms at 100,000 runs, B4). Index it.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e11a1c0de0001'
down_revision = 'b4a1c0de0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_workflow_executions_replay_of', 'workflow_executions', ['replay_of_id'], unique=False)


def downgrade():
    op.drop_index('ix_workflow_executions_replay_of', table_name='workflow_executions')

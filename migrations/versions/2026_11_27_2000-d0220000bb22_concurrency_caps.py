"""Concurrency caps (issue #22): workflows.max_concurrent_runs and the index the capped claim counts with

Revision ID: d0220000bb22
Revises: c0210000ee21
Create Date: 2026-11-27 20:00:00

A workflow's `settings.max_concurrent_runs` (NULL = no cap) is a column: every claim of a run reads it.
The partial index holds only pending and running rows, so counting a workflow's running runs and finding
its oldest waiting one never walk its finished history.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "d0220000bb22"
down_revision = "c0210000ee21"
branch_labels = None
depends_on = None

ACTIVE_ROWS = "status IN ('pending', 'running')"


def upgrade():
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(sa.Column("max_concurrent_runs", sa.Integer(), nullable=True))
        batch.create_check_constraint(op.f("ck_workflows_max_concurrent_runs_positive"),
                                      "max_concurrent_runs IS NULL OR max_concurrent_runs > 0")
    op.create_index("ix_workflow_executions_workflow_active", "workflow_executions", ["workflow_id", "status", "id"],
                    postgresql_where=sa.text(ACTIVE_ROWS), sqlite_where=sa.text(ACTIVE_ROWS))


def downgrade():
    op.drop_index("ix_workflow_executions_workflow_active", table_name="workflow_executions")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_constraint(op.f("ck_workflows_max_concurrent_runs_positive"), type_="check")
        batch.drop_column("max_concurrent_runs")

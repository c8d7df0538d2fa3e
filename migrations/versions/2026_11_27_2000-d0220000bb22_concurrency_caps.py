"""Concurrency caps (issue #22): workflows.max_concurrent_runs and the index the capped claim counts with

Revision ID: d0220000bb22
Revises: d0220000aa22
Create Date: 2026-11-27 20:00:00

A workflow's `settings.max_concurrent_runs` (NULL = no cap) is a column: every claim of a run reads it.
The partial index holds only pending and running rows, so counting a workflow's running runs and finding
its oldest waiting one never walk its finished history.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "d0220000bb22"
down_revision = "d0220000aa22"
branch_labels = None
depends_on = None

ACTIVE_ROWS = "status IN ('pending', 'running')"


def upgrade():
    check = "max_concurrent_runs IS NULL OR max_concurrent_runs > 0"
    if op.get_bind().dialect.name == "sqlite":  # the CHECK inline: no copy of workflows (its DROP would cascade)
        op.execute("ALTER TABLE workflows ADD COLUMN max_concurrent_runs INTEGER "
                   f"CONSTRAINT ck_workflows_max_concurrent_runs_positive CHECK ({check})")
    else:
        op.add_column("workflows", sa.Column("max_concurrent_runs", sa.Integer(), nullable=True))
        op.create_check_constraint(op.f("ck_workflows_max_concurrent_runs_positive"), "workflows", check)
    op.create_index("ix_workflow_executions_workflow_active", "workflow_executions", ["workflow_id", "status", "id"],
                    postgresql_where=sa.text(ACTIVE_ROWS), sqlite_where=sa.text(ACTIVE_ROWS))


def downgrade():
    op.drop_index("ix_workflow_executions_workflow_active", table_name="workflow_executions")
    if op.get_bind().dialect.name == "sqlite":  # drops its inline CHECK with it (no copy of workflows)
        op.execute("ALTER TABLE workflows DROP COLUMN max_concurrent_runs")
    else:
        op.drop_constraint(op.f("ck_workflows_max_concurrent_runs_positive"), "workflows", type_="check")
        op.drop_column("workflows", "max_concurrent_runs")

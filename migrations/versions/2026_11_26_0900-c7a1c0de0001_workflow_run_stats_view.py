"""workflow_run_stats view: runs per workspace, workflow and UTC day, counted by status

Revision ID: c7a1c0de0001
Revises: b4a1c0de0001
Create Date: 2026-11-26 09:00:00

The view is not an ORM model (Alembic's autogenerate compares tables only, so it never
proposes to drop it). It aggregates workflow_executions on the fly: queries filter it by
workspace_id (and workflow_id / day), which the planner pushes down to the base table's
(workspace_id, status, id) and (workspace_id, workflow_id, id) indexes. On PostgreSQL it runs
with the caller's privileges and row-level policies (security_invoker, PostgreSQL 15+).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c7a1c0de0001'
down_revision = 'b4a1c0de0001'
branch_labels = None
depends_on = None

STATUSES = ("pending", "running", "completed", "failed", "cancelled", "paused")
POSTGRESQL_DAY = "(created_at AT TIME ZONE 'UTC')::date"
SQLITE_DAY = "date(created_at)"


def view_body(day_expression: str) -> str:
    counts = ",\n    ".join(f"SUM(CASE WHEN status = '{status}' THEN 1 ELSE 0 END) AS {status}" for status in STATUSES)
    return f"""
SELECT
    workspace_id,
    workflow_id,
    {day_expression} AS day,
    COUNT(*) AS total,
    {counts},
    COALESCE(SUM(duration_ms), 0) AS total_duration_ms,
    COUNT(duration_ms) AS timed_runs
FROM workflow_executions
GROUP BY workspace_id, workflow_id, {day_expression}
"""


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        options = ""
        if (bind.dialect.server_version_info or (0,)) >= (15,):  # security_invoker needs PostgreSQL 15
            options = " WITH (security_invoker = true)"
        op.execute(f"CREATE VIEW workflow_run_stats{options} AS{view_body(POSTGRESQL_DAY)}")
    else:
        op.execute(f"CREATE VIEW workflow_run_stats AS{view_body(SQLITE_DAY)}")


def downgrade():
    op.execute("DROP VIEW IF EXISTS workflow_run_stats")

"""The triage's partial indexes hold the run's mode (issue #22): the tab counts stay index-only

Revision ID: e0220000b122
Revises: e0220000a122
Create Date: 2026-11-28 02:00:00

"Completed with errors" and "resolved" are counted on the partial indexes ix_workflow_executions_with_errors and
ix_workflow_executions_resolved (services/run_history_service.flagged_count). Since test runs (issue #20) every
count also says `mode = 'live'`, a column these indexes lacked: each count read the table's row of every index
entry (20,000 rows and ~25 ms of the Runs tab at a million runs, bench/RESULTS.md). The indexes are built again
with `mode` as their last column; the counts read the indexes alone again. Small indexes (only flagged runs).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "e0220000b122"
down_revision = "e0220000a122"
branch_labels = None
depends_on = None

PARTIAL = {
    "ix_workflow_executions_with_errors": "status = 'completed' AND error IS NOT NULL",
    "ix_workflow_executions_resolved": "status = 'failed' AND resolved_by_id IS NOT NULL",
}
COLUMNS = ["workspace_id", "id", "workflow_id", "created_at"]


def _rebuild(columns: list[str]) -> None:
    for name, where in PARTIAL.items():
        op.drop_index(name, table_name="workflow_executions")
        op.create_index(name, "workflow_executions", columns, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def upgrade():
    _rebuild([*COLUMNS, "mode"])


def downgrade():
    _rebuild(COLUMNS)

"""Retention and Insights (issue #22): run_retention_days, prune-safe rollups, minutes saved per run

Revision ID: d0220000cc22
Revises: d0220000bb22
Create Date: 2026-11-27 20:00:00

- workspaces.run_retention_days (NULL: the RUN_RETENTION_DAYS default) and retention_checked_at (when the
  periodic prune last took the workspace; the database decides which worker prunes which workspace).
- workflows.minutes_saved_per_run (Insights' "time saved"; NULL: not set).
- Indexes (workspace_id, received_at / created_at) on webhook_deliveries, outbox_emails and notifications:
  the prune walks each workspace's oldest rows, the Settings page reads the oldest row's date.
- The rollups stay when the prune deletes runs. The AFTER DELETE trigger of migration f4a1c0de0001
  subtracted every deleted finished run; it now skips the rows deleted by a transaction that asked so:
  on PostgreSQL `set_config('workestra.keep_rollups', 'on', true)` (transaction-local), on SQLite a row
  in run_rollup_holds inserted and deleted again inside that transaction (never committed, so no other
  connection ever sees it). Any other delete (a person deleting runs) still subtracts, as before.
"""
import sqlalchemy as sa
from alembic import op

import models.types

# revision identifiers, used by Alembic.
revision = "d0220000cc22"
down_revision = "d0220000bb22"
branch_labels = None
depends_on = None

TERMINAL = "('completed', 'failed', 'cancelled')"
PG_KEEP = "current_setting('workestra.keep_rollups', true) IS DISTINCT FROM 'on'"
SQLITE_KEEP = "NOT EXISTS (SELECT 1 FROM run_rollup_holds)"

# Migration f4a1c0de0001's SQLite subtraction (sqlite_subtract("1")), as it was written there.
_SQLITE_CHANGE = ("runs = runs - 1, total_duration_ms = total_duration_ms - coalesce(OLD.duration_ms, 0), "
                  "timed_runs = timed_runs - (OLD.duration_ms IS NOT NULL)")
_DAY_STATUS_SHARD = "day = date(OLD.created_at) AND status = OLD.status AND shard = OLD.id % 8"
_WORKFLOW_KEY = (f"OLD.status IN {TERMINAL} AND workspace_id = OLD.workspace_id AND workflow_id = OLD.workflow_id "
                 f"AND {_DAY_STATUS_SHARD}")
_WORKSPACE_KEY = f"OLD.status IN {TERMINAL} AND 1 AND workspace_id = OLD.workspace_id AND {_DAY_STATUS_SHARD}"
SQLITE_SUBTRACT = f"""
    UPDATE workflow_run_daily SET {_SQLITE_CHANGE} WHERE {_WORKFLOW_KEY};
    DELETE FROM workflow_run_daily WHERE {_WORKFLOW_KEY} AND runs = 0;
    UPDATE workspace_run_daily SET {_SQLITE_CHANGE} WHERE {_WORKSPACE_KEY};
    DELETE FROM workspace_run_daily WHERE {_WORKSPACE_KEY} AND runs = 0;"""


def _delete_trigger(dialect: str, keep_condition: str | None) -> list[str]:
    extra = f" AND {keep_condition}" if keep_condition else ""
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS workflow_run_rollup_delete ON workflow_executions",
                f"""CREATE TRIGGER workflow_run_rollup_delete AFTER DELETE ON workflow_executions
    FOR EACH ROW WHEN (OLD.status IN {TERMINAL}{extra}) EXECUTE FUNCTION workflow_run_rollup()"""]
    return ["DROP TRIGGER IF EXISTS workflow_run_rollup_delete",
            f"""CREATE TRIGGER workflow_run_rollup_delete AFTER DELETE ON workflow_executions
    FOR EACH ROW WHEN OLD.status IN {TERMINAL}{extra}
    BEGIN{SQLITE_SUBTRACT}
    END"""]


def upgrade():
    dialect = op.get_bind().dialect.name
    op.add_column("workspaces", sa.Column("run_retention_days", sa.Integer(), nullable=True))
    op.add_column("workspaces", sa.Column("retention_checked_at", models.types.UTCDateTime(timezone=True),
                                          nullable=True))
    op.add_column("workflows", sa.Column("minutes_saved_per_run", sa.Integer(), nullable=True))
    op.create_table(
        "run_rollup_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_rollup_holds")),
    )
    op.create_index("ix_webhook_deliveries_workspace_received", "webhook_deliveries", ["workspace_id", "received_at"])
    op.create_index("ix_outbox_emails_workspace_time", "outbox_emails", ["workspace_id", "created_at"])
    op.create_index("ix_notifications_workspace_created", "notifications", ["workspace_id", "created_at"])
    for statement in _delete_trigger(dialect, PG_KEEP if dialect == "postgresql" else SQLITE_KEEP):
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in _delete_trigger(dialect, None):
        op.execute(statement)
    op.drop_index("ix_notifications_workspace_created", table_name="notifications")
    op.drop_index("ix_outbox_emails_workspace_time", table_name="outbox_emails")
    op.drop_index("ix_webhook_deliveries_workspace_received", table_name="webhook_deliveries")
    op.drop_table("run_rollup_holds")
    # In place (SQLite's own DROP COLUMN): a batch copy of workflows would turn its column CHECKs into table
    # CHECKs that later downgrades cannot drop, and its DROP TABLE would cascade to the children.
    op.drop_column("workflows", "minutes_saved_per_run")
    op.drop_column("workspaces", "retention_checked_at")
    op.drop_column("workspaces", "run_retention_days")

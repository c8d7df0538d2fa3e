"""daily run rollups kept by triggers on workflow_executions (issue #11, B4)

Revision ID: f4a1c0de0001
Revises: 422a2eb27d09
Create Date: 2026-11-26 15:00:00

The stats strip, the status tabs and the daily chart aggregated every run of the workspace
through the workflow_run_stats view (about 0.9 s at a million runs). Two rollups replace it:

- workflow_run_daily (workspace_id, workflow_id, day, status, shard): for a workflow's numbers;
- workspace_run_daily (workspace_id, day, status, shard): for the workspace's numbers (with 5,000
  workflows, summing workflow_run_daily over 30 days still reads ~150,000 rows: 42 ms).

Each holds runs, total_duration_ms and timed_runs of the runs in a TERMINAL status (completed,
failed, cancelled) per UTC day of created_at. Non-terminal runs change status several times per
run; counting them here would make every claim and step update the same hot rows, so they are
counted live from workflow_executions (few at any time). Rows whose workflow was deleted
(workflow_id set NULL) count in workspace_run_daily only.

shard = the run's id % 8. Without it, every run of a workspace finishing today updates ONE row,
whose lock its transaction holds until its commit has been flushed: two workers finishing runs
at once then wait on each other (measured: 1,850 finishing UPDATEs/s without the triggers, 1,100
with one row per day, on two connections). Eight rows per day and status let concurrent
finishes take different rows; readers sum them (8 × days × 3 small rows).

Row triggers keep both, on PostgreSQL (plpgsql) and SQLite:
- AFTER INSERT of a terminal row: add it;
- AFTER UPDATE, only when status, duration_ms, created_at, workflow_id or workspace_id changed and
  the old or new status is terminal (the runner's per-step updates and claims never fire it):
  subtract the old row if it was terminal, add the new one if it is;
- AFTER DELETE of a terminal row: subtract it.
Adding is INSERT ... ON CONFLICT DO UPDATE; subtracting is an UPDATE (then a DELETE of a row that
reached zero), never an INSERT, so a cascade from a deleted workspace or workflow, whose rollup
rows may already be gone, inserts nothing. Within one run's change the workflow row is taken
before the workspace row, so single-run transactions cannot deadlock each other on them.

The workflow_run_stats view is dropped: nothing reads it any more (downgrade restores it).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f4a1c0de0001'
down_revision = '422a2eb27d09'
branch_labels = None
depends_on = None

SHARDS = 8
TERMINAL = "('completed', 'failed', 'cancelled')"
CHANGED = ("OLD.status IS DISTINCT FROM NEW.status OR OLD.duration_ms IS DISTINCT FROM NEW.duration_ms "
           "OR OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.workflow_id IS DISTINCT FROM NEW.workflow_id "
           "OR OLD.workspace_id IS DISTINCT FROM NEW.workspace_id")
UPDATE_WHEN = f"(OLD.status IN {TERMINAL} OR NEW.status IN {TERMINAL}) AND ({CHANGED})"
# Only the workflow changed (a deleted workflow sets it NULL): the workspace's totals stay as they are.
SAME_TOTALS = ("OLD.workspace_id = NEW.workspace_id AND OLD.status = NEW.status AND OLD.created_at = NEW.created_at "
               "AND OLD.duration_ms IS NOT DISTINCT FROM NEW.duration_ms")
ROLLUP_COLUMNS = "runs, total_duration_ms, timed_runs"
PG_DAY = "(created_at AT TIME ZONE 'UTC')::date"
SQLITE_DAY = "date(created_at)"
KEYS = {"workflow_run_daily": "workspace_id, workflow_id, day, status, shard",
        "workspace_run_daily": "workspace_id, day, status, shard"}


def create_tables():
    op.create_table(
        'workflow_run_daily',
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('workflow_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('shard', sa.SmallInteger(), nullable=False),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('total_duration_ms', sa.BigInteger(), nullable=False),
        sa.Column('timed_runs', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_workflow_run_daily_workflow_id_workflows'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_workflow_run_daily_workspace_id_workspaces'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('workspace_id', 'workflow_id', 'day', 'status', 'shard',
                                name=op.f('pk_workflow_run_daily')),
    )
    op.create_table(
        'workspace_run_daily',
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('shard', sa.SmallInteger(), nullable=False),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('total_duration_ms', sa.BigInteger(), nullable=False),
        sa.Column('timed_runs', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_workspace_run_daily_workspace_id_workspaces'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('workspace_id', 'day', 'status', 'shard', name=op.f('pk_workspace_run_daily')),
    )


# -- PostgreSQL ---------------------------------------------------------------------------------------
PG_ADD = """
        INSERT INTO {table} AS r ({keys}, {columns})
        VALUES ({values}, 1, coalesce(p_duration, 0), (p_duration IS NOT NULL)::int)
        ON CONFLICT ({keys}) DO UPDATE
            SET runs = r.runs + 1, total_duration_ms = r.total_duration_ms + excluded.total_duration_ms,
                timed_runs = r.timed_runs + excluded.timed_runs;"""
PG_SUBTRACT = """
        UPDATE {table}
            SET runs = runs - 1, total_duration_ms = total_duration_ms - coalesce(p_duration, 0),
                timed_runs = timed_runs - (p_duration IS NOT NULL)::int
            WHERE {where}
            RETURNING runs INTO remaining;
        IF remaining = 0 THEN
            DELETE FROM {table} WHERE {where} AND runs = 0;
        END IF;"""
PG_WORKFLOW_KEY = {"values": "p_workspace, p_workflow, p_day, p_status, p_shard",
                   "where": "workspace_id = p_workspace AND workflow_id = p_workflow AND day = p_day "
                            "AND status = p_status AND shard = p_shard"}
PG_WORKSPACE_KEY = {"values": "p_workspace, p_day, p_status, p_shard",
                    "where": "workspace_id = p_workspace AND day = p_day AND status = p_status AND shard = p_shard"}
PG_PARAMETERS = ("p_workspace integer, p_workflow integer, p_day date, p_status text, p_shard smallint, "
                 "p_duration bigint, p_workspace_level boolean")


def pg_functions() -> str:
    def statement(template, table, key):
        return template.format(table=table, keys=KEYS[table], columns=ROLLUP_COLUMNS, **key)

    return f"""
CREATE FUNCTION workflow_run_rollup_add({PG_PARAMETERS}) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_workflow IS NOT NULL THEN{statement(PG_ADD, "workflow_run_daily", PG_WORKFLOW_KEY)}
    END IF;
    IF p_workspace_level THEN{statement(PG_ADD, "workspace_run_daily", PG_WORKSPACE_KEY)}
    END IF;
END $$;

CREATE FUNCTION workflow_run_rollup_subtract({PG_PARAMETERS}) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    remaining integer;
BEGIN
    IF p_workflow IS NOT NULL THEN{statement(PG_SUBTRACT, "workflow_run_daily", PG_WORKFLOW_KEY)}
    END IF;
    IF p_workspace_level THEN{statement(PG_SUBTRACT, "workspace_run_daily", PG_WORKSPACE_KEY)}
    END IF;
END $$;

CREATE FUNCTION workflow_run_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    workspace_level boolean := true;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        workspace_level := NOT ({SAME_TOTALS});
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.status IN {TERMINAL} THEN
            PERFORM workflow_run_rollup_subtract(OLD.workspace_id, OLD.workflow_id,
                (OLD.created_at AT TIME ZONE 'UTC')::date, OLD.status, (OLD.id % {SHARDS})::smallint, OLD.duration_ms,
                workspace_level);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.status IN {TERMINAL} THEN
            PERFORM workflow_run_rollup_add(NEW.workspace_id, NEW.workflow_id,
                (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.status, (NEW.id % {SHARDS})::smallint, NEW.duration_ms,
                workspace_level);
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""


PG_TRIGGERS = f"""
CREATE TRIGGER workflow_run_rollup_insert AFTER INSERT ON workflow_executions
    FOR EACH ROW WHEN (NEW.status IN {TERMINAL}) EXECUTE FUNCTION workflow_run_rollup();
CREATE TRIGGER workflow_run_rollup_update
    AFTER UPDATE OF status, duration_ms, created_at, workflow_id, workspace_id ON workflow_executions
    FOR EACH ROW WHEN ({UPDATE_WHEN}) EXECUTE FUNCTION workflow_run_rollup();
CREATE TRIGGER workflow_run_rollup_delete AFTER DELETE ON workflow_executions
    FOR EACH ROW WHEN (OLD.status IN {TERMINAL}) EXECUTE FUNCTION workflow_run_rollup();
"""


# -- SQLite (created_at is stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC) ---------------------------
def sqlite_add(workspace_level_condition: str) -> str:
    values = f"date(NEW.created_at), NEW.status, NEW.id % {SHARDS}, 1, coalesce(NEW.duration_ms, 0), NEW.duration_ms IS NOT NULL"
    increment = ("runs = runs + 1, total_duration_ms = total_duration_ms + excluded.total_duration_ms, "
                 "timed_runs = timed_runs + excluded.timed_runs")
    return f"""
    INSERT INTO workflow_run_daily ({KEYS["workflow_run_daily"]}, {ROLLUP_COLUMNS})
        SELECT NEW.workspace_id, NEW.workflow_id, {values}
        WHERE NEW.status IN {TERMINAL} AND NEW.workflow_id IS NOT NULL
        ON CONFLICT ({KEYS["workflow_run_daily"]}) DO UPDATE SET {increment};
    INSERT INTO workspace_run_daily ({KEYS["workspace_run_daily"]}, {ROLLUP_COLUMNS})
        SELECT NEW.workspace_id, {values}
        WHERE NEW.status IN {TERMINAL} AND {workspace_level_condition}
        ON CONFLICT ({KEYS["workspace_run_daily"]}) DO UPDATE SET {increment};"""


def sqlite_subtract(workspace_level_condition: str) -> str:
    change = ("runs = runs - 1, total_duration_ms = total_duration_ms - coalesce(OLD.duration_ms, 0), "
              "timed_runs = timed_runs - (OLD.duration_ms IS NOT NULL)")
    day_status_shard = f"day = date(OLD.created_at) AND status = OLD.status AND shard = OLD.id % {SHARDS}"
    workflow_key = (f"OLD.status IN {TERMINAL} AND workspace_id = OLD.workspace_id AND workflow_id = OLD.workflow_id "
                    f"AND {day_status_shard}")
    workspace_key = (f"OLD.status IN {TERMINAL} AND {workspace_level_condition} AND workspace_id = OLD.workspace_id "
                     f"AND {day_status_shard}")
    return f"""
    UPDATE workflow_run_daily SET {change} WHERE {workflow_key};
    DELETE FROM workflow_run_daily WHERE {workflow_key} AND runs = 0;
    UPDATE workspace_run_daily SET {change} WHERE {workspace_key};
    DELETE FROM workspace_run_daily WHERE {workspace_key} AND runs = 0;"""


SQLITE_SAME_TOTALS = SAME_TOTALS.replace("IS NOT DISTINCT FROM", "IS")
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER workflow_run_rollup_insert AFTER INSERT ON workflow_executions
    FOR EACH ROW WHEN NEW.status IN {TERMINAL}
    BEGIN{sqlite_add("1")}
    END""",
    f"""CREATE TRIGGER workflow_run_rollup_update
    AFTER UPDATE OF status, duration_ms, created_at, workflow_id, workspace_id ON workflow_executions
    FOR EACH ROW WHEN {UPDATE_WHEN.replace("IS DISTINCT FROM", "IS NOT")}
    BEGIN{sqlite_subtract(f"NOT ({SQLITE_SAME_TOTALS})")}{sqlite_add(f"NOT ({SQLITE_SAME_TOTALS})")}
    END""",
    f"""CREATE TRIGGER workflow_run_rollup_delete AFTER DELETE ON workflow_executions
    FOR EACH ROW WHEN OLD.status IN {TERMINAL}
    BEGIN{sqlite_subtract("1")}
    END""",
]


def backfill_selects(day: str) -> dict[str, str]:
    """{rollup table: the SELECT of its rows from the runs already there} (a test compares them with what
    the triggers keep)."""
    figures = "count(*), coalesce(sum(duration_ms), 0), count(duration_ms)"
    return {
        "workflow_run_daily": f"""
            SELECT workspace_id, workflow_id, {day}, status, id % {SHARDS}, {figures} FROM workflow_executions
            WHERE status IN {TERMINAL} AND workflow_id IS NOT NULL
            GROUP BY workspace_id, workflow_id, {day}, status, id % {SHARDS}""",
        "workspace_run_daily": f"""
            SELECT workspace_id, {day}, status, id % {SHARDS}, {figures} FROM workflow_executions
            WHERE status IN {TERMINAL}
            GROUP BY workspace_id, {day}, status, id % {SHARDS}""",
    }


def backfill(day: str):
    """The rollups of the runs already there. The triggers exist already and, on PostgreSQL, creating
    them locked workflow_executions against writes until the commit: no run changes in between."""
    for table, select_sql in backfill_selects(day).items():
        op.execute(f"INSERT INTO {table} ({KEYS[table]}, {ROLLUP_COLUMNS}) {select_sql}")


def upgrade():
    create_tables()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(pg_functions())
        op.execute(PG_TRIGGERS)
        backfill(PG_DAY)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        backfill(SQLITE_DAY)
    op.execute("DROP VIEW IF EXISTS workflow_run_stats")


# The view of migration c7a1c0de0001, as it was.
STATUSES = ("pending", "running", "completed", "failed", "cancelled", "paused")


def old_view(day: str) -> str:
    counts = ",\n    ".join(f"SUM(CASE WHEN status = '{status}' THEN 1 ELSE 0 END) AS {status}" for status in STATUSES)
    return f"""
SELECT workspace_id, workflow_id, {day} AS day, COUNT(*) AS total,
    {counts},
    COALESCE(SUM(duration_ms), 0) AS total_duration_ms, COUNT(duration_ms) AS timed_runs
FROM workflow_executions
GROUP BY workspace_id, workflow_id, {day}
"""


def downgrade():
    bind = op.get_bind()
    for trigger in ("insert", "update", "delete"):
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS workflow_run_rollup_{trigger} ON workflow_executions")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS workflow_run_rollup_{trigger}")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS workflow_run_rollup()")
        parameter_types = "integer, integer, date, text, smallint, bigint, boolean"
        op.execute(f"DROP FUNCTION IF EXISTS workflow_run_rollup_add({parameter_types})")
        op.execute(f"DROP FUNCTION IF EXISTS workflow_run_rollup_subtract({parameter_types})")
        options = " WITH (security_invoker = true)" if (bind.dialect.server_version_info or (0,)) >= (15,) else ""
        op.execute(f"CREATE VIEW workflow_run_stats{options} AS{old_view(PG_DAY)}")
    else:
        op.execute(f"CREATE VIEW workflow_run_stats AS{old_view(SQLITE_DAY)}")
    op.drop_table('workspace_run_daily')
    op.drop_table('workflow_run_daily')

"""Starting an event's runs on PostgreSQL in one round trip (issue #11, B3).

The portable dispatch (engine.core.runs) sends SAVEPOINT, the lookup, the insert and RELEASE one
after the other; on this machine a round trip costs about 0.13 ms. Here one call of the database
function `workestra_dispatch` finds the workspace's active workflows on the trigger, inserts a
pending run for each one without conditions, and returns their ids along with the workflows that do
have conditions. Conditions are evaluated in Python, as everywhere else; the runs of those that hold
go in a second call, `workestra_insert_runs`. Each function's exception block is the savepoint: a
failure rolls back that call's inserts, never the business change, and comes back as a row.

Both functions are generated here from the same lists the portable insert uses (NEW_RUN_COLUMNS,
PENDING_STATE, models.automations.SNAPSHOT_FIELDS); a migration installs `function_statements()`
and marks each function with the hash of its text. `usable()` takes this path only when the
installed functions carry the hash of the code's own text, so a column list changed without a new
migration falls back to the portable path (and tests/integration/test_dispatch_paths.py fails).
"""
import hashlib
import json

from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql

from models import Workflow, WorkflowExecution
from models.automations import SNAPSHOT_EMPTY, SNAPSHOT_FIELDS
from models.base import utcnow
from models.vocabulary import RunStatus, WorkflowStatus

# The columns a new run is inserted with (besides PENDING_STATE), in the portable insert and in SQL.
NEW_RUN_COLUMNS = ("workspace_id", "workflow_id", "workflow_name", "trigger_type", "source", "definition",
                   "trigger_payload", "event_depth", "chain_root_id", "created_at", "workflow_version")
PENDING_STATE = {"status": RunStatus.PENDING.value, "completed_actions": [], "current_step": 0, "step_attempts": 0,
                 "claim_count": 0}
# What dispatch reads of a workflow: enough to match it and to snapshot it.
CANDIDATE_COLUMNS = ("id", "workspace_id", "trigger_type", "version", *SNAPSHOT_FIELDS)

_DIALECT = postgresql.dialect()


def _type(table, column: str) -> str:
    return table.c[column].type.compile(dialect=_DIALECT)


def _literal(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, dict)):
        return f"'{json.dumps(value)}'::jsonb"
    return str(int(value))


_SNAPSHOT_SQL = "jsonb_build_object({})".format(", ".join(
    f"'{name}', " + (f"COALESCE({name}, {_literal(SNAPSHOT_EMPTY[name])})" if name in SNAPSHOT_EMPTY else name)
    for name in SNAPSHOT_FIELDS))
# A new run's columns from a candidate workflow's (the SQL twin of runs.NewRun.of).
_FROM_CANDIDATE = {
    "workspace_id": "workspace_id", "workflow_id": "id", "workflow_name": "name", "trigger_type": "trigger_type",
    "source": "p_source", "definition": _SNAPSHOT_SQL, "trigger_payload": "p_payload", "event_depth": "p_depth",
    "chain_root_id": "p_chain_root_id", "created_at": "p_created_at", "workflow_version": "version",
}
assert tuple(_FROM_CANDIDATE) == NEW_RUN_COLUMNS

_INSERT_INTO = "INSERT INTO workflow_executions ({})".format(", ".join((*NEW_RUN_COLUMNS, *PENDING_STATE)))
_PENDING_VALUES = ", ".join(_literal(value) for value in PENDING_STATE.values())
_WORKFLOWS = Workflow.__table__
_EXECUTIONS = WorkflowExecution.__table__
_CANDIDATES = ", ".join(CANDIDATE_COLUMNS)
_CANDIDATE_TYPES = ", ".join(f"{name} {_type(_WORKFLOWS, name)}" for name in CANDIDATE_COLUMNS)
_NULL_CANDIDATE = ", ".join(f"NULL::{_type(_WORKFLOWS, name)}" for name in CANDIDATE_COLUMNS)

DISPATCH_SIGNATURE = "workestra_dispatch(integer, varchar, varchar, jsonb, integer, timestamptz, bigint, integer)"
# The signatures earlier migrations installed (dropped by function_statements()).
OLD_SIGNATURES = ("workestra_dispatch(integer, varchar, varchar, jsonb, integer, timestamptz)",)
INSERT_RUNS_SIGNATURE = "workestra_insert_runs(jsonb)"

DISPATCH_FUNCTION = f"""CREATE OR REPLACE FUNCTION workestra_dispatch(
    p_workspace_id integer, p_trigger_key varchar, p_source varchar, p_payload jsonb, p_depth integer,
    p_created_at timestamptz, p_chain_root_id bigint, p_limit integer)
RETURNS TABLE (execution_id bigint, {_CANDIDATE_TYPES}, error text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH candidates AS (
        SELECT {_CANDIDATES}, conditions = '[]'::jsonb AS unconditional
        FROM workflows
        WHERE workspace_id = p_workspace_id AND trigger_type = p_trigger_key AND status = {_literal(WorkflowStatus.ACTIVE.value)}
    ), inserted AS (
        {_INSERT_INTO}
        SELECT {", ".join(_FROM_CANDIDATE.values())}, {_PENDING_VALUES}
        FROM candidates
        WHERE unconditional
        ORDER BY id
        LIMIT p_limit
        RETURNING id, workflow_id
    )
    SELECT inserted.id, {_NULL_CANDIDATE}, NULL::text
    FROM inserted
    UNION ALL
    SELECT NULL::bigint, {_CANDIDATES}, NULL::text
    FROM candidates
    WHERE NOT unconditional OR id NOT IN (SELECT workflow_id FROM inserted);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN QUERY SELECT NULL::bigint, {_NULL_CANDIDATE}, SQLSTATE || ': ' || SQLERRM;
END
$$"""

INSERT_RUNS_FUNCTION = f"""CREATE OR REPLACE FUNCTION workestra_insert_runs(p_runs jsonb)
RETURNS TABLE (execution_id bigint, error text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH inserted AS (
        {_INSERT_INTO}
        SELECT {", ".join(NEW_RUN_COLUMNS)}, {_PENDING_VALUES}
        FROM jsonb_to_recordset(p_runs) AS run({", ".join(f"{name} {_type(_EXECUTIONS, name)}" for name in NEW_RUN_COLUMNS)})
        RETURNING id
    )
    SELECT inserted.id, NULL::text FROM inserted;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN QUERY SELECT NULL::bigint, SQLSTATE || ': ' || SQLERRM;
END
$$"""

FUNCTIONS_HASH = hashlib.sha256((DISPATCH_FUNCTION + INSERT_RUNS_FUNCTION).encode()).hexdigest()[:16]
_COMMENT = f"workestra {FUNCTIONS_HASH}"


def function_statements() -> list[str]:
    """The DDL that installs both functions as this code expects them (run by a migration)."""
    drops = [f"DROP FUNCTION IF EXISTS {signature}"
             for signature in (*OLD_SIGNATURES, DISPATCH_SIGNATURE, INSERT_RUNS_SIGNATURE)]
    comments = [f"COMMENT ON FUNCTION {signature} IS '{_COMMENT}'"
                for signature in (DISPATCH_SIGNATURE, INSERT_RUNS_SIGNATURE)]
    return [*drops, DISPATCH_FUNCTION, INSERT_RUNS_FUNCTION, *comments]


_DISPATCH = "SELECT * FROM workestra_dispatch(%s, %s, %s, %s, %s, %s, %s, %s)"
_INSERT_RUNS = "SELECT * FROM workestra_insert_runs(%s)"
_FUNCTIONS_MATCH = (
    f"SELECT coalesce(obj_description(to_regprocedure('{DISPATCH_SIGNATURE}'), 'pg_proc') = '{_COMMENT}'"
    f" AND obj_description(to_regprocedure('{INSERT_RUNS_SIGNATURE}'), 'pg_proc') = '{_COMMENT}', false)")
_CURSOR = "workestra_dispatch_cursor"
_HAS_FUNCTIONS = "workestra_has_dispatch_functions"


class DispatchFailed(Exception):
    """A dispatch function rolled its inserts back; the message is the database's."""


def usable(connection) -> bool:
    """True when `connection` (SQLAlchemy's) is PostgreSQL through psycopg with this code's dispatch functions."""
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return False
    info = connection.connection.info  # lives as long as the database connection
    if _HAS_FUNCTIONS not in info:
        info[_HAS_FUNCTIONS] = bool(connection.exec_driver_sql(_FUNCTIONS_MATCH).scalar())
    return info[_HAS_FUNCTIONS]


def start_unconditional(connection, workspace_id: int, trigger_key: str, payload: dict, depth: int,
                        source: str, chain_root_id: int | None = None, limit: int | None = None
                        ) -> tuple[list[int], list]:
    """Insert the runs of the matching workflows that have no conditions, in one round trip (at most
    `limit` of them: what is left of a chain's budget; None: no limit).

    Returns their ids (in workflow order) and the other matching workflows (with conditions, or over the
    limit), as rows of CANDIDATE_COLUMNS for runs.NewRun.of.
    """
    rows = _call(connection, _DISPATCH, (workspace_id, trigger_key, source, Jsonb(payload), depth, utcnow(),
                                         chain_root_id, limit))
    ids = sorted(row.execution_id for row in rows if row.execution_id is not None)
    return ids, [row for row in rows if row.execution_id is None]


def insert_runs(connection, rows: list[dict]) -> list[int]:
    """Insert these pending runs (runs.NewRun.row()'s dicts) in one round trip; their ids in order."""
    runs = [{column: row[column] for column in NEW_RUN_COLUMNS} for row in rows]
    for run in runs:
        run["created_at"] = run["created_at"].isoformat()
    return sorted(row.execution_id for row in _call(connection, _INSERT_RUNS, (Jsonb(runs),)))


def _call(connection, statement: str, params: tuple) -> list:
    """Run one of the functions; its rows, or DispatchFailed when it rolled back (the transaction is intact)."""
    cursor = _cursor(connection)
    cursor.execute(statement, params)
    rows = cursor.fetchall()
    failure = next((row.error for row in rows if row.error is not None), None)
    if failure is not None:
        raise DispatchFailed(failure)  # rows returned before the error were rolled back with it
    return rows


def _cursor(connection):
    """A cursor kept with the database connection: creating one costs more than running these statements."""
    pooled = connection.connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not pooled.driver_connection:
        cursor = pooled.info[_CURSOR] = pooled.driver_connection.cursor(row_factory=namedtuple_row)
    return cursor

"""Dispatch on PostgreSQL in one round trip (issue #11, B3).

The portable dispatch (engine.core.runs) sends SAVEPOINT, the lookup, the insert and RELEASE one
after the other. On this machine a round trip to PostgreSQL costs about 0.13 ms, and those four,
with SQLAlchemy's work for each, were most of what dispatch added to a business write.

Here one call of the database function `workestra_dispatch` (migration f6a1c0de0001) finds the
workspace's active workflows on the trigger, inserts a pending execution for each one without
conditions (the definition snapshot built in SQL from the row it read, in the shape of
Workflow.definition()), and returns their ids along with the workflows that do have conditions.
Conditions are evaluated in Python, as everywhere else; the runs of those that hold go in a second
call, `workestra_insert_runs`. Each function's exception block is the savepoint: a failure rolls
back that call's inserts, never the business change, and comes back as a row with the error.
"""
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from models.base import utcnow

_DISPATCH = "SELECT * FROM workestra_dispatch(%s, %s, %s, %s, %s, %s)"
_INSERT_RUNS = "SELECT * FROM workestra_insert_runs(%s)"
_FUNCTIONS_EXIST = ("SELECT to_regprocedure('workestra_dispatch(integer, varchar, varchar, jsonb, integer, timestamptz)')"
                    " IS NOT NULL AND to_regprocedure('workestra_insert_runs(jsonb)') IS NOT NULL")
_INSERTED_COLUMNS = ("workspace_id", "workflow_id", "workflow_name", "trigger_type", "source", "definition",
                     "trigger_payload", "event_depth")
_CURSOR = "workestra_dispatch_cursor"
_HAS_FUNCTIONS = "workestra_has_dispatch_functions"


class DispatchFailed(Exception):
    """A dispatch function rolled its inserts back; the message is the database's."""


def usable(connection) -> bool:
    """True when `connection` (SQLAlchemy's) is PostgreSQL through psycopg and has the dispatch functions."""
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return False
    info = connection.connection.info  # lives as long as the database connection
    if _HAS_FUNCTIONS not in info:
        info[_HAS_FUNCTIONS] = bool(connection.exec_driver_sql(_FUNCTIONS_EXIST).scalar())
    return info[_HAS_FUNCTIONS]


def insert_unconditional(connection, workspace_id: int, trigger_key: str, payload: dict, depth: int,
                         source: str) -> tuple[list[int], list]:
    """Insert the executions of the matching workflows that have no conditions, in one round trip.

    Returns their ids (in workflow order) and the matching workflows that have conditions, as rows
    with the snapshot's columns for dispatcher.execution_row.
    """
    rows = _call(connection, _DISPATCH, (workspace_id, trigger_key, source, Jsonb(payload), depth, utcnow()))
    ids = sorted(row.execution_id for row in rows if row.execution_id is not None)
    return ids, [row for row in rows if row.execution_id is None]


def insert_rows(connection, rows: list[dict]) -> list[int]:
    """Insert these pending executions (dispatcher.execution_row's dicts) in one round trip; their ids in order."""
    created_at = utcnow().isoformat()
    runs = [{**{column: row[column] for column in _INSERTED_COLUMNS}, "created_at": created_at} for row in rows]
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

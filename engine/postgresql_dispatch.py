"""Dispatch on PostgreSQL in one round trip (issue #11, B3).

The portable dispatch (engine.dispatcher) sends SAVEPOINT, the lookup, the insert and RELEASE one
after the other. On this machine a round trip to PostgreSQL costs about 0.13 ms, and those four,
with SQLAlchemy's work for each, were most of what dispatch added to a business write.

Here one call of the database function `workestra_dispatch` (migration f6a1c0de0001) finds the
workspace's active workflows on the trigger, inserts a pending execution for each one without
conditions (the definition snapshot built in SQL from the row it read, in the shape of
Workflow.definition()), and returns their ids along with the workflows that do have conditions.
Its exception block is the savepoint: a failure rolls back its inserts, never the business change.
Conditions are evaluated in Python, as everywhere else; the executions of those that hold are
inserted in a second round trip: SAVEPOINT, the inserts and RELEASE in one psycopg pipeline.
"""
from contextlib import contextmanager

from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from models.base import utcnow

# The lookup and the inserts of workflows without conditions, in one call of the function that
# migration f6a1c0de0001 creates (its exception block is the savepoint; see there).
_DISPATCH = "SELECT * FROM workestra_dispatch(%s, %s, %s, %s, %s, %s)"
_FUNCTION_EXISTS = "SELECT to_regprocedure('workestra_dispatch(integer, varchar, varchar, jsonb, integer, timestamptz)') IS NOT NULL"

_INSERT_ROW = """
INSERT INTO workflow_executions (workspace_id, workflow_id, workflow_name, trigger_type, source, definition,
    trigger_payload, status, completed_actions, current_step, step_attempts, claim_count, event_depth, created_at)
VALUES (%(workspace_id)s, %(workflow_id)s, %(workflow_name)s, %(trigger_type)s, %(source)s, %(definition)s,
    %(trigger_payload)s, %(status)s, %(completed_actions)s, 0, 0, 0, %(event_depth)s, %(created_at)s)
RETURNING id
"""

_JSON_COLUMNS = ("definition", "trigger_payload", "completed_actions")
_CURSOR = "workestra_dispatch_cursor"
_HAS_FUNCTION = "workestra_has_dispatch_function"


class DispatchFailed(Exception):
    """The dispatch function rolled its inserts back; the message is the database's."""


def usable(connection) -> bool:
    """True when `connection` (SQLAlchemy's) is PostgreSQL through psycopg and has the dispatch function."""
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return False
    info = connection.connection.info  # lives as long as the database connection
    if _HAS_FUNCTION not in info:
        info[_HAS_FUNCTION] = bool(connection.exec_driver_sql(_FUNCTION_EXISTS).scalar())
    return info[_HAS_FUNCTION]


def insert_unconditional(connection, workspace_id: int, trigger_key: str, payload: dict, depth: int,
                         source: str) -> tuple[list[int], list]:
    """Insert the executions of the matching workflows that have no conditions, in one round trip.

    Returns their ids (in workflow order) and the matching workflows that have conditions, as rows
    with the snapshot's columns for dispatcher.execution_row. Raises DispatchFailed when the function
    rolled back its inserts (the caller's transaction is intact).
    """
    cursor = _cursor(connection)
    cursor.execute(_DISPATCH, (workspace_id, trigger_key, source, Jsonb(payload), depth, utcnow()))
    rows = cursor.fetchall()
    failure = next((row.error for row in rows if row.error is not None), None)
    if failure is not None:
        raise DispatchFailed(failure)  # rows returned before the error were rolled back with it
    ids = sorted(row.execution_id for row in rows if row.execution_id is not None)
    return ids, [row for row in rows if row.execution_id is None]


def _cursor(connection):
    """A cursor kept with the database connection: creating one costs more than running this statement."""
    pooled = connection.connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not pooled.driver_connection:
        cursor = pooled.info[_CURSOR] = pooled.driver_connection.cursor(row_factory=namedtuple_row)
    return cursor


def insert_rows(connection, rows: list[dict]) -> list[int]:
    """Insert these pending executions (dispatcher.execution_row's dicts) in one round trip; their ids in order."""
    created_at = utcnow()
    params = [{**row, **{column: Jsonb(row[column]) for column in _JSON_COLUMNS}, "created_at": created_at}
              for row in rows]
    with pipelined_savepoint(connection) as cursor:
        cursor.executemany(_INSERT_ROW, params, returning=True)
    ids = []
    for _ in cursor.results():
        ids.append(cursor.fetchone().id)
    return ids


@contextmanager
def pipelined_savepoint(connection, name: str = "dispatch"):
    """SAVEPOINT, the statements sent on the cursor this yields, and RELEASE, in one psycopg pipeline.

    Read the cursor's results after the block. On an error the block's writes are rolled back and the
    error goes on up; the transaction around it goes on. The caller flushes the ORM first, so that the
    savepoint holds only these statements.
    """
    driver_connection = connection.connection.driver_connection
    savepoints = _cursor(connection)
    try:
        with driver_connection.pipeline():  # on leaving: everything is sent and waited for, one round trip
            savepoints.execute(f"SAVEPOINT {name}")
            yield driver_connection.cursor(row_factory=namedtuple_row)
            savepoints.execute(f"RELEASE SAVEPOINT {name}")
    except BaseException:
        savepoints.execute(f"ROLLBACK TO SAVEPOINT {name}")
        savepoints.execute(f"RELEASE SAVEPOINT {name}")
        raise

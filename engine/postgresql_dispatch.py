"""Dispatch on PostgreSQL in one round trip (issue #11, B3).

The portable dispatch (engine.dispatcher) sends SAVEPOINT, the lookup, the insert and RELEASE one
after the other. On this machine a round trip to PostgreSQL costs about 0.13 ms, and those four,
with SQLAlchemy's work for each, were most of what dispatch added to a business write.

Here one statement does the lookup and the inserts, sent with its SAVEPOINT and RELEASE in one psycopg
pipeline: it finds the workspace's active workflows on the trigger, inserts a pending execution for
each one without conditions (the definition snapshot built in SQL from the row it read, in the shape
of Workflow.definition()), and returns their ids along with the workflows that do have conditions.
Conditions are evaluated in Python, as everywhere else; the executions of those that hold are
inserted in a second round trip, in a savepoint of their own. A failure rolls back only its own
savepoint, never the business change.
"""
from contextlib import contextmanager

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from models.base import utcnow

# Workflow.definition()'s shape, built from the same row in SQL (its columns are NOT NULL, so Python's
# `or []` has nothing to stand in for here); tests/integration/test_dispatch_paths.py holds the two equal.
_INSERT_UNCONDITIONAL_RETURN_CONDITIONED = """
WITH candidates AS (
    SELECT id, workspace_id, name, description, trigger, trigger_type, conditions, actions, error_strategy, status,
           conditions = '[]'::jsonb AS unconditional
    FROM workflows
    WHERE workspace_id = %(workspace_id)s AND trigger_type = %(trigger_key)s AND status = 'active'
), inserted AS (
    INSERT INTO workflow_executions (workspace_id, workflow_id, workflow_name, trigger_type, source, definition,
        trigger_payload, status, completed_actions, current_step, step_attempts, claim_count, event_depth, created_at)
    SELECT workspace_id, id, name, trigger_type, %(source)s,
           jsonb_build_object('name', name, 'description', description, 'trigger', trigger, 'conditions', conditions,
                              'actions', actions, 'error_strategy', error_strategy, 'status', status),
           %(payload)s, 'pending', '[]'::jsonb, 0, 0, 0, %(depth)s, %(created_at)s
    FROM candidates
    WHERE unconditional
    ORDER BY id
    RETURNING id
)
SELECT id AS execution_id, NULL::integer AS id, NULL::integer AS workspace_id, NULL::varchar AS name,
       NULL::text AS description, NULL::jsonb AS trigger, NULL::varchar AS trigger_type, NULL::jsonb AS conditions,
       NULL::jsonb AS actions, NULL::varchar AS error_strategy, NULL::varchar AS status
FROM inserted
UNION ALL
SELECT NULL, id, workspace_id, name, description, trigger, trigger_type, conditions, actions, error_strategy, status
FROM candidates
WHERE NOT unconditional
"""

_INSERT_ROW = """
INSERT INTO workflow_executions (workspace_id, workflow_id, workflow_name, trigger_type, source, definition,
    trigger_payload, status, completed_actions, current_step, step_attempts, claim_count, event_depth, created_at)
VALUES (%(workspace_id)s, %(workflow_id)s, %(workflow_name)s, %(trigger_type)s, %(source)s, %(definition)s,
    %(trigger_payload)s, %(status)s, %(completed_actions)s, 0, 0, 0, %(event_depth)s, %(created_at)s)
RETURNING id
"""

_JSON_COLUMNS = ("definition", "trigger_payload", "completed_actions")


def usable(connection) -> bool:
    """True when `connection` (SQLAlchemy's) is PostgreSQL through psycopg with pipeline mode."""
    dialect = connection.dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg" and psycopg.Pipeline.is_supported()


def insert_unconditional(connection, workspace_id: int, trigger_key: str, payload: dict, depth: int,
                         source: str) -> tuple[list[int], list]:
    """Insert the executions of the matching workflows that have no conditions, in one round trip.

    Returns their ids (in workflow order) and the matching workflows that have conditions, as rows
    with the snapshot's columns for dispatcher.execution_row.
    """
    params = {"workspace_id": workspace_id, "trigger_key": trigger_key, "payload": Jsonb(payload),
              "depth": depth, "source": source, "created_at": utcnow()}
    with pipelined_savepoint(connection) as cursor:
        cursor.execute(_INSERT_UNCONDITIONAL_RETURN_CONDITIONED, params)
    rows = cursor.fetchall()
    ids = sorted(row.execution_id for row in rows if row.execution_id is not None)
    return ids, [row for row in rows if row.execution_id is None]


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
    try:
        with driver_connection.pipeline():  # on leaving: everything is sent and waited for, one round trip
            driver_connection.execute(f"SAVEPOINT {name}")
            yield driver_connection.cursor(row_factory=namedtuple_row)
            driver_connection.execute(f"RELEASE SAVEPOINT {name}")
    except BaseException:
        driver_connection.execute(f"ROLLBACK TO SAVEPOINT {name}")
        driver_connection.execute(f"RELEASE SAVEPOINT {name}")
        raise

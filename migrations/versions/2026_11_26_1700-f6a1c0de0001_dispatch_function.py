"""workestra_dispatch() and workestra_insert_runs(): PostgreSQL's dispatch in one statement (issue #11, B3)

Revision ID: f6a1c0de0001
Revises: f5a1c0de0001
Create Date: 2026-11-26 17:00:00

A domain event's dispatch was SAVEPOINT, the lookup, the insert and RELEASE: four round trips, most
of what dispatch added to a business write. This function does the lookup and the inserts in one
call: it inserts a pending execution for each active workflow on the trigger that has no conditions
(the definition snapshot built from the row it read, in the shape of Workflow.definition()), and
returns their ids with the matching workflows that do have conditions, whose conditions the
dispatcher evaluates in Python (engine/postgresql_dispatch.py). workestra_insert_runs() then inserts
the runs of those whose conditions hold, as the dispatcher built them, in a second call.

Each function's exception block is the savepoint DESIGN.md asks for: on any error the block's inserts are rolled
back, the caller's transaction goes on, and the error comes back as a row for the dispatcher to log.
Rows returned before the error must be ignored (the dispatcher does). SQLite has no such function:
it keeps the portable dispatch, where round trips cost nothing.

Change these functions in a new migration when the definition's shape or workflow_executions' required
columns change; tests/integration/test_dispatch_paths.py compares its rows with the portable path's.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f6a1c0de0001'
down_revision = 'f5a1c0de0001'
branch_labels = None
depends_on = None

SIGNATURES = ("workestra_dispatch(integer, varchar, varchar, jsonb, integer, timestamptz)",
              "workestra_insert_runs(jsonb)")

# The columns both functions fill; each SELECT gives a new pending run's values for them.
INSERT_EXECUTION = """INSERT INTO workflow_executions (workspace_id, workflow_id, workflow_name, trigger_type, source, definition,
            trigger_payload, status, completed_actions, current_step, step_attempts, claim_count, event_depth,
            created_at)"""

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION workestra_dispatch(
    p_workspace_id integer, p_trigger_key varchar, p_source varchar, p_payload jsonb, p_depth integer,
    p_created_at timestamptz)
RETURNS TABLE (execution_id bigint, id integer, workspace_id integer, name varchar, description text, trigger jsonb,
               trigger_type varchar, conditions jsonb, actions jsonb, error_strategy varchar, status varchar,
               error text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH candidates AS (
        SELECT id, workspace_id, name, description, trigger, trigger_type, conditions, actions, error_strategy, status,
               conditions = '[]'::jsonb AS unconditional
        FROM workflows
        WHERE workspace_id = p_workspace_id AND trigger_type = p_trigger_key AND status = 'active'
    ), inserted AS (
        {INSERT_EXECUTION}
        SELECT workspace_id, id, name, trigger_type, p_source,
               jsonb_build_object('name', name, 'description', description, 'trigger', trigger,
                                  'conditions', conditions, 'actions', actions, 'error_strategy', error_strategy,
                                  'status', status),
               p_payload, 'pending', '[]'::jsonb, 0, 0, 0, p_depth, p_created_at
        FROM candidates
        WHERE unconditional
        ORDER BY id
        RETURNING id
    )
    SELECT inserted.id, NULL::integer, NULL::integer, NULL::varchar, NULL::text, NULL::jsonb, NULL::varchar,
           NULL::jsonb, NULL::jsonb, NULL::varchar, NULL::varchar, NULL::text
    FROM inserted
    UNION ALL
    SELECT NULL::bigint, id, workspace_id, name, description, trigger, trigger_type, conditions, actions,
           error_strategy, status, NULL::text
    FROM candidates
    WHERE NOT unconditional;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN QUERY SELECT NULL::bigint, NULL::integer, NULL::integer, NULL::varchar, NULL::text, NULL::jsonb,
                        NULL::varchar, NULL::jsonb, NULL::jsonb, NULL::varchar, NULL::varchar,
                        SQLSTATE || ': ' || SQLERRM;
END
$$
"""

CREATE_INSERT_RUNS = f"""
CREATE OR REPLACE FUNCTION workestra_insert_runs(p_runs jsonb)
RETURNS TABLE (execution_id bigint, error text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH inserted AS (
        {INSERT_EXECUTION}
        SELECT workspace_id, workflow_id, workflow_name, trigger_type, source, definition, trigger_payload,
               'pending', '[]'::jsonb, 0, 0, 0, event_depth, created_at
        FROM jsonb_to_recordset(p_runs) AS run(workspace_id integer, workflow_id integer, workflow_name varchar,
                                               trigger_type varchar, source varchar, definition jsonb,
                                               trigger_payload jsonb, event_depth integer, created_at timestamptz)
        RETURNING id
    )
    SELECT inserted.id, NULL::text FROM inserted;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN QUERY SELECT NULL::bigint, SQLSTATE || ': ' || SQLERRM;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)
        op.execute(CREATE_INSERT_RUNS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for signature in SIGNATURES:
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")

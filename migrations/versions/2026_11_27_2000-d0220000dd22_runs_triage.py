"""Runs triage (issue #22): "resolved by" a replay, the run-data search column and its index, partial indexes for
"Completed with errors" and resolved failed runs

Revision ID: d0220000dd22
Revises: d0220000cc22
Create Date: 2026-11-27 20:00:00

PostgreSQL: `search_text` is a STORED generated column (the trigger payload's string and number values, the run's
error and its steps' errors, lower case, at most SEARCH_TEXT_MAX characters) with a pg_trgm GIN index, so
`search_text LIKE '%term%'` is an index search at a million runs. Adding it rewrites workflow_executions once.
SQLite: the column is a virtual NULL (the search reads the JSON there; see services/run_search.py).
No new run column is written by start_runs, so the PostgreSQL dispatch functions stay as they are.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d0220000dd22"
down_revision = "d0220000cc22"
branch_labels = None
depends_on = None

SEARCH_TEXT_MAX = 4000
# Values only (no keys): every string or number anywhere in the payload, then the errors. Silent (the last argument)
# and lax: a step record without an error, or any odd JSON, never makes the expression (so the INSERT) fail.
SEARCH_TEXT_SQL = (
    "lower(left("
    "jsonb_path_query_array(trigger_payload, 'strict $.** ? (@.type() == \"string\" || @.type() == \"number\")', "
    "'{}', true)::text"
    " || ' ' || coalesce(error, '') || ' ' || "
    "jsonb_path_query_array(completed_actions, 'lax $[*].error ? (@.type() == \"string\")', '{}', true)::text"
    f", {SEARCH_TEXT_MAX}))"
)
PARTIAL = {
    "ix_workflow_executions_with_errors": "status = 'completed' AND error IS NOT NULL",
    "ix_workflow_executions_resolved": "status = 'failed' AND resolved_by_id IS NOT NULL",
}


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.add_column("workflow_executions", sa.Column("resolved_by_id", sa.BigInteger(), nullable=True))
        op.execute(f"ALTER TABLE workflow_executions ADD COLUMN search_text text GENERATED ALWAYS AS ({SEARCH_TEXT_SQL}) STORED")
        op.execute("CREATE INDEX ix_workflow_executions_search ON workflow_executions USING gin (search_text gin_trgm_ops)")
    else:
        # Plain ADD COLUMNs (a batch would rebuild the table and drop its rollup triggers).
        op.execute("ALTER TABLE workflow_executions ADD COLUMN resolved_by_id INTEGER")
        op.execute("ALTER TABLE workflow_executions ADD COLUMN search_text TEXT GENERATED ALWAYS AS (NULL) VIRTUAL")
        op.execute("CREATE INDEX ix_workflow_executions_search ON workflow_executions (search_text) "
                   "WHERE search_text IS NOT NULL")  # always empty: the model's index, for the schema check
    for name, where in PARTIAL.items():
        op.create_index(name, "workflow_executions", ["workspace_id", "id", "workflow_id", "created_at"],
                        sqlite_where=sa.text(where), postgresql_where=sa.text(where))
    # Failed runs already replayed to completion (one level: a replay of a replay resolves from now on).
    op.execute("""
        UPDATE workflow_executions SET resolved_by_id = (
            SELECT max(r.id) FROM workflow_executions r
            WHERE r.replay_of_id = workflow_executions.id AND r.status = 'completed' AND r.error IS NULL)
        WHERE status = 'failed' AND EXISTS (
            SELECT 1 FROM workflow_executions r
            WHERE r.replay_of_id = workflow_executions.id AND r.status = 'completed' AND r.error IS NULL)
    """)


def downgrade():
    bind = op.get_bind()
    for name in PARTIAL:
        op.drop_index(name, table_name="workflow_executions")
    op.execute("DROP INDEX ix_workflow_executions_search")
    if bind.dialect.name == "postgresql":
        op.drop_column("workflow_executions", "search_text")
        op.drop_column("workflow_executions", "resolved_by_id")
    else:
        op.execute("ALTER TABLE workflow_executions DROP COLUMN search_text")
        op.execute("ALTER TABLE workflow_executions DROP COLUMN resolved_by_id")

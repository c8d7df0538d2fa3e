"""workestra_dispatch() and workestra_insert_runs() generated from the code's column lists (issue #16)

Revision ID: b1a1c0de0016
Revises: a16c0de00001
Create Date: 2026-11-27 13:00:00

f6a1c0de0001 spelled the functions out, so the definition snapshot's shape was written twice (in
Workflow.definition and in SQL). Now engine.core.postgresql_runs generates them from the lists the
portable insert uses, and marks each with the hash of its text; the runtime takes the one-round-trip
path only when the installed functions carry the code's hash. When those lists change, add a
migration that runs function_statements() again (test_dispatch_paths fails until one does).
"""
from alembic import op

from engine.core import postgresql_runs

# revision identifiers, used by Alembic.
revision = 'b1a1c0de0016'
down_revision = 'a16c0de00001'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in postgresql_runs.function_statements():
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for signature in (postgresql_runs.DISPATCH_SIGNATURE, postgresql_runs.INSERT_RUNS_SIGNATURE):
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")

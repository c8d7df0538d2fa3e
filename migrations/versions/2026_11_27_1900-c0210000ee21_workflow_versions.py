"""Versions and files (issue #21): workflow_versions, the version a run ran, the version a template came from

Revision ID: c0210000ee21
Revises: c0190000bb19
Create Date: 2026-11-27 19:00:00

Every existing workflow gets version 1 from its current definition (and workflows.version is set to 1).
A new run carries `workflow_version`, so engine.core.postgresql_runs's functions are installed again
from the code's column lists.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types
from engine.core import postgresql_runs

# revision identifiers, used by Alembic.
revision = "c0210000ee21"
down_revision = "c0190000bb19"
branch_labels = None
depends_on = None

VERSIONED = ("name", "description", "trigger", "conditions", "conditions_match", "actions", "error_strategy")
EMPTY = {"description": "", "conditions": [], "conditions_match": "all", "actions": []}
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    bind = op.get_bind()
    shape = "jsonb_typeof" if bind.dialect.name == "postgresql" else "json_type"
    op.create_table(
        "workflow_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", JSON_TYPE, nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_label", sa.String(length=200), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_workflow_versions_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"], name=op.f("fk_workflow_versions_workflow_id_workflows"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_workflow_versions_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_versions")),
        sa.CheckConstraint(f"{shape}(definition) = 'object'", name=op.f("ck_workflow_versions_definition_is_object")),
    )
    op.create_index("ix_workflow_versions_workflow_number", "workflow_versions", ["workflow_id", "number"], unique=True)
    with op.batch_alter_table("workflow_executions") as batch:
        batch.add_column(sa.Column("workflow_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("workflow_templates") as batch:
        batch.add_column(sa.Column("source_workflow_version", sa.Integer(), nullable=True))

    workflows = sa.table("workflows", sa.column("id"), sa.column("workspace_id"), sa.column("created_by_id"),
                         sa.column("updated_at", models.types.UTCDateTime(timezone=True)), sa.column("version"),
                         *(sa.column(name, JSON_TYPE if name in ("trigger", "conditions", "actions") else sa.String)
                           for name in VERSIONED))
    versions = sa.table("workflow_versions", sa.column("workspace_id"), sa.column("workflow_id"), sa.column("number"),
                        sa.column("definition", JSON_TYPE), sa.column("note"), sa.column("created_by_id"),
                        sa.column("created_by_label"), sa.column("created_at", models.types.UTCDateTime(timezone=True)))
    rows = []
    for row in bind.execute(sa.select(workflows)).mappings():
        definition = {name: EMPTY[name] if row[name] is None and name in EMPTY else row[name] for name in VERSIONED}
        rows.append({"workspace_id": row["workspace_id"], "workflow_id": row["id"], "number": 1, "definition": definition,
                     "note": "The definition when versions began", "created_by_id": row["created_by_id"],
                     "created_by_label": "", "created_at": row["updated_at"]})
        if len(rows) >= 500:
            bind.execute(versions.insert(), rows)
            rows = []
    if rows:
        bind.execute(versions.insert(), rows)
    op.execute(workflows.update().values(version=1))
    if bind.dialect.name == "postgresql":
        for statement in postgresql_runs.function_statements():
            op.execute(statement)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for signature in (postgresql_runs.DISPATCH_SIGNATURE, postgresql_runs.INSERT_RUNS_SIGNATURE):
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    with op.batch_alter_table("workflow_templates") as batch:
        batch.drop_column("source_workflow_version")
    with op.batch_alter_table("workflow_executions") as batch:
        batch.drop_column("workflow_version")
    op.drop_index("ix_workflow_versions_workflow_number", table_name="workflow_versions")
    op.drop_table("workflow_versions")

"""workflow templates: the table and the 20 system templates from seeds/system_templates.json

Revision ID: d6a1c0de0001
Revises: b4a1c0de0001
Create Date: 2026-11-25 17:30:00

"""
from alembic import op
import sqlalchemy as sa

import models.types
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql

revision = "d6a1c0de0001"
down_revision = "b4a1c0de0001"
branch_labels = None
depends_on = None


def _json_shape_check(column, shape):
    function = "jsonb_typeof" if op.get_bind().dialect.name == "postgresql" else "json_type"
    return sa.CheckConstraint(f"{function}({column}) = '{shape}'", name=op.f(f"ck_workflow_templates_{column}_is_{shape}"))


def upgrade():
    op.create_table(
        "workflow_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("featured", sa.Boolean(), nullable=False),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("source_workflow_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_workflow_templates_created_by_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["source_workflow_id"], ["workflows.id"], name=op.f("fk_workflow_templates_source_workflow_id_workflows"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=op.f("fk_workflow_templates_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_templates")),
        sa.UniqueConstraint("slug", name=op.f("uq_workflow_templates_slug")),
        _json_shape_check("definition", "object"),
    )
    with op.batch_alter_table("workflow_templates", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_templates_workspace", ["workspace_id", "category"], unique=False)
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_from_template", sa.String(length=120), nullable=True))

    from seeds.templates_loader import load_system_templates

    load_system_templates(op.get_bind())


def downgrade():
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_column("created_from_template")
    with op.batch_alter_table("workflow_templates", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_templates_workspace")
    op.drop_table("workflow_templates")

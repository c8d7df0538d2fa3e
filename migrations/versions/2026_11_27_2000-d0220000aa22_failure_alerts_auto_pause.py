"""Failure alerts and auto-pause (issue #22): workflow settings and paused_reason, the workspace's auto-pause
default, grouped notifications, and each workflow's failure streak

Revision ID: d0220000aa22
Revises: c0210000ee21
Create Date: 2026-11-27 20:00:00

No column of a new run changes, so engine.core.postgresql_runs's functions stay as they are.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

# revision identifiers, used by Alembic.
revision = "d0220000aa22"
down_revision = "c0210000ee21"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    bind = op.get_bind()
    shape = "jsonb_typeof" if bind.dialect.name == "postgresql" else "json_type"
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(sa.Column("settings", JSON_TYPE, server_default="{}", nullable=False))
        batch.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
        batch.create_check_constraint(op.f("ck_workflows_settings_is_object"), f"{shape}(settings) = 'object'")
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("auto_pause_after_failures", sa.Integer(), server_default="5", nullable=False))
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("group_key", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("group_count", sa.Integer(), server_default="1", nullable=False))
    op.create_index("ix_notifications_group", "notifications", ["workspace_id", "user_id", "group_key"], unique=False)
    op.create_table(
        "workflow_failure_states",
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("unemailed_failures", sa.Integer(), nullable=False),
        sa.Column("unemailed_since", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_email_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"],
                                name=op.f("fk_workflow_failure_states_workflow_id_workflows"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_workflow_failure_states_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_workflow_failure_states")),
    )
    op.create_index(op.f("ix_workflow_failure_states_workspace_id"), "workflow_failure_states", ["workspace_id"],
                    unique=False)


def downgrade():
    op.drop_index(op.f("ix_workflow_failure_states_workspace_id"), table_name="workflow_failure_states")
    op.drop_table("workflow_failure_states")
    op.drop_index("ix_notifications_group", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("group_count")
        batch.drop_column("group_key")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("auto_pause_after_failures")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_constraint(op.f("ck_workflows_settings_is_object"), type_="check")
        batch.drop_column("paused_reason")
        batch.drop_column("settings")

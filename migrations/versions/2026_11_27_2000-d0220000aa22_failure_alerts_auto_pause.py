"""Failure alerts and auto-pause (issue #22): workflow settings and paused_reason, the workspace's auto-pause
default, grouped notifications, and each workflow's failure streak

Revision ID: d0220000aa22
Revises: c0210000ee21
Create Date: 2026-11-27 20:00:00

No column of a new run changes, so engine.core.postgresql_runs's functions stay as they are. The gallery gains
the system template of seeds/operations_templates.json (an alert flow on workflow_failed).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types
from seeds.templates_loader import OPERATIONS_TEMPLATES_FILE, load_system_templates, read_system_templates

# revision identifiers, used by Alembic.
revision = "d0220000aa22"
down_revision = "c0210000ee21"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    bind = op.get_bind()
    shape = "jsonb_typeof" if bind.dialect.name == "postgresql" else "json_type"
    check = f"{shape}(settings) = 'object'"
    if bind.dialect.name == "sqlite":  # the CHECK inline: no copy of workflows (its DROP would cascade to children)
        op.execute("ALTER TABLE workflows ADD COLUMN settings JSON DEFAULT '{}' NOT NULL "
                   f"CONSTRAINT ck_workflows_settings_is_object CHECK ({check})")
    else:
        op.add_column("workflows", sa.Column("settings", JSON_TYPE, server_default="{}", nullable=False))
        op.create_check_constraint(op.f("ck_workflows_settings_is_object"), "workflows", check)
    op.add_column("workflows", sa.Column("paused_reason", sa.Text(), nullable=True))
    op.add_column("workspaces", sa.Column("auto_pause_after_failures", sa.Integer(), server_default="5", nullable=False))
    op.add_column("notifications", sa.Column("group_key", sa.String(length=100), nullable=True))
    op.add_column("notifications", sa.Column("group_count", sa.Integer(), server_default="1", nullable=False))
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
    load_system_templates(bind, OPERATIONS_TEMPLATES_FILE)  # the gallery's template on workflow_failed


def downgrade():
    templates = sa.table("workflow_templates", sa.column("slug"), sa.column("workspace_id"))
    op.execute(templates.delete().where(templates.c.slug.in_([t["slug"] for t in read_system_templates(OPERATIONS_TEMPLATES_FILE)]),
                                        templates.c.workspace_id.is_(None)))
    op.drop_index(op.f("ix_workflow_failure_states_workspace_id"), table_name="workflow_failure_states")
    op.drop_table("workflow_failure_states")
    op.drop_index("ix_notifications_group", table_name="notifications")
    for table, column in (("notifications", "group_count"), ("notifications", "group_key"),
                          ("workspaces", "auto_pause_after_failures"), ("workflows", "paused_reason")):
        op.drop_column(table, column)
    if op.get_bind().dialect.name == "sqlite":  # drops its inline CHECK with it (no copy of workflows)
        op.execute("ALTER TABLE workflows DROP COLUMN settings")
    else:
        op.drop_constraint(op.f("ck_workflows_settings_is_object"), "workflows", type_="check")
        op.drop_column("workflows", "settings")

"""Test runs (issue #20): workflow_executions.mode ('live' | 'test') and event_samples (recent event payloads)

Revision ID: d0200000ab20
Revises: c0210000ee21
Create Date: 2026-11-27 20:00:00

`mode` is not among the columns a new run is inserted with by the PostgreSQL dispatch functions
(engine.core.postgresql_runs.NEW_RUN_COLUMNS): events start live runs, its server default. Test runs are
inserted by the portable path with mode 'test', so the functions stay as they are.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

# revision identifiers, used by Alembic.
revision = "d0200000ab20"
down_revision = "c0210000ee21"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    bind = op.get_bind()
    shape = "jsonb_typeof" if bind.dialect.name == "postgresql" else "json_type"
    with op.batch_alter_table("workflow_executions") as batch:
        batch.add_column(sa.Column("mode", sa.String(length=8), nullable=False, server_default="live"))
        batch.create_check_constraint(op.f("ck_workflow_executions_mode_known"), "mode IN ('live', 'test')")
    op.create_table(
        "event_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("trigger_type", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_event_samples_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_samples")),
        sa.CheckConstraint(f"{shape}(payload) = 'object'", name=op.f("ck_event_samples_payload_is_object")),
    )
    op.create_index("ix_event_samples_workspace_trigger", "event_samples", ["workspace_id", "trigger_type", "id"])


def downgrade():
    op.drop_index("ix_event_samples_workspace_trigger", table_name="event_samples")
    op.drop_table("event_samples")
    with op.batch_alter_table("workflow_executions") as batch:
        batch.drop_constraint(op.f("ck_workflow_executions_mode_known"), type_="check")
        batch.drop_column("mode")

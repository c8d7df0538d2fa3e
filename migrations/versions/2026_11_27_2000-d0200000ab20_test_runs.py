"""Test runs (issue #20): workflow_executions.mode ('live' | 'test') and event_samples (recent event payloads)

Revision ID: d0200000ab20
Revises: d0220000dd22
Create Date: 2026-11-27 20:00:00

`mode` is not among the columns a new run is inserted with by the PostgreSQL dispatch functions
(engine.core.postgresql_runs.NEW_RUN_COLUMNS): events start live runs, its server default. Test runs are
inserted by the portable path with mode 'test', so the functions stay as they are. The daily run rollups'
triggers are installed again with a condition that leaves test runs out; the delete trigger keeps skipping the
prune's deletes (migration d0220000cc22).
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

# revision identifiers, used by Alembic.
revision = "d0200000ab20"
down_revision = "d0220000dd22"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# A column with its CHECK, added in place (SQLite's batch mode would copy the table and lose its triggers).
ADD_MODE = ("ALTER TABLE workflow_executions ADD COLUMN mode VARCHAR(8) DEFAULT 'live' NOT NULL "
            "CONSTRAINT ck_workflow_executions_mode_known CHECK (mode IN ('live', 'test'))")
TRIGGERS = ("insert", "update", "delete")


def _migration(revision_id: str, name: str):
    """An earlier migration's module, whose trigger definitions are reused."""
    [path] = Path(__file__).parent.glob(f"*{revision_id}_{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_{revision_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rollups():
    """The run-rollup migration (f4a1c0de0001), whose trigger definitions are reused with test runs left out."""
    return _migration("f4a1c0de0001", "run_rollups")


def _install_prune_aware_delete_trigger(postgres: bool, live_only: bool) -> None:
    """Migration d0220000cc22's delete trigger (the prune's deletes leave the rollups as they are)."""
    retention = _migration("d0220000cc22", "retention_and_insights")
    keep = retention.PG_KEEP if postgres else retention.SQLITE_KEEP
    for statement in retention._delete_trigger("postgresql" if postgres else "sqlite",
                                                f"OLD.mode = 'live' AND {keep}" if live_only else keep):
        op.execute(statement)


def _live_only(sql: str, rollups) -> str:
    """The rollup triggers' WHEN clauses, for live runs only (a run's mode never changes)."""
    terminal = rollups.TERMINAL
    for old, new in ((f"WHEN (NEW.status IN {terminal})", f"WHEN (NEW.status IN {terminal} AND NEW.mode = 'live')"),
                     (f"WHEN NEW.status IN {terminal}\n", f"WHEN NEW.status IN {terminal} AND NEW.mode = 'live'\n"),
                     (f"WHEN (OLD.status IN {terminal})", f"WHEN (OLD.status IN {terminal} AND OLD.mode = 'live')"),
                     (f"WHEN OLD.status IN {terminal}\n", f"WHEN OLD.status IN {terminal} AND OLD.mode = 'live'\n"),
                     ("FOR EACH ROW WHEN ((OLD.status", "FOR EACH ROW WHEN (NEW.mode = 'live' AND (OLD.status"),
                     ("FOR EACH ROW WHEN (OLD.status IN ('completed', 'failed', 'cancelled') OR",
                      "FOR EACH ROW WHEN NEW.mode = 'live' AND (OLD.status IN ('completed', 'failed', 'cancelled') OR")):
        sql = sql.replace(old, new)
    return sql


def _drop_rollup_triggers(postgres: bool) -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS workflow_run_rollup_{trigger}" + (" ON workflow_executions" if postgres else ""))


def _install_rollup_triggers(postgres: bool, live_only: bool) -> None:
    rollups = _rollups()
    statements = [rollups.PG_TRIGGERS] if postgres else rollups.SQLITE_TRIGGERS
    for statement in statements:
        op.execute(_live_only(statement, rollups) if live_only else statement)


def upgrade():
    bind = op.get_bind()
    shape = "jsonb_typeof" if bind.dialect.name == "postgresql" else "json_type"
    postgres = bind.dialect.name == "postgresql"
    op.execute(ADD_MODE)
    _drop_rollup_triggers(postgres)  # test runs stay out of the daily rollups (stats, charts)
    _install_rollup_triggers(postgres, live_only=True)
    _install_prune_aware_delete_trigger(postgres, live_only=True)
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
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_rollup_triggers(postgres)
    op.execute("DELETE FROM workflow_executions WHERE mode = 'test'")
    # In place on SQLite too (its CHECK belongs to the column): a batch copy would fail on the generated
    # search_text column (d0220000dd22) and lose the table's triggers.
    op.execute("ALTER TABLE workflow_executions DROP COLUMN mode")
    _install_rollup_triggers(postgres, live_only=False)
    _install_prune_aware_delete_trigger(postgres, live_only=False)

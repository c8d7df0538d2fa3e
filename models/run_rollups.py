"""Daily rollups of finished runs: what the Runs page's stats strip, status tabs and chart and the
workflow list's "runs 7d" read instead of scanning workflow_executions.

Both tables are written ONLY by database triggers on workflow_executions (migration
f4a1c0de0001): never insert or update them from Python. They count runs in a terminal status
(completed, failed, cancelled) per UTC day of created_at; runs still pending, running or paused
are few at any time and counted live from workflow_executions. Keeping non-terminal runs out
means the engine's claims and steps never touch a rollup row; only the one UPDATE that finishes
a run does. Each day and status is split over ROLLUP_SHARDS rows (shard = the run's id % 8), so
runs finishing at the same moment rarely wait for each other's row lock: readers sum the shards.

The retention prune deletes old finished runs WITHOUT subtracting them (migration d0220000cc22): the rollups
keep every day's figures, so stats and charts do not change when history is pruned. RunRollupHold is how a
SQLite transaction asks for that (services/retention_service.keep_rollups_on_delete).
"""
from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db

ROLLUP_SHARDS = 8  # fixed by migration f4a1c0de0001's triggers


class WorkflowRunDaily(db.Model):
    """Finished runs of one workflow on one UTC day in one status (runs whose workflow was deleted
    are only in WorkspaceRunDaily)."""

    __tablename__ = "workflow_run_daily"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # the run's id % ROLLUP_SHARDS
    runs: Mapped[int] = mapped_column(Integer)
    total_duration_ms: Mapped[int] = mapped_column(BigInteger)  # the sum of duration_ms (NULL counts 0)
    timed_runs: Mapped[int] = mapped_column(Integer)  # the runs with a duration_ms


class WorkspaceRunDaily(db.Model):
    """Finished runs of the whole workspace on one UTC day in one status: the workspace-wide numbers
    read a few hundred rows here instead of workflows × days rows of WorkflowRunDaily."""

    __tablename__ = "workspace_run_daily"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    runs: Mapped[int] = mapped_column(Integer)
    total_duration_ms: Mapped[int] = mapped_column(BigInteger)
    timed_runs: Mapped[int] = mapped_column(Integer)


class RunRollupHold(db.Model):
    """While a transaction holds a row here (inserted and deleted again before its commit, so no other
    connection ever sees it), SQLite's delete trigger leaves the rollups alone. PostgreSQL uses a
    transaction-local setting instead; the table exists there too and stays empty."""

    __tablename__ = "run_rollup_holds"

    id: Mapped[int] = mapped_column(primary_key=True)

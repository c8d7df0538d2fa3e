"""Workflows and their executions: the engine's tables."""
import copy
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Computed, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow
from models.types import JSONDocument, UTCDateTime
from models.vocabulary import ConditionsMatch, ErrorStrategy, RunMode, RunSource, RunStatus, WorkflowStatus, check_in

# Integer keys autoincrement on SQLite only as INTEGER; PostgreSQL gets BIGINT for a million-row history.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def json_shape_checks(table: str, shapes: dict[str, str]) -> list[CheckConstraint]:
    """CHECK constraints that a JSON column holds an object or an array, on SQLite and PostgreSQL."""
    checks = []
    for column, shape in shapes.items():
        checks.append(
            CheckConstraint(f"json_type({column}) = '{shape}'", name=f"{column}_is_{shape}").ddl_if(dialect="sqlite")
        )
        checks.append(
            CheckConstraint(f"jsonb_typeof({column}) = '{shape}'", name=f"{column}_is_{shape}").ddl_if(dialect="postgresql")
        )
    return checks


WORKFLOW_JSON_SHAPES = {"trigger": "object", "conditions": "array", "actions": "array", "settings": "object"}
EXECUTION_JSON_SHAPES = {"definition": "object", "trigger_payload": "object", "completed_actions": "array"}
VERSION_JSON_SHAPES = {"definition": "object"}


class Workflow(db.Model):
    __tablename__ = "workflows"
    __table_args__ = (
        # Dispatch looks up a workspace's active workflows for one trigger key.
        Index("ix_workflows_dispatch", "workspace_id", "trigger_type", "status"),
        Index("ix_workflows_workspace_updated", "workspace_id", "updated_at"),
        check_in("status", WorkflowStatus, name="status_known"),
        check_in("error_strategy", ErrorStrategy, name="error_strategy_known"),
        check_in("conditions_match", ConditionsMatch, name="conditions_match_known"),
        *json_shape_checks("workflows", WORKFLOW_JSON_SHAPES),
        CheckConstraint("max_concurrent_runs IS NULL OR max_concurrent_runs > 0", name="max_concurrent_runs_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[dict] = mapped_column(JSONDocument)
    trigger_type: Mapped[str] = mapped_column(String(64))
    conditions: Mapped[list] = mapped_column(JSONDocument, default=list)
    conditions_match: Mapped[str] = mapped_column(String(8), default=ConditionsMatch.ALL.value,
                                                  server_default=ConditionsMatch.ALL.value)
    actions: Mapped[list] = mapped_column(JSONDocument, default=list)
    error_strategy: Mapped[str] = mapped_column(String(16), default=ErrorStrategy.CONTINUE.value)
    status: Mapped[str] = mapped_column(String(16), default=WorkflowStatus.DRAFT.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_from_template: Mapped[str | None] = mapped_column(String(120))  # the template's slug
    # Operating settings (DESIGN.md "Operating many workflows"): alert_on_failure, auto_pause_after_failures, ...
    # Not part of the definition: a run reads the workflow's current settings, never a snapshot of them.
    settings: Mapped[dict] = mapped_column(JSONDocument, default=dict, server_default="{}")
    # Why the workflow is paused when the engine paused it (auto-pause after consecutive failed runs); None otherwise.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    # settings.max_concurrent_runs (issue #22): at most this many of its runs are running at once; None = no cap.
    # A column, not a key of a JSON document: every claim of a run reads it (engine.core.caps).
    max_concurrent_runs: Mapped[int | None] = mapped_column(Integer)
    minutes_saved_per_run: Mapped[int | None] = mapped_column(Integer)  # Insights' "time saved" (issue #22)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def definition(self) -> dict:
        """The definition shape of DESIGN.md, as snapshotted on each execution: a deep copy, so changing
        it never changes this row behind SQLAlchemy's back (JSON columns do not track in-place edits).
        Also called on a row of these columns (Workflow.definition(row)); PostgreSQL's dispatch
        function builds the same object from SNAPSHOT_FIELDS (engine.core.postgresql_runs)."""
        snapshot = {}
        for name in SNAPSHOT_FIELDS:
            value = getattr(self, name)
            snapshot[name] = SNAPSHOT_EMPTY[name] if value is None and name in SNAPSHOT_EMPTY else value
        return copy.deepcopy(snapshot)


# The definition snapshot's fields (columns of workflows), and what a NULL among them stands for.
SNAPSHOT_FIELDS = ("name", "description", "trigger", "conditions", "conditions_match", "actions", "error_strategy",
                   "status")
SNAPSHOT_EMPTY = {"description": "", "conditions": [], "conditions_match": ConditionsMatch.ALL.value, "actions": []}


class WorkflowExecution(db.Model):
    __tablename__ = "workflow_executions"
    __table_args__ = (
        Index("ix_workflow_executions_workspace_status", "workspace_id", "status", "id"),
        Index("ix_workflow_executions_workspace_workflow", "workspace_id", "workflow_id", "id"),
        Index("ix_workflow_executions_due", "status", "resume_at"),
        Index("ix_workflow_executions_lease", "status", "lease_expires_at"),
        Index("ix_workflow_executions_replay_of", "replay_of_id"),  # the replays of a run (run detail)
        Index("ix_workflow_executions_workspace_created", "workspace_id", "created_at"),  # Runs filtered by dates
        Index("ix_workflow_executions_chain_root", "chain_root_id"),
        # A workflow's running runs (counted by every capped claim) and its oldest waiting one (handed over when a
        # slot frees), engine.runtime.caps; a workspace's use ix_workflow_executions_workspace_status.
        Index("ix_workflow_executions_workflow_active", "workflow_id", "status", "id",
              postgresql_where=text("status IN ('pending', 'running')"),
              sqlite_where=text("status IN ('pending', 'running')")),
        # The Runs tab's triage (issue #22): "Completed with errors" runs and failed runs a replay resolved,
        # listed newest first and counted per workflow and dates from these small partial indexes (with the mode:
        # every count says mode = 'live', and reads the index alone; migration e0220000b122).
        Index("ix_workflow_executions_with_errors", "workspace_id", "id", "workflow_id", "created_at", "mode",
              sqlite_where=text("status = 'completed' AND error IS NOT NULL"),
              postgresql_where=text("status = 'completed' AND error IS NOT NULL")),
        Index("ix_workflow_executions_resolved", "workspace_id", "id", "workflow_id", "created_at", "mode",
              sqlite_where=text("status = 'failed' AND resolved_by_id IS NOT NULL"),
              postgresql_where=text("status = 'failed' AND resolved_by_id IS NOT NULL")),
        # the search's words index (PostgreSQL, GIN); on SQLite an always empty stand-in
        Index("ix_workflow_executions_search_words", "search_words", postgresql_using="gin",
              sqlite_where=text("search_words IS NOT NULL")),
        check_in("status", RunStatus, name="status_known"),
        check_in("mode", RunMode, name="mode_known"),
        *json_shape_checks("workflow_executions", EXECUTION_JSON_SHAPES),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflows.id", ondelete="SET NULL"))
    workflow_name: Mapped[str] = mapped_column(String(200))
    trigger_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default=RunSource.EVENT.value)
    definition: Mapped[dict] = mapped_column(JSONDocument)
    trigger_payload: Mapped[dict] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    completed_actions: Mapped[list] = mapped_column(JSONDocument, default=list)
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    step_attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed attempts of the current step
    wait_marker: Mapped[str | None] = mapped_column(String(32))  # "<step>:delay" / "<step>:wait" once started
    resume_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_count: Mapped[int] = mapped_column(Integer, default=0)
    # claims of a running row whose lease had expired (its worker died or hung); capped by EXECUTION_MAX_TAKEOVERS
    takeover_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    event_depth: Mapped[int] = mapped_column(Integer, default=0)
    replay_of_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("workflow_executions.id", ondelete="SET NULL"))
    # A run caused by another run's action (through an event) belongs to the chain of the first run, the root;
    # the root counts the runs its chain has caused (the fan-out budget, CHAIN_RUN_BUDGET).
    chain_root_id: Mapped[int | None] = mapped_column(BigId)
    chain_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    workflow_version: Mapped[int | None] = mapped_column(Integer)  # the workflow_versions.number it ran (issue #21)
    # A failed run that a replay (or a replay of a replay) later completed without a failed step: that replay's id.
    # No foreign key (adding one on SQLite would rebuild the table): deleting runs clears it (run_bulk_service).
    resolved_by_id: Mapped[int | None] = mapped_column(BigId)
    # What the Runs tab's search reads: the words of the trigger payload's values, the run's error and its steps'
    # errors (services.run_search). PostgreSQL computes and stores a tsvector (migration e0220000a122, a GIN index);
    # on SQLite the column is a virtual NULL and services.run_search reads the JSON itself. Never written.
    search_words: Mapped[str | None] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"),
                                                     Computed(text("NULL")), deferred=True)
    # "test": a test run (issue #20), kept out of stats, alerts, caps and the Runs tab's default view
    mode: Mapped[str] = mapped_column(String(8), default=RunMode.LIVE.value, server_default=RunMode.LIVE.value)

    workflow: Mapped[Workflow | None] = relationship()


class EventSample(db.Model):
    """One of the last few real event payloads of a trigger in a workspace (issue #20): test runs' sample data.
    Trimmed to a size limit, secrets removed (engine.core.samples)."""
    __tablename__ = "event_samples"
    __table_args__ = (
        Index("ix_event_samples_workspace_trigger", "workspace_id", "trigger_type", "id"),
        *json_shape_checks("event_samples", {"payload": "object"}),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    trigger_type: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[dict] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkflowVersion(db.Model):
    """One immutable saved definition of a workflow (issue #21): number 1, 2, 3 ... per workflow. Restoring
    version N adds a new version with N's definition; rows are never changed or deleted (but with the workflow)."""
    __tablename__ = "workflow_versions"
    __table_args__ = (
        Index("ix_workflow_versions_workflow_number", "workflow_id", "number", unique=True),
        *json_shape_checks("workflow_versions", VERSION_JSON_SHAPES),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSONDocument)  # VERSIONED_FIELDS of the workflow
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_label: Mapped[str] = mapped_column(String(200), default="")
    restored_from: Mapped[int | None] = mapped_column(Integer)  # the number this version restored, if any
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# What a version keeps: the definition without the status (a status change adds no version).
VERSIONED_FIELDS = tuple(name for name in SNAPSHOT_FIELDS if name != "status")


class WorkflowFailureState(db.Model):
    """A workflow's failure streak and alert bookkeeping (services/failure_alerts.py): one row per workflow that has
    failed at least once. Runs that succeed only write here when a streak is to be reset."""
    __tablename__ = "workflow_failure_states"

    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # failed runs not yet counted in an alert email, since when; the last alert email
    unemailed_failures: Mapped[int] = mapped_column(Integer, default=0)
    unemailed_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_email_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

"""Starting runs: the one way a workflow_executions row comes to be.

Every entry point (a domain event, Run now, a replay, an incoming webhook, a schedule) describes
its runs as `NewRun`s and calls `start_runs`, which inserts them as pending rows holding a snapshot
of the workflow's definition and hands them over after the caller's transaction commits.

`fire_workflow_event` (**contract**) is the entry point of domain events. Services call it inside
their own transaction; the lookup and the inserts run in a SAVEPOINT (Core statements only, see
models.base.core_savepoint; on PostgreSQL a database function whose exception block is the
savepoint, one round trip, see engine.core.postgresql_runs), so a dispatch failure rolls back only
the dispatch. It never raises into the caller.
"""
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import bindparam, insert, select

from engine.core import postgresql_runs
from engine.core.conditions import conditions_hold
from engine.core.handoff import hand_over_after_commit
from models import Workflow, WorkflowExecution, db
from models.base import core_savepoint, utcnow
from models.vocabulary import RunSource, WorkflowStatus

log = logging.getLogger(__name__)

MAX_CHAIN_DEPTH = 5

# Set by the runner while an action runs, so events caused by a workflow carry the chain depth.
_event_depth: ContextVar[int] = ContextVar("workestra_event_depth", default=0)
_refusals: ContextVar[list | None] = ContextVar("workestra_dispatch_refusals", default=None)

EXECUTIONS = WorkflowExecution.__table__


@dataclass
class NewRun:
    """A run to start: the workflow (a Workflow or a row of its snapshot columns), the trigger payload, where
    it comes from, and, for a replay, what differs from a fresh run (`progress`: replay_of_id, definition, ...)."""
    workspace_id: int
    workflow_id: int | None
    workflow_name: str
    trigger_type: str
    source: str
    definition: dict
    trigger_payload: dict
    event_depth: int = 0
    progress: dict = field(default_factory=dict)
    workflow_version: int | None = None  # the version of the workflow this run runs (issue #21)

    @classmethod
    def of(cls, workflow, payload: dict, source: str = RunSource.EVENT, depth: int = 0) -> "NewRun":
        return cls(
            workspace_id=workflow.workspace_id, workflow_id=workflow.id, workflow_name=workflow.name,
            trigger_type=workflow.trigger_type, source=source,
            definition=Workflow.definition(workflow),  # the snapshot, from a Workflow or a row of its columns
            trigger_payload=payload, event_depth=depth, workflow_version=workflow.version,
        )

    def row(self, created_at=None) -> dict:
        """The new row's columns: postgresql_runs.NEW_RUN_COLUMNS, the pending state, then `progress`."""
        return {
            "workspace_id": self.workspace_id, "workflow_id": self.workflow_id, "workflow_name": self.workflow_name,
            "trigger_type": self.trigger_type, "source": self.source, "definition": self.definition,
            "trigger_payload": self.trigger_payload, "event_depth": self.event_depth,
            "created_at": created_at or utcnow(), "workflow_version": self.workflow_version,
            **postgresql_runs.PENDING_STATE, **self.progress,
        }


def start_runs(runs: list[NewRun], created_at=None) -> list[int]:
    """Insert these runs as pending rows and hand them over once the caller commits; their ids in order."""
    if not runs:
        return []
    now = created_at or utcnow()
    ids = _insert([run.row(now) for run in runs])
    hand_over_after_commit(ids)
    return ids


_INSERT_ONE = insert(EXECUTIONS).returning(EXECUTIONS.c.id)
_INSERT_MANY = insert(EXECUTIONS).returning(EXECUTIONS.c.id, sort_by_parameter_order=True)


def _insert(rows: list[dict]) -> list[int]:
    if len(rows) == 1:
        return [db.session.execute(_INSERT_ONE, rows[0]).scalar_one()]
    return list(db.session.scalars(_INSERT_MANY, rows))


# -- domain events ----------------------------------------------------------------------------------

@contextmanager
def caused_by_execution(depth: int, refusals: list):
    """Within this block, dispatched events are one level deeper and refusals are collected."""
    depth_token = _event_depth.set(depth + 1)
    refusal_token = _refusals.set(refusals)
    try:
        yield
    finally:
        _event_depth.reset(depth_token)
        _refusals.reset(refusal_token)


def fire_workflow_event(workspace_id: int, trigger_key: str, payload: dict, *, source: str = RunSource.EVENT) -> list[int]:
    """Start a run of each active workflow of the workspace on this trigger whose conditions hold. Returns their ids."""
    ids: list[int] = []
    try:
        if not current_app.config["AUTOMATIONS_ENABLED"]:
            return []
        depth = _event_depth.get()
        if depth > MAX_CHAIN_DEPTH:
            _refuse(workspace_id, trigger_key, depth)
            return []
        session = db.session()
        connection = session.connection()
        if postgresql_runs.usable(connection):
            session.flush()  # the business change is written before, and outside, the function's savepoint
            ids, conditioned = postgresql_runs.start_unconditional(
                connection, workspace_id, trigger_key, payload, depth, source)
            hand_over_after_commit(ids)
            holding = _runs_whose_conditions_hold(conditioned, payload, depth, source)
            if holding:
                more = postgresql_runs.insert_runs(connection, [run.row() for run in holding])
                hand_over_after_commit(more)
                ids = ids + more
            return ids
        with core_savepoint(session):
            ids = start_runs(_runs_whose_conditions_hold(active_workflows(workspace_id, trigger_key), payload,
                                                         depth, source))
        return ids
    except Exception:
        log.exception("Dispatch of %s in workspace %s failed; the business change goes on", trigger_key, workspace_id)
        return ids  # those inserted before the failure (in a savepoint of their own) stand


def _runs_whose_conditions_hold(workflows, payload: dict, depth: int, source: str) -> list[NewRun]:
    return [NewRun.of(workflow, payload, source, depth)
            for workflow in workflows if conditions_hold(workflow.conditions or [], payload, workflow.conditions_match)]


# The hot path reads only the columns a snapshot needs, as plain rows (no ORM identity map): about half
# the cost of loading Workflow objects (B3). Built once: building a statement costs more than running it.
_ACTIVE_WORKFLOWS = select(*(Workflow.__table__.c[name] for name in postgresql_runs.CANDIDATE_COLUMNS)).where(
    Workflow.__table__.c.workspace_id == bindparam("workspace_id"),
    Workflow.__table__.c.trigger_type == bindparam("trigger_key"),
    Workflow.__table__.c.status == WorkflowStatus.ACTIVE,
)


def active_workflows(workspace_id: int, trigger_key: str) -> list:
    """The workspace's active workflows on this trigger (indexed lookup), as rows of the snapshot's columns."""
    return db.session.execute(_ACTIVE_WORKFLOWS, {"workspace_id": workspace_id, "trigger_key": trigger_key}).all()


def _refuse(workspace_id: int, trigger_key: str, depth: int) -> None:
    message = f"{trigger_key} not dispatched: workflow chain depth {depth} exceeds {MAX_CHAIN_DEPTH}"
    log.warning("%s (workspace %s)", message, workspace_id)
    refusals = _refusals.get()
    if refusals is not None:
        refusals.append({"trigger": trigger_key, "depth": depth, "message": message})

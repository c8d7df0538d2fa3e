"""fire_workflow_event: a domain event becomes one pending execution per matching active workflow.

Called by services inside their own transaction. The lookup and the inserts run in a SAVEPOINT
(Core statements only, see models.base.core_savepoint; on PostgreSQL a database function whose
exception block is the savepoint, one round trip, see engine.core.postgresql_runs), so a dispatch
failure rolls back only the dispatch; the executions are handed to the queue only after the
caller's transaction commits. It never raises into the caller.
"""
import logging
from contextlib import contextmanager
from contextvars import ContextVar

from flask import current_app
from sqlalchemy import bindparam, event, insert, select

from engine.core import postgresql_runs as postgresql_dispatch
from engine.core.conditions import conditions_hold
from models import Workflow, WorkflowExecution, db
from models.base import core_savepoint

log = logging.getLogger(__name__)

MAX_CHAIN_DEPTH = 5
PENDING_KEY = "workestra_pending_executions"
HOOKED_KEY = "workestra_dispatch_hooked"

# Set by the runner while an action runs, so events caused by a workflow carry the chain depth.
_event_depth: ContextVar[int] = ContextVar("workestra_event_depth", default=0)
_refusals: ContextVar[list | None] = ContextVar("workestra_dispatch_refusals", default=None)


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


def fire_workflow_event(workspace_id: int, trigger_key: str, payload: dict, *, source: str = "event") -> list[int]:
    """Create a pending execution for each active workflow of the workspace that matches. Returns their ids."""
    ids: list[int] = []
    try:
        if not current_app.config.get("AUTOMATIONS_ENABLED"):
            return []
        depth = _event_depth.get()
        if depth > MAX_CHAIN_DEPTH:
            _refuse(workspace_id, trigger_key, depth)
            return []
        for batch in _insert_matching_executions(workspace_id, trigger_key, payload, depth, source):
            if batch:
                ids += batch
                hand_to_queue_after_commit(batch)
        return ids
    except Exception:
        log.exception("Dispatch of %s in workspace %s failed; the business change goes on", trigger_key, workspace_id)
        return ids  # those inserted before the failure (in a savepoint of their own) stand


def _insert_matching_executions(workspace_id: int, trigger_key: str, payload: dict, depth: int, source: str):
    """Insert a pending execution for each matching workflow; yields their ids, one list per savepoint."""
    session = db.session()
    connection = session.connection()
    if postgresql_dispatch.usable(connection):
        session.flush()  # the business change is written before, and outside, the function's savepoint
        ids, conditioned = postgresql_dispatch.insert_unconditional(
            connection, workspace_id, trigger_key, payload, depth, source)
        yield ids
        rows = _rows_whose_conditions_hold(conditioned, payload, depth, source)
        if rows:
            yield postgresql_dispatch.insert_rows(connection, rows)
        return
    with core_savepoint(session):
        ids = insert_executions(
            _rows_whose_conditions_hold(active_workflows(workspace_id, trigger_key), payload, depth, source))
    yield ids


def _rows_whose_conditions_hold(workflows, payload: dict, depth: int, source: str) -> list[dict]:
    return [execution_row(workflow, payload, depth, source)
            for workflow in workflows if conditions_hold(workflow.conditions or [], payload)]


# The hot path reads only the columns a snapshot needs, as plain rows (no ORM identity map), and inserts
# with one Core statement: about half the cost of loading Workflow objects and flushing new ones (B3).
_CANDIDATE_COLUMNS = [Workflow.__table__.c[name] for name in (
    "id", "workspace_id", "name", "description", "trigger", "trigger_type", "conditions", "actions",
    "error_strategy", "status")]
EXECUTIONS = WorkflowExecution.__table__


# Built once: building a statement costs more CPU than running it on this path.
_ACTIVE_WORKFLOWS = select(*_CANDIDATE_COLUMNS).where(
    Workflow.__table__.c.workspace_id == bindparam("workspace_id"),
    Workflow.__table__.c.trigger_type == bindparam("trigger_key"),
    Workflow.__table__.c.status == "active",
)
_INSERT_ONE = insert(EXECUTIONS).returning(EXECUTIONS.c.id)
_INSERT_MANY = insert(EXECUTIONS).returning(EXECUTIONS.c.id, sort_by_parameter_order=True)


def active_workflows(workspace_id: int, trigger_key: str) -> list:
    """The workspace's active workflows on this trigger (indexed lookup), as rows of the snapshot's columns."""
    return db.session.execute(_ACTIVE_WORKFLOWS, {"workspace_id": workspace_id, "trigger_key": trigger_key}).all()


def insert_executions(rows: list[dict]) -> list[int]:
    """Insert these pending executions; their ids in the same order."""
    if len(rows) == 1:
        return [db.session.execute(_INSERT_ONE, rows[0]).scalar_one()]
    return list(db.session.scalars(_INSERT_MANY, rows)) if rows else []


def execution_row(workflow, payload: dict, depth: int = 0, source: str = "event") -> dict:
    """The columns of a pending execution for `workflow` (a Workflow or a row of its columns)."""
    return {
        "workspace_id": workflow.workspace_id,
        "workflow_id": workflow.id,
        "workflow_name": workflow.name,
        "trigger_type": workflow.trigger_type,
        "source": source,
        "definition": Workflow.definition(workflow),  # the same snapshot shape, from the row's attributes
        "trigger_payload": payload,
        "status": "pending",
        "completed_actions": [],
        "event_depth": depth,
    }


def new_execution(workflow: Workflow, payload: dict, depth: int = 0, source: str = "event") -> WorkflowExecution:
    """A pending execution holding a snapshot of the workflow's definition as it is now."""
    return WorkflowExecution(
        workspace_id=workflow.workspace_id,
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        trigger_type=workflow.trigger_type,
        source=source,
        definition=workflow.definition(),
        trigger_payload=payload,
        status="pending",
        completed_actions=[],
        event_depth=depth,
    )


def _refuse(workspace_id: int, trigger_key: str, depth: int) -> None:
    message = f"{trigger_key} not dispatched: workflow chain depth {depth} exceeds {MAX_CHAIN_DEPTH}"
    log.warning("%s (workspace %s)", message, workspace_id)
    refusals = _refusals.get()
    if refusals is not None:
        refusals.append({"trigger": trigger_key, "depth": depth, "message": message})


def hand_to_queue_after_commit(ids: list[int]) -> None:
    """Queue these executions once the current transaction commits (never before: it may roll back)."""
    session = db.session()
    session.info.setdefault(PENDING_KEY, []).extend(ids)
    if not session.info.get(HOOKED_KEY):
        session.info[HOOKED_KEY] = True
        app = current_app._get_current_object()
        event.listen(session, "after_commit", lambda s: _flush_to_queue(app, s))
        event.listen(session, "after_rollback", lambda s: _forget_pending(s))


def _flush_to_queue(app, session) -> None:
    if session.in_nested_transaction():
        return  # after_commit also fires when a SAVEPOINT is released: wait for the real commit
    ids = session.info.pop(PENDING_KEY, [])
    if ids:
        from engine.runtime.handoff import enqueue_executions

        enqueue_executions(app, ids)


def _forget_pending(session) -> None:
    # A rollback of the outer transaction drops the executions with it; a savepoint rollback
    # fires this too, which is harmless: the sweep runs anything left pending.
    if not session.in_transaction():
        session.info.pop(PENDING_KEY, None)

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
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, func, insert, select, update

from engine.core import postgresql_runs, samples
from engine.core.catalog import TRIGGERS
from engine.core.conditions import conditions_hold
from engine.core.handoff import hand_over_after_commit, hand_over_later_after_commit
from models import Workflow, WorkflowExecution, db
from models.base import core_savepoint, utcnow
from models.vocabulary import RunSource, WorkflowStatus

log = logging.getLogger(__name__)

MAX_CHAIN_DEPTH = 5

# Set by the runner while an action runs, so events caused by a workflow carry the chain depth.
_event_depth: ContextVar[int] = ContextVar("workestra_event_depth", default=0)
_refusals: ContextVar[list | None] = ContextVar("workestra_dispatch_refusals", default=None)
# The run whose action is running: events dispatched now belong to its chain (the fan-out budget).
_cause: ContextVar[int | None] = ContextVar("workestra_dispatch_cause", default=None)

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
    chain_root_id: int | None = None
    progress: dict = field(default_factory=dict)
    workflow_version: int | None = None  # the version of the workflow this run runs (issue #21)

    @classmethod
    def of(cls, workflow, payload: dict, source: str = RunSource.EVENT, depth: int = 0,
           chain_root_id: int | None = None) -> "NewRun":
        return cls(
            workspace_id=workflow.workspace_id, workflow_id=workflow.id, workflow_name=workflow.name,
            trigger_type=workflow.trigger_type, source=source,
            definition=Workflow.definition(workflow),  # the snapshot, from a Workflow or a row of its columns
            trigger_payload=payload, event_depth=depth, chain_root_id=chain_root_id,
            workflow_version=workflow.version,
        )

    def row(self, created_at=None) -> dict:
        """The new row's columns: postgresql_runs.NEW_RUN_COLUMNS, the pending state, then `progress`."""
        return {
            "workspace_id": self.workspace_id, "workflow_id": self.workflow_id, "workflow_name": self.workflow_name,
            "trigger_type": self.trigger_type, "source": self.source, "definition": self.definition,
            "trigger_payload": self.trigger_payload, "event_depth": self.event_depth,
            "chain_root_id": self.chain_root_id, "created_at": created_at or utcnow(),
            "workflow_version": self.workflow_version,
            **postgresql_runs.PENDING_STATE, **self.progress,
        }


def start_runs(runs: list[NewRun], created_at=None) -> list[int]:
    """Insert these runs as pending rows and hand them over once the caller commits; their ids in order."""
    ids = insert_runs(runs, created_at)
    by_workspace = defaultdict(list)
    for run, execution_id in zip(runs, ids):
        by_workspace[run.workspace_id].append(execution_id)
    for workspace_id, started in by_workspace.items():
        hand_over_paced(workspace_id, started)
    return ids


def insert_runs(runs: list[NewRun], created_at=None) -> list[int]:
    """Insert these runs as pending rows without handing them over: for a caller whose savepoint may still undo
    them (the incoming webhook's delivery row), which then calls hand_over_paced itself. Their ids in order."""
    if not runs:
        return []
    now = created_at or utcnow()
    return _insert([run.row(now) for run in runs])


def start_test_run(run: NewRun) -> int:
    """Insert a test run (mode "test", issue #20) as a pending row; not handed over: the caller runs it right
    away (engine.runtime.runner.run_test_execution), and the sweep would finish it if the caller died."""
    return _insert([run.row()])[0]


_INSERT_ONE = insert(EXECUTIONS).returning(EXECUTIONS.c.id)
_INSERT_MANY = insert(EXECUTIONS).returning(EXECUTIONS.c.id, sort_by_parameter_order=True)


def _insert(rows: list[dict]) -> list[int]:
    if len(rows) == 1:
        return [db.session.execute(_INSERT_ONE, rows[0]).scalar_one()]
    return list(db.session.scalars(_INSERT_MANY, rows))


# -- domain events ----------------------------------------------------------------------------------

@contextmanager
def caused_by_execution(depth: int, refusals: list, execution_id: int | None = None):
    """Within this block, dispatched events are one level deeper, belong to the chain of `execution_id`
    (the running run) and refusals are collected."""
    depth_token = _event_depth.set(depth + 1)
    refusal_token = _refusals.set(refusals)
    cause_token = _cause.set(execution_id)
    try:
        yield
    finally:
        _event_depth.reset(depth_token)
        _refusals.reset(refusal_token)
        _cause.reset(cause_token)


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
            _keep_sample(session, workspace_id, trigger_key, payload)
            chain = ChainBudget.of_cause(_cause.get())
            root_id, limit = (chain.root_id, chain.left) if chain else (None, None)
            ids, others = postgresql_runs.start_unconditional(
                connection, workspace_id, trigger_key, payload, depth, source, root_id, limit)
            hand_over_paced(workspace_id, ids)
            holding = _runs_whose_conditions_hold(others, payload, depth, source, root_id)
            if chain:
                chain.spend(len(ids))
                holding = chain.allow(holding, trigger_key=trigger_key)
            if holding:
                more = postgresql_runs.insert_runs(connection, [run.row() for run in holding])
                hand_over_paced(workspace_id, more)
                if chain:
                    chain.spend(len(more))
                ids = ids + more
            return ids
        with core_savepoint(session):
            record_event_sample(workspace_id, trigger_key, payload)
            chain = ChainBudget.of_cause(_cause.get())
            root_id = chain.root_id if chain else None
            runs = _runs_whose_conditions_hold(active_workflows(workspace_id, trigger_key), payload, depth, source,
                                               root_id)
            if chain:
                runs = chain.allow(runs, trigger_key=trigger_key)
                chain.spend(len(runs))
            ids = start_runs(runs)
        return ids
    except Exception:
        log.exception("Dispatch of %s in workspace %s failed; the business change goes on", trigger_key, workspace_id)
        return ids  # those inserted before the failure (in a savepoint of their own) stand


def _sample_due(workspace_id: int, trigger_key: str) -> bool:
    """Whether this event's payload is kept as a sample (engine.core.samples.due: one per EVENT_SAMPLE_EVERY_SECONDS)."""
    return samples.due(workspace_id, trigger_key, current_app.config["EVENT_SAMPLE_EVERY_SECONDS"])


def record_event_sample(workspace_id: int, trigger_key: str, payload: dict) -> None:
    """Keep the event's payload as sample data for test runs (engine.core.samples), in the caller's transaction,
    when a sample of this workspace's trigger is due."""
    if _sample_due(workspace_id, trigger_key):
        _record_sample(workspace_id, trigger_key, payload)


def _record_sample(workspace_id: int, trigger_key: str, payload: dict) -> None:
    trigger = TRIGGERS.get(trigger_key)
    samples.record_sample(workspace_id, trigger_key, trigger.label if trigger else trigger_key, payload,
                          current_app.config["EVENT_SAMPLE_MAX_BYTES"])


def _keep_sample(session, workspace_id: int, trigger_key: str, payload: dict) -> None:
    """record_event_sample in a savepoint of its own (only when a sample is due: the savepoint is two round trips): a
    failure loses the sample, never the business change."""
    if not _sample_due(workspace_id, trigger_key):
        return
    try:
        with core_savepoint(session, "event_sample"):
            _record_sample(workspace_id, trigger_key, payload)
    except Exception:
        log.exception("Could not keep a sample of %s in workspace %s", trigger_key, workspace_id)


def _runs_whose_conditions_hold(workflows, payload: dict, depth: int, source: str,
                                chain_root_id: int | None = None) -> list[NewRun]:
    return [NewRun.of(workflow, payload, source, depth, chain_root_id)
            for workflow in workflows if conditions_hold(workflow.conditions or [], payload, workflow.conditions_match)]


# -- the fan-out budget -----------------------------------------------------------------------------

# Lock the chain's root (the causing run's root, or the causing run itself) and read what its chain has used.
# An UPDATE, not a SELECT: it takes PostgreSQL's row lock and SQLite's write lock, so two runs of one chain
# dispatching at once count one after the other.
_LOCK_ROOT = (
    update(EXECUTIONS)
    .where(EXECUTIONS.c.id == select(func.coalesce(EXECUTIONS.c.chain_root_id, EXECUTIONS.c.id))
           .where(EXECUTIONS.c.id == bindparam("cause")).scalar_subquery())
    .values(chain_runs=EXECUTIONS.c.chain_runs)
    .returning(EXECUTIONS.c.id, EXECUTIONS.c.chain_runs)
)
_SPEND = update(EXECUTIONS).where(EXECUTIONS.c.id == bindparam("root")).values(
    chain_runs=EXECUTIONS.c.chain_runs + bindparam("spent"))


@dataclass
class ChainBudget:
    """What is left of one chain's budget: CHAIN_RUN_BUDGET runs in all, the root included, across depths."""
    root_id: int
    used: int      # runs the chain has caused so far (the root's chain_runs)
    budget: int    # 0: no budget

    @property
    def left(self) -> int | None:
        return None if self.budget <= 0 else max(0, self.budget - 1 - self.used)

    @classmethod
    def of_cause(cls, cause_id: int | None) -> "ChainBudget | None":
        """The budget of the chain the running run `cause_id` belongs to (locked until the commit); None
        outside a run's action."""
        if cause_id is None:
            return None
        row = db.session.execute(_LOCK_ROOT, {"cause": cause_id}).one_or_none()
        if row is None:
            return None
        return cls(row.id, row.chain_runs, current_app.config["CHAIN_RUN_BUDGET"])

    def allow(self, runs: list, trigger_key: str) -> list:
        """The runs that fit in what is left; the refusal of the others goes to the step that caused them (its
        output's dispatch_refused)."""
        room = self.left
        if room is None:
            return runs
        if len(runs) > room:
            _refuse_over_budget(trigger_key, self, len(runs) - room)
        return runs[:room]

    def spend(self, count: int) -> None:
        if count:
            db.session.execute(_SPEND, {"root": self.root_id, "spent": count})
            self.used += count


def _refuse_over_budget(trigger_key: str, chain: ChainBudget, count: int) -> None:
    message = (f"{trigger_key} not dispatched to {count} workflow(s): the chain started by run #{chain.root_id} "
               f"has reached its budget of {chain.budget} runs (CHAIN_RUN_BUDGET)")
    log.warning(message)
    refusals = _refusals.get()
    if refusals is not None:
        refusals.append({"trigger": trigger_key, "chain_root_id": chain.root_id, "budget": chain.budget,
                         "refused": count, "message": message})


# -- the per-workspace start rate -------------------------------------------------------------------

_RATE_WINDOW = timedelta(seconds=60)
_RATE_HORIZON = timedelta(hours=1)  # runs created longer ago are not counted (keeps the count on the index)
_STARTS_IN_WINDOW = select(func.count()).select_from(EXECUTIONS).where(
    EXECUTIONS.c.workspace_id == bindparam("workspace_id"),
    EXECUTIONS.c.created_at > bindparam("horizon"),
    EXECUTIONS.c.id.not_in(bindparam("new_ids", expanding=True)),
    func.coalesce(EXECUTIONS.c.started_at, EXECUTIONS.c.resume_at, EXECUTIONS.c.created_at) > bindparam("since"),
)
_DELAY = update(EXECUTIONS).where(EXECUTIONS.c.id.in_(bindparam("ids", expanding=True))).values(
    resume_at=bindparam("resume_at", type_=EXECUTIONS.c.resume_at.type))


def hand_over_paced(workspace_id: int, ids: list[int], now=None) -> None:
    """Hand new runs over after the commit; beyond WORKSPACE_RUNS_PER_MINUTE runs started (or due to start)
    in the workspace within a minute, a run waits for a later minute (resume_at): delayed, never dropped."""
    ceiling = current_app.config["WORKSPACE_RUNS_PER_MINUTE"]
    if not ids or ceiling <= 0:
        hand_over_after_commit(ids)
        return
    now = now or utcnow()
    counted = db.session.scalar(_STARTS_IN_WINDOW, {
        "workspace_id": workspace_id, "horizon": now - _RATE_HORIZON, "since": now - _RATE_WINDOW, "new_ids": ids})
    now_ids, later = [], defaultdict(list)
    for position, execution_id in enumerate(ids, start=counted or 0):
        minutes = position // ceiling
        if minutes == 0:
            now_ids.append(execution_id)
        else:
            later[now + minutes * _RATE_WINDOW].append(execution_id)
    for resume_at, delayed in later.items():
        db.session.execute(_DELAY, {"ids": delayed, "resume_at": resume_at})
    hand_over_after_commit(now_ids)
    hand_over_later_after_commit([(execution_id, when) for when, delayed in later.items() for execution_id in delayed])


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

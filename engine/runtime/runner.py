"""run_execution (**contract**): claim executions, run their steps, record each one.

One way through: every caller (run_execution, the sweep, a woken RQ worker, an embedded runner
thread) claims rows with `claim_states` and runs each claimed one with `run_claimed`.

Every write to a running execution is a conditional UPDATE that also checks this worker still holds
the lease (`RunWriter`), so two workers (or a worker and a canceller) can never both move it on. A
lost lease or a cancel shows up as an UPDATE matching no row: the uncommitted steps roll back and the
worker stops. A step's effects and its record commit in one transaction: a crash before the commit
leaves nothing behind and the step runs again; a crash after it never repeats the step.

Consecutive steps whose effects are all database writes (Action.transactional) share one transaction:
their records are kept in memory and written by the UPDATE that ends the group (the run's close, a
pause, or the commit made before a step with effects outside the database, such as a webhook). A step
that fails inside a group undoes the group, and the run goes on from the last commit one step per
transaction, so a failed step never takes its predecessors' effects with it.
"""
import enum
import logging
import os
import socket
import threading
from dataclasses import dataclass, field, replace as dataclass_replace
from functools import cache, cached_property
from datetime import datetime, timedelta

from flask import current_app
from rq.timeouts import JobTimeoutException
from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.exc import DBAPIError
from werkzeug.utils import import_string

from engine.core import caps
from engine.core.catalog import ACTIONS
from engine.core.finished import FinishedRun
from engine.core.handoff import hand_off_of
from engine.core.policies import LeasePolicy, RetryPolicy
from engine.core.resolution import mark_resolved_by
from engine.core.runs import caused_by_execution
from engine.core.schemas import clean_action_config, flatten_errors
from engine.core.steps import (StepAddress, StepPlan, StepRecord, StepStatus, branch_paths,
                               first_error, taken_paths)
from engine.core.templating import render
from engine.executors import StepContext, StepError, as_jsonable, executor_for
from engine.runtime import budget, logs, metrics
from engine.runtime.test_mode import TestClock, TestOptions, describe_changes, duration_words, recorded_changes
from engine.runtime.leases import KEEPER, database_now, expiry_after, on_database_clock, renewal_expression
from models import WorkflowExecution, db
from models import sqlite_writer
from models.base import begin_savepoint, utcnow
from models.vocabulary import ErrorStrategy, RunMode, RunStatus

log = logging.getLogger(__name__)

EXECUTIONS = WorkflowExecution.__table__


class LeaseLost(Exception):
    """The execution was cancelled or taken over by another worker: stop without writing."""


class HandedBack(Exception):
    """The job's time budget is spent or the worker is stopping: the run went back to pending between two steps."""


# Raised through a step, never recorded as its failure: the step did not fail, the worker stopped running it.
NOT_A_STEP_FAILURE = (LeaseLost, HandedBack, JobTimeoutException)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]


def shifted_clock(now: datetime | None):
    """A clock that reads `now` at this moment and runs on from there (the sweep's injected time)."""
    if now is None:
        return utcnow
    offset = now - utcnow()
    return lambda: utcnow() + offset


# -- claiming ------------------------------------------------------------------------------------

def claimable(now: datetime):
    """Rows a worker may take: due pending/paused rows, and running rows whose lease expired."""
    return or_(
        and_(
            WorkflowExecution.status.in_((RunStatus.PENDING, RunStatus.PAUSED)),
            or_(WorkflowExecution.resume_at.is_(None), WorkflowExecution.resume_at <= now),
        ),
        and_(WorkflowExecution.status == RunStatus.RUNNING, WorkflowExecution.lease_expires_at < now),
    )


@dataclass
class RunState:
    """What a run needs of its row, read by the claim's RETURNING; this worker is its only writer while it holds the lease."""
    id: int
    workspace_id: int
    workflow_id: int | None
    definition: dict
    trigger_payload: dict
    event_depth: int
    started_at: datetime | None
    completed_actions: list
    current_step: int
    step_attempts: int
    wait_marker: str | None
    lease_expires_at: datetime | None
    claim_count: int
    takeover_count: int
    capped: bool = field(default=False)  # under a concurrency cap: its end hands the freed slot on (engine.core.caps)
    replay_of_id: int | None = None
    mode: str = RunMode.LIVE.value

    @property
    def testing(self) -> bool:
        return self.mode == RunMode.TEST

    @classmethod
    def from_row(cls, row) -> "RunState":
        state = cls(**{name: value for name, value in row._asdict().items() if name in cls.__dataclass_fields__})
        definition = state.definition if isinstance(state.definition, dict) else {}
        state.definition = dict(definition, actions=_runnable_actions(definition.get("actions")))
        state.completed_actions = list(state.completed_actions or [])
        return state

    @cached_property
    def plan(self) -> StepPlan:
        return StepPlan(self.definition["actions"])

    def progress(self) -> tuple:
        return (self.completed_actions, self.current_step, self.step_attempts, self.wait_marker)

    def restore(self, progress: tuple) -> None:
        self.completed_actions, self.current_step, self.step_attempts, self.wait_marker = progress


_STATE_COLUMNS = [EXECUTIONS.c[name] for name in RunState.__dataclass_fields__ if name in EXECUTIONS.c]


def claim_states(execution_ids: list[int], owner: str, now: datetime | None = None) -> list[RunState]:
    """Claim as many of these executions as are claimable, in one transaction; the state of each one won, by id.
    On PostgreSQL rows another worker is claiming right now are skipped (FOR UPDATE SKIP LOCKED).

    Runs under no concurrency cap (and takeovers of expired leases) are claimed by one statement; runs under a
    cap only as far as their workflow's and workspace's free slots go (`_ClaimStatements.claim_capped`, engine.core.caps): the
    others stay pending, and a slot's run hands it on when it ends."""
    if not execution_ids:
        return []
    workspace_max = current_app.config["WORKSPACE_MAX_RUNNING"]
    lease_seconds = float(_lease_policy().seconds)
    if now is None and on_database_clock():
        # Built once per WORKSPACE_MAX_RUNNING, run with the ids, owner and lease as parameters: building the
        # capped claim's statements cost more than PostgreSQL's running them (bench/claim_micro.py).
        claim = _prebuilt_claim(workspace_max)
        params = {"claim_ids": list(execution_ids), "claim_owner": owner, "lease_seconds": lease_seconds}
    else:
        now = now or database_now()  # leases on the database's clock unless a caller (the sweep's tests) moves time
        claim = _ClaimStatements(workspace_max, EXECUTIONS.c.id.in_(execution_ids), now, owner,
                                 expiry_after(now, lease_seconds))
        params = {}
    rows, takeovers = claim.claim_uncapped(params)
    states = [RunState.from_row(row) for row in rows]
    passed_on: list[int] = []
    remaining = len(execution_ids) - len(states)
    if remaining:  # some may be waiting for a slot
        capped_rows, fits, tight = claim.claim_capped(params)
        # The cap was binding when not every remaining id fitted, or it is tight (nearly full, or filled by this
        # claim): then these runs hand their slot on when they end. With a cap far from reached, nobody waits, and
        # an ended run costs nothing more.
        binding = fits is None or len(fits) < remaining
        states += [dataclass_replace(state, capped=binding or state.id in tight)
                   for state in map(RunState.from_row, capped_rows)]
        claimed = {row.id for row in capped_rows}
        passed_on = [run_id for run_id in fits or [] if run_id not in claimed]  # slots this claim's share left
    db.session.commit()
    if passed_on:
        hand_off_of(current_app).hand_over_next(passed_on)
    states.sort(key=lambda state: state.id)
    if takeovers:
        for state in states:  # a taken-over run may be a capped one: its end hands the slot on
            state.capped = state.capped or state.id in takeovers
        metrics.LEASE_TAKEOVERS.inc(len(takeovers & {state.id for state in states}))
        states = _past_the_takeover_cap(states, owner)
    return states


def _waiting_due(now):
    """claimable(now) without the takeovers: a due pending or paused run (simpler for the planner)."""
    return and_(EXECUTIONS.c.status.in_((RunStatus.PENDING, RunStatus.PAUSED)),
                or_(EXECUTIONS.c.resume_at.is_(None), EXECUTIONS.c.resume_at <= now))


def _lease_expired(now):
    return and_(EXECUTIONS.c.status == RunStatus.RUNNING, EXECUTIONS.c.lease_expires_at < now)


class _ClaimStatements:
    """The statements of one claim: `given` (the ids), `now`, `owner` and `lease_expires_at` are values or SQL
    expressions (bound parameters in the prebuilt PostgreSQL claim, see _prebuilt_claim); `params` binds them."""

    def __init__(self, workspace_max: int, given, now, owner, lease_expires_at):
        self.workspace_max = workspace_max
        self.given = given
        self.now = now
        self.values = dict(status=RunStatus.RUNNING, lease_owner=owner, lease_expires_at=lease_expires_at,
                           started_at=db.func.coalesce(EXECUTIONS.c.started_at, now), resume_at=None,
                           claim_count=EXECUTIONS.c.claim_count + 1)
        if workspace_max > 0:  # every waiting live run is capped: takeovers of expired leases and test runs go this way
            self.uncapped_candidates = given
            self.uncapped_due = or_(_lease_expired(now), and_(_waiting_due(now), ~caps.capped(workspace_max)))
        else:
            self.uncapped_candidates = and_(given, or_(EXECUTIONS.c.status == RunStatus.RUNNING,
                                                       ~caps.capped(workspace_max)))
            self.uncapped_due = claimable(now)
        self.waiting = and_(given, _waiting_due(now), caps.capped(workspace_max))

    @cached_property
    def uncapped_statement(self):
        """PostgreSQL: UPDATE ... FROM the locked candidates, so RETURNING can say which claims took a run over."""
        candidates = (select(EXECUTIONS.c.id.label("claim_id"), EXECUTIONS.c.status.label("prior_status"))
                      .where(self.uncapped_candidates, self.uncapped_due)
                      .with_for_update(skip_locked=True).subquery("candidates"))
        taken_over = candidates.c.prior_status == RunStatus.RUNNING
        return (update(EXECUTIONS).where(EXECUTIONS.c.id == candidates.c.claim_id)
                .values(**self.values, takeover_count=EXECUTIONS.c.takeover_count + case((taken_over, 1), else_=0))
                .returning(*_STATE_COLUMNS, taken_over.label("taken_over")))

    @cached_property
    def capped_statements(self):
        """PostgreSQL: (the look without locks, the advisory locks, the claim) of claim_capped."""
        look = caps.fitting(caps.waiting_candidates(self.waiting), self.workspace_max, room=True)
        locks = caps.advisory_locks(self.waiting, self.workspace_max)
        chosen = caps.fitting(caps.waiting_candidates(self.waiting).with_for_update(skip_locked=True),
                              self.workspace_max, share=True)
        claim = update(EXECUTIONS).where(EXECUTIONS.c.id.in_(chosen)).values(**self.values).returning(*_STATE_COLUMNS)
        return look, locks, claim

    def claim_uncapped(self, params: dict) -> tuple[list, set]:
        """Claim the candidates no cap applies to, and takeovers of expired leases, in one statement; (rows, ids
        taken over)."""
        if on_database_clock():
            rows = db.session.execute(self.uncapped_statement, params).all()
            return rows, {row.id for row in rows if row.taken_over}
        # SQLite: one writer at a time; RETURNING cannot read the FROM table
        candidates = select(EXECUTIONS.c.id, EXECUTIONS.c.status).where(self.uncapped_candidates, self.uncapped_due)
        prior = dict(db.session.execute(candidates).all())
        takeovers = {run_id for run_id, status in prior.items() if status == RunStatus.RUNNING}
        takeover_count = case((EXECUTIONS.c.id.in_(takeovers), EXECUTIONS.c.takeover_count + 1),
                              else_=EXECUTIONS.c.takeover_count) if takeovers else EXECUTIONS.c.takeover_count
        rows = db.session.execute(
            update(EXECUTIONS).where(EXECUTIONS.c.id.in_(list(prior)), self.uncapped_due)
            .values(**self.values, takeover_count=takeover_count)
            .returning(*_STATE_COLUMNS)
        ).all() if prior else []
        return rows, takeovers

    def claim_capped(self, params: dict) -> tuple[list, list[int] | None, set[int]]:
        """Claim the waiting runs among the ids that a cap applies to, as far as the free slots go (oldest first).
        Returns (the rows claimed, the ids that fitted before the claim took its share (None: not known), the ids
        under a tight cap (caps.tight): those hand their slot on when they end).

        PostgreSQL: lock the caps' advisory locks first (one statement), then count and claim in the next one,
        whose snapshot therefore sees every claim committed before the locks were granted (engine.core.caps).
        SQLite: the same choice made under BEGIN IMMEDIATE (the one write lock), unless the uncapped claim holds
        it already."""
        workspace_max = self.workspace_max
        if on_database_clock():
            look_statement, locks, claim = self.capped_statements
            # A look without the locks first: a count read too early can only be too high (runs end, none starts
            # without the lock), so "nothing fits" is safe to act on, and a full workspace's backlog costs no lock.
            look = db.session.execute(look_statement, params).all()
            fits = [row.id for row in look]
            if not fits:
                return [], fits, set()
            if not db.session.execute(locks, params).first():
                return [], [], set()  # none of them is capped (they were taken, or finished)
            return db.session.execute(claim, params).all(), fits, caps.tight(look, workspace_max)
        connection = db.session.connection()
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        waiting = self.waiting
        look = db.session.execute(caps.fitting(caps.waiting_candidates(waiting), workspace_max, room=True)).all()
        fits = [row.id for row in look]
        chosen = list(db.session.scalars(caps.fitting(caps.waiting_candidates(waiting), workspace_max, share=True)))
        if not chosen:
            return [], fits, set()
        return db.session.execute(
            update(EXECUTIONS).where(EXECUTIONS.c.id.in_(chosen), _waiting_due(self.now)).values(**self.values)
            .returning(*_STATE_COLUMNS)).all(), fits, caps.tight(look, workspace_max)


@cache
def _prebuilt_claim(workspace_max: int) -> _ClaimStatements:
    """PostgreSQL's claim for this WORKSPACE_MAX_RUNNING, its statements built once: the ids, the owner and the
    lease are bound parameters (claim_ids, claim_owner, lease_seconds), the time is the database's."""
    return _ClaimStatements(workspace_max, EXECUTIONS.c.id.in_(bindparam("claim_ids", expanding=True)), database_now(),
                            bindparam("claim_owner"), renewal_expression())


def hand_over_freed_slot(state: RunState) -> list[int]:
    """A capped run has ended (or waits, or was given back): hand over the oldest runs waiting for its
    workflow's (or workspace's) slot, as many as fit and at most FREED_SLOT_HAND_OVERS. The ids handed over.
    Best effort: the sweep runs whatever waits anyway."""
    workspace_max = current_app.config["WORKSPACE_MAX_RUNNING"]
    scope = EXECUTIONS.c.workspace_id == state.workspace_id if workspace_max > 0 \
        else EXECUTIONS.c.workflow_id == state.workflow_id
    if workspace_max <= 0 and state.workflow_id is None:
        return []
    now = database_now()
    waiting = and_(scope, _waiting_due(now), caps.capped(workspace_max))
    ids = list(db.session.scalars(caps.fitting(caps.waiting_candidates(waiting, oldest=FREED_SLOT_CANDIDATES),
                                               workspace_max).limit(FREED_SLOT_HAND_OVERS)))
    db.session.commit()
    if ids:
        hand_off_of(current_app).hand_over_next(ids)
    return ids


# Two, not one: two runs ending at once may each see the other's slot free too, and hand over the same run.
FREED_SLOT_HAND_OVERS = 2
# Of a long queue, only the oldest waiting runs are looked at (bounded work per ended run; the sweep sees all).
FREED_SLOT_CANDIDATES = 50


def _past_the_takeover_cap(states: list[RunState], owner: str) -> list[RunState]:
    """Fail the runs taken over more often than EXECUTION_MAX_TAKEOVERS (each takeover may repeat a step that
    was under way); the others are returned to be run."""
    cap = current_app.config["EXECUTION_MAX_TAKEOVERS"]
    runnable = []
    for state in states:
        if state.takeover_count <= cap:
            runnable.append(state)
            continue
        message = (f"Stopped after its worker stopped answering {state.takeover_count} times: a run is taken over at "
                   f"most {cap} times (EXECUTION_MAX_TAKEOVERS), so a step that kills or hangs its worker cannot "
                   f"run again and again.")
        log.warning("Execution %s failed: taken over %s times (cap %s)", state.id, state.takeover_count, cap)
        try:
            RunWriter(state.id, owner, utcnow, _lease_policy()).close(state, RunStatus.FAILED, state.completed_actions,
                                                                      message)
        except LeaseLost:
            db.session.rollback()
    return runnable


def claim_batch(execution_ids: list[int], owner: str, now: datetime | None = None) -> list[int]:
    """claim_states, returning the ids won."""
    return [state.id for state in claim_states(execution_ids, owner, now)]


def claim_execution(execution_id: int, owner: str, now: datetime | None = None) -> bool:
    """Atomically move one execution to running under `owner`'s lease. True when this call won it."""
    return bool(claim_states([execution_id], owner, now))


# -- the entry points ----------------------------------------------------------------------------

def run_execution(execution_id: int, worker_id: str | None = None) -> str | None:
    """Claim and run one execution. Returns its status afterwards, or None when not claimed."""
    owner = worker_id or default_worker_id()
    states = claim_states([execution_id], owner)
    return run_claimed(states[0], owner).value if states else None


def run_test_execution(execution_id: int, worker_id: str | None = None) -> str | None:
    """Run a test run (mode "test") now, in this thread: the editor's Test and the API's test routes wait for it.
    Its lease is not renewed by the lease keeper: the test holds its database transaction until it ends, so its
    lease is made long enough for the whole test when it starts (TestRunWriter.hold); its time limit
    (TEST_RUN_SECONDS) is checked between steps. None when another worker claimed it first."""
    owner = worker_id or default_worker_id()
    states = claim_states([execution_id], owner)
    if not states:
        return None
    if not states[0].testing:
        raise ValueError(f"Execution {execution_id} is not a test run")
    with sqlite_writer.unqueued():  # its write transaction lasts the whole test: not held in the writer queue
        return run_claimed(states[0], owner, keep_lease=False).value


def run_claimed_batch(execution_ids: list[int], worker_id: str | None = None) -> dict:
    """Claim these executions together (one statement, one commit) and run the ones this worker won, in order.

    The hand-off's hot path: a worker woken by RQ (or an embedded runner thread) hands over the ids it was
    given; ids already taken by someone else, cancelled or finished are skipped.
    """
    owner = worker_id or default_worker_id()
    counts: dict = {"given": len(execution_ids), "claimed": 0}  # + "handed_back": [ids] when some were
    states = claim_states(list(execution_ids), owner)
    counts["claimed"] = len(states)
    if not states:
        return counts
    waiting = KEEPER.hold(current_app._get_current_object(), [state.id for state in states], owner)
    try:
        _run_batch(states, owner, counts)
    finally:
        KEEPER.release(waiting)  # the claimed runs waiting their turn keep their leases too
    return counts


def _run_batch(states: list[RunState], owner: str, counts: dict) -> None:
    for position, state in enumerate(states):
        if budget.should_yield():  # out of time or stopping: the runs not started go back for another worker
            counts.setdefault("handed_back", []).extend(hand_back(states[position:], owner))
            break
        try:
            status = run_claimed(state, owner, keep_lease=False).value  # the batch's hold renews it
        except JobTimeoutException:  # RQ stops the job: give back the runs not started, then let RQ see it
            try:
                db.session.rollback()
                hand_back(states[position + 1:], owner)
            except Exception:  # the timeout may have broken the connection: their leases expire instead
                log.warning("Could not give back executions after RQ's job timeout", exc_info=True)
            raise
        except Exception:  # keep going with the rest of the batch; the lease expires and the sweep retries this one
            log.exception("Execution %s failed in worker %s; the sweep retries it when the lease expires", state.id, owner)
            db.session.rollback()
            status = "error"
        if status == RunStatus.PENDING and budget.should_yield():
            counts.setdefault("handed_back", []).append(state.id)
        counts[status] = counts.get(status, 0) + 1


def hand_back(states: list[RunState], owner: str) -> list[int]:
    """Give claimed runs that were not started back (pending, no lease; the claim does not count). Their ids."""
    if not states:
        return []
    ids = [state.id for state in states]
    result = db.session.execute(
        update(EXECUTIONS)
        .where(EXECUTIONS.c.id.in_(ids), EXECUTIONS.c.lease_owner == owner, EXECUTIONS.c.status == RunStatus.RUNNING)
        .values(status=RunStatus.PENDING, lease_owner=None, lease_expires_at=None,
                claim_count=EXECUTIONS.c.claim_count - 1)
        .returning(EXECUTIONS.c.id))
    handed = [row.id for row in result]
    db.session.commit()
    return handed


def run_claimed(state: RunState, owner: str, clock=utcnow, keep_lease: bool = True) -> RunStatus:
    """Run an execution this worker has just claimed; its status afterwards (as the database has it when
    the lease was lost to a cancel or another worker). `keep_lease`: renew its lease while it runs (off when
    the caller's batch hold renews it already)."""
    held = KEEPER.hold(current_app._get_current_object(), state.id, owner) if keep_lease else None
    try:
        with logs.run_context(workspace_id=state.workspace_id, run_id=state.id):
            return ExecutionRun(state.id, owner, clock, state).run()
    except LeaseLost:
        log.info("Execution %s was cancelled or taken over; worker %s stops", state.id, owner)
        db.session.rollback()
        return RunStatus(db.session.scalar(select(EXECUTIONS.c.status).where(EXECUTIONS.c.id == state.id)))
    except HandedBack:
        log.info("Execution %s handed back at step %s (the job's time is up or the worker is stopping)",
                 state.id, state.current_step)
        return RunStatus.PENDING
    finally:
        if held is not None:
            KEEPER.release(held)
        if state.capped:
            _hand_over_freed_slot_safely(state)


def _hand_over_freed_slot_safely(state: RunState) -> None:
    try:
        hand_over_freed_slot(state)
    except Exception:  # never fails the run: the sweep hands the waiting runs over
        log.warning("Could not hand over the slot execution %s freed", state.id, exc_info=True)
        db.session.rollback()


# -- running ---------------------------------------------------------------------------------------

def _lease_policy() -> LeasePolicy:
    return LeasePolicy(seconds=current_app.config["EXECUTION_LEASE_SECONDS"])


def _retry_policy() -> RetryPolicy:
    return RetryPolicy(base_seconds=current_app.config["RETRY_BASE_SECONDS"])


def _runnable_actions(actions) -> list[dict]:
    """The snapshot's steps as dicts the runner can read. Every entry point validates definitions, so a
    broken step only comes from editing the row by hand; it then fails as a step with a clear error
    (marked `broken`) instead of stopping the worker."""
    runnable = []
    for action in actions if isinstance(actions, list) else []:
        if not isinstance(action, dict):
            runnable.append({"type": None, "config": {}, "broken": "This step is not an object in the stored definition."})
            continue
        delay = action.get("delay_seconds") or 0
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
            action = dict(action, delay_seconds=0,
                          broken=f"The step's delay_seconds ({delay!r}) is not a number of seconds.")
        paths = branch_paths(action)
        if paths:
            action = dict(action, **{side: _runnable_actions(nested) for side, nested in paths})
        runnable.append(action)
    return runnable


def shares_transaction(action: dict) -> bool:
    """True when every effect of this action is a database write (see Action.transactional)."""
    entry = ACTIONS.get(action.get("type"))
    return bool(entry and entry.transactional)


_RENEW_ON_DATABASE_CLOCK = object()  # RunWriter: set lease_expires_at from the database's clock


class _Next(enum.Enum):
    """What follows a step that did not end the run."""
    STEP = "the next step"
    RERUN_ALONE = "undo the group, run the steps again one per transaction"


class RunWriter:
    """Every write of one run by the worker holding its lease, and the grouping of steps into commits.

    `unwritten`: steps recorded in memory, to be written by the UPDATE that ends the group.
    `grouping`: steps may still share a transaction (off once a step failed inside a group).
    `verified`: this worker has read or written the row under its lease since the claim.
    """
    _statements: dict[tuple, object] = {}

    def __init__(self, execution_id: int, owner: str, clock, lease: LeasePolicy):
        self.id = execution_id
        self.owner = owner
        self.clock = clock
        self.lease = lease
        self.unwritten = False
        self.grouping = True
        self.verified = False
        self.committed: tuple = ()
        self.observed: int | None = None  # steps of completed_actions counted in the metrics (known once settled)

    def load(self) -> RunState:
        row = db.session.execute(
            select(*_STATE_COLUMNS).where(
                EXECUTIONS.c.id == self.id, EXECUTIONS.c.status == RunStatus.RUNNING,
                EXECUTIONS.c.lease_owner == self.owner)
        ).one_or_none()
        if row is None:
            raise LeaseLost(self.id)
        self.verified = True
        return RunState.from_row(row)

    def may_defer(self, action: dict) -> bool:
        return self.grouping and shares_transaction(action)

    def before_step(self, state: RunState, action: dict) -> None:
        """Before a step that may not join the group: write the steps recorded in memory (renewing the lease),
        or at least make sure the row is still ours. Between two steps, a job out of time hands the run back."""
        if budget.should_yield():
            self.hand_back(state)
        if self.may_defer(action):
            return
        if self.unwritten:
            self.write_progress(state)
        elif not self.verified:
            self.load()

    def settled(self, state: RunState) -> None:
        """After a step: remember the last progress the database holds, to undo a group back to it."""
        if not self.unwritten:
            self.committed = state.progress()
        if self.observed is None:
            self.observed = len(state.completed_actions)

    def undo_group(self, state: RunState) -> None:
        db.session.rollback()
        state.restore(self.committed)
        self.unwritten, self.grouping = False, False

    def write_progress(self, state: RunState, **values) -> None:
        self.update(completed_actions=state.completed_actions, current_step=state.current_step,
                    step_attempts=state.step_attempts, wait_marker=state.wait_marker,
                    lease_expires_at=self.renewed_lease(), **values)

    def renewed_lease(self):
        """The new lease end: on the database's clock (PostgreSQL), unless the run's clock was moved (tests)."""
        if self.clock is utcnow and on_database_clock():
            return _RENEW_ON_DATABASE_CLOCK
        return self.lease.expiry(self.clock())

    def hand_back(self, state: RunState) -> None:
        """Write what is done, give the run back as pending (no lease) and stop: another worker goes on from here."""
        self.update(status=RunStatus.PENDING, completed_actions=state.completed_actions,
                    current_step=state.current_step, step_attempts=state.step_attempts, wait_marker=state.wait_marker,
                    lease_owner=None, lease_expires_at=None, resume_at=None)
        raise HandedBack(self.id)

    def pause(self, state: RunState, position: int, kind: str, resume_at: datetime) -> None:
        unwritten = {"completed_actions": state.completed_actions, "step_attempts": state.step_attempts} \
            if self.unwritten else {}  # the steps before this pause are written by the same UPDATE
        self.update(status=RunStatus.PAUSED, resume_at=resume_at, wait_marker=f"{position}:{kind}",
                    lease_owner=None, lease_expires_at=None, current_step=position, **unwritten)

    def retry_later(self, failed_attempts: int, resume_at: datetime, error: str) -> None:
        self.update(status=RunStatus.PENDING, resume_at=resume_at, step_attempts=failed_attempts, error=error,
                    lease_owner=None, lease_expires_at=None)

    def close(self, state: RunState, status: RunStatus, records: list, error: str | None) -> None:
        if status == RunStatus.COMPLETED and error is None and state.replay_of_id is not None and not state.testing:
            mark_resolved_by(state.id, state.replay_of_id)  # committed with the run's last write, or undone with it
        finished = self.clock()
        started = state.started_at or finished
        self.update(status=status, completed_actions=records, finished_at=finished, error=error,
                    duration_ms=int((finished - started).total_seconds() * 1000), current_step=len(state.plan),
                    lease_owner=None, lease_expires_at=None, resume_at=None, wait_marker=None, step_attempts=0,
                    before_commit=None if state.testing  # a test run alerts no one and pauses nothing
                    else lambda: run_finished_hook()(finished_run(state, status, error, finished)))

    def update(self, before_commit=None, **values) -> None:
        """Write the execution only while this worker still holds it; otherwise undo the step.
        `before_commit`: more writes that commit with this one (the run's close: failure alerts)."""
        renew = values.get("lease_expires_at") is _RENEW_ON_DATABASE_CLOCK
        params = {"guard_id": self.id, "guard_owner": self.owner, **values}
        if renew:
            del params["lease_expires_at"]
            params["lease_seconds"] = self.lease.seconds
        result = db.session.execute(self._statement(tuple(values), renew), params)
        if result.rowcount != 1:
            db.session.rollback()
            raise LeaseLost(self.id)
        if before_commit is not None:
            before_commit()
        db.session.commit()
        self.unwritten, self.verified = False, True
        self.observe(values)

    def observe(self, values: dict) -> None:
        """Metrics of what this write made durable: the steps recorded since the last write, a final status."""
        records = values.get("completed_actions")
        if isinstance(records, list) and self.observed is not None and len(records) > self.observed:
            metrics.observe_steps(records[self.observed:])
            self.observed = len(records)
        status = values.get("status")
        if status in (RunStatus.COMPLETED, RunStatus.FAILED):
            metrics.run_finished(RunStatus(status).value)

    @classmethod
    def _statement(cls, columns: tuple, renew_on_database_clock: bool = False):
        """The guarded UPDATE setting these columns, built once per set (building one costs more than running it)."""
        key = (columns, renew_on_database_clock)
        statement = cls._statements.get(key)
        if statement is None:
            values = {name: bindparam(name, type_=EXECUTIONS.c[name].type) for name in columns}
            if renew_on_database_clock:  # lease_expires_at = statement_timestamp() + the lease's seconds
                values["lease_expires_at"] = renewal_expression()
            statement = cls._statements[key] = (
                update(EXECUTIONS)
                .where(EXECUTIONS.c.id == bindparam("guard_id"), EXECUTIONS.c.lease_owner == bindparam("guard_owner"),
                       EXECUTIONS.c.status == RunStatus.RUNNING)
                .values(**values)
            )
        return statement


RUN_FINISHED_HOOK = "services.failure_alerts.on_run_finished"  # by its path: engine.runtime does not import services


@cache
def run_finished_hook():
    """What a run's close calls before its commit (alerts, auto-pause, workflow_failed): one function of a FinishedRun."""
    return import_string(RUN_FINISHED_HOOK)


def finished_run(state: RunState, status: RunStatus, error: str | None, finished: datetime) -> FinishedRun:
    trigger = state.definition.get("trigger")
    return FinishedRun(
        id=state.id, workspace_id=state.workspace_id, workflow_id=state.workflow_id,
        workflow_name=str(state.definition.get("name") or ""),
        trigger_type=trigger.get("type", "") if isinstance(trigger, dict) else "", status=status, error=error,
        finished_at=finished, event_depth=state.event_depth, started_at=state.started_at)


class TestRunWriter(RunWriter):
    """The writer of a test run: nothing is written until the run closes; then the test's transaction is rolled
    back (every business write of its steps) and only the run's own row is written, with its step records.

    Its lease is not renewed while it runs (its steps' writes are one transaction until the end): `hold` sets it,
    before the first step, to the test's time limit plus one lease (the step under way when the limit is
    reached), so no sweep takes a test over while it is still running."""

    def __init__(self, writer: RunWriter, seconds: float):
        super().__init__(writer.id, writer.owner, writer.clock, LeasePolicy(seconds=seconds + writer.lease.seconds))
        self.verified = writer.verified

    def hold(self) -> None:
        self.update(lease_expires_at=self.renewed_lease())

    def may_defer(self, action: dict) -> bool:
        return False

    def before_step(self, state: RunState, action: dict) -> None:
        return None

    def write_progress(self, state: RunState, **values) -> None:
        return None  # kept in memory: a test run's row changes once, when it closes

    def close(self, state: RunState, status: RunStatus, records: list, error: str | None) -> None:
        db.session.rollback()  # everything the test's steps wrote
        super().close(state, status, records, error)

    def observe(self, values: dict) -> None:
        return None  # test runs stay out of the metrics


def address_label(record: StepRecord) -> str:
    """"2", or "2 › Then 1" for a step inside the second step's branch."""
    return StepAddress(tuple(int(part) if part.isdigit() else part for part in record.path.split("."))).label \
        if record.path else str(record.index + 1)


class ExecutionRun:
    """One run of an execution by the worker holding its lease: walks the plan from `current_step`,
    decides what each step's outcome means, and leaves every write to its RunWriter."""

    def __init__(self, execution_id: int, owner: str, clock=utcnow, state: RunState | None = None):
        self.id = execution_id
        self.clock = clock
        self.lease = _lease_policy()
        self.retry = _retry_policy()
        self.claimed_state = state  # as the claim returned it; checked again before any effect outside the database
        self.writer = RunWriter(execution_id, owner, clock, self.lease)
        self.test: TestOptions | None = None  # a test run's options (mode "test")
        self.test_clock: TestClock | None = None

    def initial_state(self) -> RunState:
        """The claim's own reading while the lease is young; otherwise (a long batch) read the row again."""
        state = self.claimed_state
        if state is None or state.lease_expires_at is None:
            return self.writer.load()
        if self.clock() >= state.lease_expires_at - timedelta(seconds=self.lease.seconds / 2):
            return self.writer.load()
        return state

    def run(self) -> RunStatus:
        state = self.initial_state()
        if state.testing:
            self.start_test(state)
        plan = state.plan
        self.writer.settled(state)
        while (step := plan.at(state.current_step)) is not None:
            address, action = step
            if self.test_clock is not None and self.test_clock.out_of_time():
                return self.close(state, state.completed_actions, RunStatus.FAILED, self.test_clock.message())
            if plan.has_branches and plan.not_taken(state.current_step, taken_paths(state.completed_actions)):
                records = [*state.completed_actions, StepRecord.not_taken(address, action).as_json()]
                if self.test and self.test.stop_after and action.get("id") == self.test.stop_after:
                    return self.close(state, records)  # "Test this step" on a path this sample does not take
                outcome = self.step_recorded(state, plan, records, deferrable=True)
                if isinstance(outcome, RunStatus):
                    return outcome
                continue
            self.writer.before_step(state, action)
            if self.pause_before(state, action):
                return RunStatus.PAUSED
            outcome = self.run_step(state, plan, address, action)
            if outcome is _Next.RERUN_ALONE:
                self.writer.undo_group(state)
                continue
            self.writer.settled(state)
            if isinstance(outcome, RunStatus):
                return outcome
            if self.test and self.test.stop_after and action.get("id") == self.test.stop_after:
                return self.close(state, state.completed_actions)  # "Test this step": it ends with that step
        return self.close(state, state.completed_actions)

    def start_test(self, state: RunState) -> None:
        """A test run starts over from its first step (a test is never resumed half-way: its writes are gone)."""
        self.test = TestOptions.of(state.definition)
        self.test_clock = TestClock(self.test.seconds)
        self.writer = TestRunWriter(self.writer, self.test.seconds)
        self.writer.hold()
        state.completed_actions, state.current_step, state.step_attempts, state.wait_marker = [], 0, 0, None

    # -- waits -----------------------------------------------------------------------------
    def pause_before(self, state: RunState, action: dict) -> bool:
        if self.test:
            return False  # a test does not wait: the step's output says how long it would have
        position = state.current_step
        marker = state.wait_marker or ""
        delay = int(action.get("delay_seconds") or 0)
        if delay > 0 and marker not in (f"{position}:delay", f"{position}:wait"):
            self.pause(state, position, "delay", delay)
            return True
        if action.get("type") == "wait_delay" and marker != f"{position}:wait":
            config, errors = self.prepare_config(state, action)
            if errors:
                return False  # run_step reports the invalid config as the step's error
            self.pause(state, position, "wait", int(config["seconds"]))
            return True
        return False

    def pause(self, state: RunState, position: int, kind: str, seconds: int) -> None:
        resume_at = self.clock() + timedelta(seconds=seconds)
        self.writer.pause(state, position, kind, resume_at)
        hand_off_of(current_app).hand_over_at(self.id, resume_at)

    # -- steps -----------------------------------------------------------------------------
    def context(self, state: RunState) -> dict:
        """What placeholders read: the trigger's payload, and the outputs of the steps that ran, by id (and by
        index for top-level steps, as `{{ steps.N.output.x }}` reads them)."""
        steps: dict = {}
        for record in state.completed_actions:
            if record.get("status") == StepStatus.SKIPPED.value:
                continue
            entry = {"output": record.get("output") or {}}
            path = record.get("path")
            if path is None or "." not in path:
                steps[record["index"]] = entry
            if record.get("id"):
                steps[record["id"]] = entry
        return {"trigger": state.trigger_payload or {}, "steps": steps}

    def prepare_config(self, state: RunState, action: dict):
        rendered = render(action.get("config") or {}, self.context(state))
        return clean_action_config(action.get("type"), rendered.value, allow_templates=False)

    def run_step(self, state: RunState, plan: StepPlan, address: StepAddress, action: dict) -> "RunStatus | _Next":
        started = self.clock()
        context = self.context(state)
        rendered = render(action.get("config") or {}, context)
        record = StepRecord(index=address.index, type=action.get("type"), id=action.get("id"), path=str(address),
                            attempts=state.step_attempts + 1,
                            started_at=started.isoformat(), input=as_jsonable(rendered.value),
                            missing_fields=rendered.missing or None)
        refusals: list = []
        try:
            if action.get("broken"):
                raise StepError(action["broken"], retryable=False)
            output = self.execute(state, address, record, rendered.value, refusals, context["steps"])
        except NOT_A_STEP_FAILURE:
            raise
        except Exception as failure:
            if self.writer.unwritten:
                return _Next.RERUN_ALONE
            if not self.test:
                db.session.rollback()  # a test step's SAVEPOINT is rolled back already
            if isinstance(failure, StepError):
                return self.step_failed(state, plan, record, started, str(failure), failure.retryable, failure.output)
            if isinstance(failure, DBAPIError) and failure.connection_invalidated:
                raise  # the database connection died, not the step: the lease expires and a sweep reruns this step
            # An executor bug must not kill the run: record it as the step's error.
            log.exception("Step %s of execution %s raised", address, self.id)
            return self.step_failed(state, plan, record, started, f"{type(failure).__name__}: {failure}", True, {})
        if refusals:
            output = dict(output, dispatch_refused=refusals)
        if self.test and int(action.get("delay_seconds") or 0) > 0:
            output = dict(output, would_wait_first=duration_words(action["delay_seconds"]))
        self.finish_record(record, started, StepStatus.COMPLETED, output=output)
        return self.step_recorded(state, plan, [*state.completed_actions, record.as_json()],
                                  deferrable=self.writer.may_defer(action))

    def execute(self, state: RunState, address: StepAddress, record: StepRecord, rendered_config, refusals,
                steps: dict) -> dict:
        action_type = record.type
        if action_type not in ACTIONS:
            raise StepError(f"Unknown action type {action_type!r}.", retryable=False)
        executor = executor_for(action_type)
        if executor is None:
            raise StepError(f"No executor is installed for {action_type!r}.", retryable=False)
        config, errors = clean_action_config(action_type, rendered_config, allow_templates=False)
        if errors:
            details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in flatten_errors(errors).items())
            raise StepError(f"Invalid configuration: {details}", retryable=False)
        step = StepContext(
            workspace_id=state.workspace_id, execution_id=state.id, workflow_id=state.workflow_id,
            # The plan position: a top-level step's index in a definition without branches, unique in the run
            # either way (records created by a step are found again by it, webhook ids are per step).
            step_index=state.current_step, action_type=action_type, config=config,
            payload=state.trigger_payload or {}, attempt=record.attempts, claim_count=state.claim_count,
            config_cleaned=True, steps=steps, test=bool(self.test),
            test_calls_webhooks=bool(self.test and self.test.call_webhooks),
        )
        if self.test:
            return self.execute_as_test(executor, step, state, refusals)
        with caused_by_execution(state.event_depth, refusals, state.id):
            output = executor(step)
            db.session.flush()
        return as_jsonable(output or {})

    def execute_as_test(self, executor, step: StepContext, state: RunState, refusals) -> dict:
        """The step inside a SAVEPOINT of the test's transaction (rolled back with it when the run closes);
        its output also lists the rows it would create, change or delete, with their values."""
        with recorded_changes() as changes, begin_savepoint(db.session), \
                caused_by_execution(state.event_depth, refusals, state.id):
            output = executor(step)
            db.session.flush()
        return as_jsonable({**(output or {}), "test": True, **describe_changes(changes)})

    def finish_record(self, record: StepRecord, started: datetime, status: StepStatus, output=None, error=None) -> None:
        finished = self.clock()
        record.status, record.finished_at, record.error = status, finished.isoformat(), error
        record.duration_ms = int((finished - started).total_seconds() * 1000)
        record.output = as_jsonable(output or {})

    def step_recorded(self, state: RunState, plan: StepPlan, records: list, deferrable: bool,
                      clear_error: bool = False) -> "RunStatus | _Next":
        """Commit the step's record with its effects; after the last step the same UPDATE closes the run.
        A deferrable step is only recorded in memory; the UPDATE ending its group writes it."""
        if state.current_step + 1 >= len(plan):
            return self.close(state, records)
        state.completed_actions = records
        state.current_step, state.step_attempts, state.wait_marker = state.current_step + 1, 0, None
        if deferrable:
            self.writer.unwritten = True
        else:
            self.writer.write_progress(state, **({"error": None} if clear_error else {}))
        return _Next.STEP

    def step_failed(self, state: RunState, plan: StepPlan, record: StepRecord, started: datetime, message: str,
                    retryable: bool, output) -> "RunStatus | _Next":
        strategy = state.definition.get("error_strategy", ErrorStrategy.CONTINUE)
        failed_attempts = state.step_attempts + 1
        if not self.test and self.retry.should_retry(strategy, failed_attempts, retryable):
            resume_at = self.clock() + self.retry.delay_before_retry(failed_attempts)
            self.writer.retry_later(
                failed_attempts, resume_at,
                f"Step {address_label(record)} failed (attempt {failed_attempts}); retrying at {resume_at.isoformat()}: {message}")
            hand_off_of(current_app).hand_over_at(self.id, resume_at)
            return RunStatus.PENDING

        self.finish_record(record, started, StepStatus.FAILED, output=output, error=message)
        records = [*state.completed_actions, record.as_json()]
        if strategy == ErrorStrategy.STOP:
            reason = f"Step {address_label(record)} failed and the error strategy is Stop on error."
            taken = taken_paths(records) if plan.has_branches else {}
            for position in plan.after(state.current_step):
                address, action = plan.at(position)
                skipped = StepRecord.not_taken(address, action) if plan.has_branches and plan.not_taken(position, taken) \
                    else StepRecord.skipped(address.index, action.get("type"), reason, action.get("id"), str(address))
                records.append(skipped.as_json())
            return self.close(state, records, RunStatus.FAILED, message)
        return self.step_recorded(state, plan, records, deferrable=False, clear_error=True)

    def close(self, state: RunState, records: list, status: RunStatus = RunStatus.COMPLETED,
              error: str | None = None) -> RunStatus:
        self.writer.close(state, status, records, error if status is RunStatus.FAILED else first_error(records))
        return status

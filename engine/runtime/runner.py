"""run_execution and sweep_pending_executions: claim an execution, run its steps, record each one.

Every state change of an execution is a conditional UPDATE that also checks this worker still
holds the lease, so two workers (or a worker and a canceller) can never both move it on. A step's
effects and its record commit in one transaction: a crash before the commit leaves nothing
behind and the step runs again; a crash after it never repeats the step.

Hot path (issue #11): workers claim a batch of rows in one statement (`claim_batch_states`,
`FOR UPDATE SKIP LOCKED` on PostgreSQL) whose RETURNING is the state each run starts from, kept in
memory (the lease makes this worker its only writer). Consecutive steps whose effects are all
database writes share one transaction, written by one guarded UPDATE that also closes the run when it
is the last (see _ExecutionRun); a step with effects outside the database starts only after
everything before it is committed and the row is known to be still ours. A lost lease or a cancel
shows up as a guarded UPDATE matching no row: the uncommitted steps roll back and the worker stops.
"""
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import DBAPIError

from engine.core.catalog import ACTIONS
from engine.core.runs import caused_by_execution
from engine.runtime.executors import StepContext, StepError, as_jsonable, executor_for
from engine.core.policies import ErrorStrategy, LeasePolicy, RetryPolicy, StepStatus
from engine.runtime.schedules import fire_due_schedules
from engine.core.schemas import clean_action_config, flatten_errors
from engine.core.templating import render
from models import WorkflowExecution, db
from models.base import utcnow

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


class LeaseLost(Exception):
    """The execution was cancelled or taken over by another worker: stop without writing."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]


def _lease_policy() -> LeasePolicy:
    return LeasePolicy(seconds=float(current_app.config.get("EXECUTION_LEASE_SECONDS", 60)))


def _retry_policy() -> RetryPolicy:
    return RetryPolicy(base_seconds=float(current_app.config.get("RETRY_BASE_SECONDS", 2)))


def _claimable(now: datetime):
    """Rows a worker may take: due pending/paused rows, and running rows whose lease expired."""
    return or_(
        and_(
            WorkflowExecution.status.in_(("pending", "paused")),
            or_(WorkflowExecution.resume_at.is_(None), WorkflowExecution.resume_at <= now),
        ),
        and_(WorkflowExecution.status == "running", WorkflowExecution.lease_expires_at < now),
    )


EXECUTIONS = WorkflowExecution.__table__


def _claim_values(owner: str, now: datetime) -> dict:
    return {
        "status": "running",
        "lease_owner": owner,
        "lease_expires_at": _lease_policy().expiry(now),
        "started_at": db.func.coalesce(EXECUTIONS.c.started_at, now),
        "resume_at": None,
        "claim_count": EXECUTIONS.c.claim_count + 1,
    }


def claim_execution(execution_id: int, owner: str, now: datetime | None = None) -> bool:
    """Atomically move one execution to running under `owner`'s lease. True when this call won it."""
    now = now or utcnow()
    result = db.session.execute(
        update(EXECUTIONS).where(EXECUTIONS.c.id == execution_id, _claimable(now)).values(**_claim_values(owner, now))
    )
    db.session.commit()
    return result.rowcount == 1


def claim_batch(execution_ids: list[int], owner: str, now: datetime | None = None) -> list[int]:
    """Claim as many of these executions as are claimable, in one statement and one commit; returns the won ids.

    On PostgreSQL rows another worker is claiming right now are skipped (FOR UPDATE SKIP LOCKED), not waited for.
    """
    return [state.id for state in claim_batch_states(execution_ids, owner, now)]


def claim_batch_states(execution_ids: list[int], owner: str, now: datetime | None = None) -> list["RunState"]:
    """claim_batch, returning what each won run needs of its row (read by the claim's own RETURNING)."""
    if not execution_ids:
        return []
    now = now or utcnow()
    candidates = select(EXECUTIONS.c.id).where(EXECUTIONS.c.id.in_(execution_ids), _claimable(now))
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = db.session.execute(
        update(EXECUTIONS).where(EXECUTIONS.c.id.in_(candidates.scalar_subquery()))
        .values(**_claim_values(owner, now)).returning(*_STATE_COLUMNS)
    ).all()
    db.session.commit()
    return sorted((RunState.from_row(row) for row in rows), key=lambda state: state.id)


_GUARDED_UPDATES: dict[tuple, object] = {}


def _guarded_statement(columns: tuple):
    """The guarded UPDATE setting these columns, built once per set (building one costs more than running it)."""
    statement = _GUARDED_UPDATES.get(columns)
    if statement is None:
        statement = (
            update(EXECUTIONS)
            .where(EXECUTIONS.c.id == bindparam("guard_id"), EXECUTIONS.c.lease_owner == bindparam("guard_owner"),
                   EXECUTIONS.c.status == "running")
            .values(**{name: bindparam(name, type_=EXECUTIONS.c[name].type) for name in columns})
        )
        _GUARDED_UPDATES[columns] = statement
    return statement


def _guarded_update(execution_id: int, owner: str, **values) -> None:
    """Write the execution only while this worker still holds it; otherwise undo the step."""
    result = db.session.execute(
        _guarded_statement(tuple(values)), {"guard_id": execution_id, "guard_owner": owner, **values}
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise LeaseLost(execution_id)
    db.session.commit()


def run_execution(execution_id: int, worker_id: str | None = None) -> str | None:
    """Claim and run one execution. Returns its status afterwards, or None when not claimed."""
    owner = worker_id or default_worker_id()
    if not claim_execution(execution_id, owner):
        return None
    try:
        return _ExecutionRun(execution_id, owner).run()
    except LeaseLost:
        log.info("Execution %s was cancelled or taken over; worker %s stops", execution_id, owner)
        db.session.rollback()
        return db.session.scalar(select(WorkflowExecution.status).where(WorkflowExecution.id == execution_id))


def shifted_clock(now: datetime | None):
    """A clock that reads `now` at this moment and runs on from there (the sweep's injected time)."""
    if now is None:
        return utcnow
    offset = now - utcnow()
    return lambda: utcnow() + offset


@dataclass
class RunState:
    """What a run needs of its row, read once after the claim; this worker is its only writer while it holds the lease."""
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

    @classmethod
    def from_row(cls, row) -> "RunState":
        state = cls(**row._asdict())
        definition = state.definition if isinstance(state.definition, dict) else {}
        state.definition = dict(definition, actions=_runnable_actions(definition.get("actions")))
        state.completed_actions = list(state.completed_actions or [])
        return state

    @property
    def actions(self) -> list:
        return self.definition.get("actions") or []

    def progress(self) -> tuple:
        return (self.completed_actions, self.current_step, self.step_attempts, self.wait_marker)

    def restore(self, progress: tuple) -> None:
        self.completed_actions, self.current_step, self.step_attempts, self.wait_marker = progress


_STATE_COLUMNS = [EXECUTIONS.c[name] for name in RunState.__dataclass_fields__]


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
        runnable.append(action)
    return runnable


class _RerunOneStepPerTransaction(Exception):
    """A step failed while earlier steps' effects were still uncommitted in the same transaction."""


def shares_transaction(action: dict) -> bool:
    """True when every effect of this action is a database write (see Action.transactional)."""
    entry = ACTIONS.get(action.get("type"))
    return bool(entry and entry.transactional)


class _ExecutionRun:
    """One run of an execution by the worker holding its lease.

    Consecutive steps whose effects are all database writes share one transaction (issue #11): their
    records are kept in memory and written by the UPDATE that ends the group (the run's close, a
    pause, or the commit made before a step with effects outside the database, such as a webhook).
    A crash rolls the whole group back and the steps run again, which is safe because none of their
    effects left the database. A step that fails inside a group rolls the group back and the run goes
    on from the last commit one step per transaction, so a failed step never takes its
    predecessors' effects with it.
    """

    def __init__(self, execution_id: int, owner: str, clock=utcnow, state: RunState | None = None):
        self.id = execution_id
        self.owner = owner
        self.clock = clock
        self.lease = _lease_policy()
        self.retry = _retry_policy()
        self.claimed_state = state  # as the claim returned it; checked again before any effect outside the database
        self.verified = False  # this worker has read or written the row under its lease since the claim
        self.grouping = True
        self.dirty = False  # steps recorded in memory, not yet written

    def load(self) -> RunState:
        row = db.session.execute(
            select(*_STATE_COLUMNS).where(
                EXECUTIONS.c.id == self.id, EXECUTIONS.c.status == "running", EXECUTIONS.c.lease_owner == self.owner
            )
        ).one_or_none()
        if row is None:
            raise LeaseLost(self.id)
        self.verified = True
        return RunState.from_row(row)

    def initial_state(self) -> RunState:
        """The claim's own reading while the lease is young; otherwise (a long batch) read the row again."""
        state = self.claimed_state
        if state is None or state.lease_expires_at is None:
            return self.load()
        if self.clock() >= state.lease_expires_at - timedelta(seconds=self.lease.seconds / 2):
            return self.load()
        return state

    def run(self) -> str:
        execution = self.initial_state()
        committed = execution.progress()
        actions = execution.actions
        while execution.current_step < len(actions):
            index = execution.current_step
            action = actions[index]
            if not shares_transaction(action) or not self.grouping:
                self.checkpoint(execution)
            pause = self.pause_before(execution, index, action)
            if pause:
                return pause
            try:
                outcome = self.run_step(execution, index, action)
            except _RerunOneStepPerTransaction:
                db.session.rollback()
                execution.restore(committed)
                self.dirty, self.grouping = False, False
                continue
            if not self.dirty:
                committed = execution.progress()
            if outcome in ("retry_scheduled", "stopped"):
                return "pending" if outcome == "retry_scheduled" else "failed"
            if outcome == "closed":
                return "completed"
        return self.finish(execution)

    def checkpoint(self, execution: RunState) -> None:
        """Write the steps recorded in memory (and renew the lease), or at least make sure the row is still ours."""
        if self.dirty:
            self.write_progress(execution)
        elif not self.verified:
            self.load()

    def write_progress(self, execution: RunState, **values) -> None:
        _guarded_update(
            self.id, self.owner,
            completed_actions=execution.completed_actions, current_step=execution.current_step,
            step_attempts=execution.step_attempts, wait_marker=execution.wait_marker,
            lease_expires_at=self.lease.expiry(self.clock()), **values,
        )
        self.dirty, self.verified = False, True

    # -- waits -----------------------------------------------------------------------------
    def pause_before(self, execution: RunState, index: int, action: dict) -> str | None:
        marker = execution.wait_marker or ""
        delay = int(action.get("delay_seconds") or 0)
        if delay > 0 and marker not in (f"{index}:delay", f"{index}:wait"):
            return self.pause(execution, index, "delay", delay)
        if action.get("type") == "wait_delay" and marker != f"{index}:wait":
            config, errors = self.prepare_config(execution, action)
            if errors:
                return None  # run_step reports the invalid config as the step's error
            return self.pause(execution, index, "wait", int(config["seconds"]))
        return None

    def pause(self, execution: RunState, index: int, kind: str, seconds: int) -> str:
        resume_at = self.clock() + timedelta(seconds=seconds)
        progress = {}
        if self.dirty:  # the steps before this pause are written by the same UPDATE
            progress = {"completed_actions": execution.completed_actions, "step_attempts": execution.step_attempts}
        _guarded_update(
            self.id, self.owner,
            status="paused", resume_at=resume_at, wait_marker=f"{index}:{kind}",
            lease_owner=None, lease_expires_at=None, current_step=index, **progress,
        )
        self.dirty = False
        from engine.runtime.handoff import enqueue_execution_at

        enqueue_execution_at(current_app._get_current_object(), self.id, resume_at)
        return "paused"

    # -- steps -----------------------------------------------------------------------------
    def context(self, execution: RunState) -> dict:
        steps = {record["index"]: {"output": record.get("output") or {}} for record in execution.completed_actions}
        return {"trigger": execution.trigger_payload or {}, "steps": steps}

    def prepare_config(self, execution: RunState, action: dict):
        rendered = render(action.get("config") or {}, self.context(execution))
        config, errors = clean_action_config(action.get("type"), rendered.value, allow_templates=False)
        return config, errors

    def run_step(self, execution: RunState, index: int, action: dict) -> str:
        action_type = action.get("type")
        started = self.clock()
        attempt = execution.step_attempts + 1
        rendered = render(action.get("config") or {}, self.context(execution))
        record = {
            "index": index, "type": action_type, "status": None, "attempts": attempt,
            "started_at": started.isoformat(), "finished_at": None, "duration_ms": None,
            "input": as_jsonable(rendered.value), "output": {}, "error": None,
        }
        if rendered.missing:
            record["missing_fields"] = rendered.missing
        refusals: list = []
        try:
            if action.get("broken"):
                raise StepError(action["broken"], retryable=False)
            output = self.execute(execution, index, action_type, rendered.value, attempt, refusals)
        except LeaseLost:
            raise
        except Exception as failure:
            if self.dirty:
                raise _RerunOneStepPerTransaction(index) from failure
            db.session.rollback()
            if isinstance(failure, StepError):
                return self.step_failed(execution, index, record, started, str(failure), failure.retryable,
                                        failure.output)
            if isinstance(failure, DBAPIError) and failure.connection_invalidated:
                raise  # the database connection died, not the step: the lease expires and a sweep reruns this step
            # An executor bug must not kill the run: record it as the step's error.
            log.exception("Step %s of execution %s raised", index, self.id)
            return self.step_failed(execution, index, record, started, f"{type(failure).__name__}: {failure}", True, {})
        if refusals:
            output = dict(output, dispatch_refused=refusals)
        self.finish_record(record, started, StepStatus.COMPLETED, output=output)
        return self.step_recorded(execution, index, [*execution.completed_actions, record],
                                  deferrable=self.grouping and shares_transaction(action))

    def step_recorded(self, execution: RunState, index: int, records: list, error_values: dict | None = None,
                      deferrable: bool = False) -> str:
        """Commit the step's record with its effects; after the last step the same UPDATE closes the run.
        A deferrable step (see _ExecutionRun) is only recorded in memory; the UPDATE ending its group writes it."""
        if index + 1 >= len(execution.actions):
            self.close(execution, "completed", records, _first_error(records))
            return "closed"
        execution.completed_actions = records
        execution.current_step, execution.step_attempts, execution.wait_marker = index + 1, 0, None
        if deferrable and error_values is None:
            self.dirty = True
            return "completed"
        self.write_progress(execution, **(error_values or {}))
        return "completed" if error_values is None else "failed_continue"

    def execute(self, execution: RunState, index, action_type, rendered_config, attempt, refusals) -> dict:
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
            workspace_id=execution.workspace_id, execution_id=execution.id, workflow_id=execution.workflow_id,
            step_index=index, action_type=action_type, config=config, payload=execution.trigger_payload or {},
            attempt=attempt, claim_count=execution.claim_count, config_cleaned=True,
            outputs={record["index"]: record.get("output") or {} for record in execution.completed_actions},
        )
        with caused_by_execution(execution.event_depth, refusals):
            output = executor(step)
            db.session.flush()
        return as_jsonable(output or {})

    def finish_record(self, record: dict, started: datetime, status: StepStatus, output=None, error=None) -> dict:
        finished = self.clock()
        record.update(
            status=status.value, finished_at=finished.isoformat(),
            duration_ms=int((finished - started).total_seconds() * 1000), output=as_jsonable(output or {}), error=error,
        )
        return record

    def step_failed(self, execution: RunState, index: int, record: dict, started: datetime, message: str,
                    retryable: bool, output) -> str:
        strategy = execution.definition.get("error_strategy", "continue")
        failed_attempts = execution.step_attempts + 1
        if self.retry.should_retry(strategy, failed_attempts, retryable):
            resume_at = self.clock() + self.retry.delay_before_retry(failed_attempts)
            _guarded_update(
                self.id, self.owner,
                status="pending", resume_at=resume_at, step_attempts=failed_attempts,
                error=f"Step {index + 1} failed (attempt {failed_attempts}); retrying at {resume_at.isoformat()}: {message}",
                lease_owner=None, lease_expires_at=None,
            )
            from engine.runtime.handoff import enqueue_execution_at

            enqueue_execution_at(current_app._get_current_object(), self.id, resume_at)
            return "retry_scheduled"

        self.finish_record(record, started, StepStatus.FAILED, output=output, error=message)
        records = [*execution.completed_actions, record]
        if strategy == ErrorStrategy.STOP:
            actions = execution.actions
            for later in range(index + 1, len(actions)):
                records.append({
                    "index": later, "type": actions[later].get("type"), "status": StepStatus.SKIPPED.value,
                    "attempts": 0, "started_at": None, "finished_at": None, "duration_ms": None,
                    "input": {}, "output": {}, "error": None,
                    "skipped_reason": f"Step {index + 1} failed and the error strategy is Stop on error.",
                })
            self.close(execution, "failed", records, message)
            return "stopped"
        outcome = self.step_recorded(execution, index, records, error_values={"error": None})
        return "closed" if outcome == "closed" else "failed_continue"

    # -- the end ---------------------------------------------------------------------------
    def finish(self, execution: RunState) -> str:
        records = execution.completed_actions
        return self.close(execution, "completed", records, _first_error(records))

    def close(self, execution: RunState, status: str, records: list, error: str | None) -> str:
        finished = self.clock()
        started = execution.started_at or finished
        _guarded_update(
            self.id, self.owner,
            status=status, completed_actions=records, finished_at=finished, error=error,
            duration_ms=int((finished - started).total_seconds() * 1000),
            current_step=len(execution.actions),
            lease_owner=None, lease_expires_at=None, resume_at=None, wait_marker=None, step_attempts=0,
        )
        return status


def _first_error(records: list) -> str | None:
    return next((r.get("error") for r in records if r.get("status") == StepStatus.FAILED.value), None)


def due_execution_ids(now: datetime, limit: int = SWEEP_BATCH) -> list[int]:
    grace = timedelta(seconds=float(current_app.config.get("SWEEP_PENDING_GRACE_SECONDS", 5)))
    fresh_pending = and_(
        WorkflowExecution.status == "pending",
        WorkflowExecution.resume_at.is_(None),
        WorkflowExecution.created_at > now - grace,
    )
    query = (
        select(WorkflowExecution.id)
        .where(_claimable(now), ~fresh_pending)
        .order_by(WorkflowExecution.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def sweep_pending_executions(now: datetime | None = None, worker_id: str | None = None) -> dict:
    """Run every execution that is due: pending ones nobody picked up, expired leases, waits that are over.

    Runs whatever the feature flag says, so runs started before the flag went off still finish.
    """
    clock = shifted_clock(now)
    now = clock()
    counts = {"due": 0, "claimed": 0, "completed": 0, "failed": 0, "paused": 0, "pending": 0, "cancelled": 0}
    ids = due_execution_ids(now)
    db.session.commit()
    counts["due"] = len(ids)
    for execution_id in ids:
        status = _run_due(execution_id, worker_id, clock)
        if status is None:
            continue
        counts["claimed"] += 1
        counts[status] = counts.get(status, 0) + 1
    counts["scheduled_fired"] = fire_due_schedules(now)
    return counts


def _run_due(execution_id: int, worker_id: str | None, clock) -> str | None:
    owner = worker_id or default_worker_id()
    if not claim_execution(execution_id, owner, now=clock()):
        return None
    try:
        return _ExecutionRun(execution_id, owner, clock).run()
    except LeaseLost:
        db.session.rollback()
        return db.session.scalar(select(WorkflowExecution.status).where(WorkflowExecution.id == execution_id))


def run_claimed_batch(execution_ids: list[int], worker_id: str | None = None) -> dict:
    """Claim these executions together (one statement, one commit) and run the ones this worker won, in order.

    The queue's hot path: a worker woken by RQ (or an embedded runner thread) hands over the ids it was
    given; ids already taken by someone else, cancelled or finished are skipped.
    """
    owner = worker_id or default_worker_id()
    counts: dict = {"given": len(execution_ids), "claimed": 0}
    for state in claim_batch_states(list(execution_ids), owner):
        execution_id = state.id
        counts["claimed"] += 1
        try:
            status = _ExecutionRun(execution_id, owner, state=state).run()
        except LeaseLost:
            log.info("Execution %s was cancelled or taken over; worker %s stops", execution_id, owner)
            db.session.rollback()
            status = "lost"
        except Exception:  # keep going with the rest of the batch; the lease expires and the sweep retries this one
            log.exception("Execution %s failed in worker %s; the sweep retries it when the lease expires", execution_id, owner)
            db.session.rollback()
            status = "error"
        counts[status] = counts.get(status, 0) + 1
    return counts

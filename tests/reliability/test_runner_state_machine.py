"""A hypothesis stateful test over the runner: events, failing steps, waits, cancels, crashes (a worker
claims a run and vanishes), runs and sweeps under an advancing injected clock.

Invariants after every rule: nothing leaves a terminal state; no step is attempted more than 4 times
(1 + 3 retries); each step's effect happens at most once; Stop on error halts (later steps skipped, no
effect); Continue on error moves on to the next step. Runs on SQLite and PostgreSQL (ENGINE_HANDOFF=sweep).
"""
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from engine.core.catalog import MAX_RETRIES, sample_payload
from engine.core.runs import fire_workflow_event
from engine.executors import EXECUTORS, StepError, load_executors
from engine.runtime.runner import claim_execution, run_execution
from engine.runtime.sweep import sweep_pending_executions
from models import AuditEvent, WorkflowExecution, db
from models.base import utcnow
from services import execution_service
from tests.factories import make_workflow, make_workspace
from tests.reliability.scale import size

TERMINAL = ("completed", "failed", "cancelled")
SEEN: dict[str, int] = {}


def seen(what):
    SEEN[what] = SEEN.get(what, 0) + 1
LEASE_SECONDS = 30


def ok(name):
    return {"type": "log_event", "config": {"event": name, "message": "ok"}}


def failing(name):  # the patched executor fails every log_event whose event starts with "fail"
    return {"type": "log_event", "config": {"event": f"fail_{name}", "message": "boom"}}


WAIT = {"type": "wait_delay", "config": {"seconds": 60}}
WORKFLOWS = {  # trigger -> (error strategy, steps)
    "deal_created": ("continue", [ok("a"), failing("b"), ok("c")]),
    "contact_created": ("stop", [ok("a"), failing("b"), ok("c")]),
    "ticket_created": ("retry", [ok("a"), failing("b"), ok("c")]),
    "task_completed": ("continue", [ok("a"), WAIT, ok("c")]),
    "invoice_paid": ("retry", [dict(ok("a"), delay_seconds=10), ok("b")]),
}


@pytest.fixture
def patched_log_event(monkeypatch):
    real = load_executors()["log_event"]

    def log_event(step):
        if step.config["event"].startswith("fail"):
            raise StepError("planned failure", retryable=True)
        return real(step)

    monkeypatch.setitem(EXECUTORS, "log_event", log_event)


def test_runner_state_machine(make_app, patched_log_event):
    app = make_app(ENGINE_HANDOFF="sweep", EXECUTION_LEASE_SECONDS=LEASE_SECONDS, RETRY_BASE_SECONDS=1,
                   SWEEP_PENDING_GRACE_SECONDS=0)
    SEEN.clear()
    with app.app_context():
        guided_tour()
        run_state_machine(RunnerMachine)
        db.session.remove()
    # The machine really went everywhere (otherwise the invariants held vacuously).
    wanted = {"completed", "failed", "cancelled", "paused", "retried_to_the_limit", "taken_over_after_a_crash",
              "continued_after_a_failure"}
    assert wanted <= set(SEEN), f"never reached: {wanted - set(SEEN)} (seen {SEEN})"


def guided_tour():
    """One fixed walk through every kind of run (checked by the same invariants), so the coverage below never
    depends on what hypothesis happened to draw; hypothesis then explores the interleavings."""
    machine = RunnerMachine()
    machine.workspace()
    for trigger in sorted(WORKFLOWS):
        machine.event(trigger)
        machine.checks()
    crashed, cancelled = machine.event("deal_created"), machine.event("contact_created")
    machine.crash(crashed)
    machine.cancel(cancelled)
    for execution_id in list(machine.ids):
        machine.run(execution_id)
        machine.checks()
    machine.drain()
    machine.checks()
    machine.teardown()


def run_state_machine(machine):
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(
        max_examples=size("state_machine_runs"), stateful_step_count=25, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


class RunnerMachine(RuleBasedStateMachine):
    executions = Bundle("executions")

    @initialize()
    def workspace(self):
        ws = make_workspace("Machine")
        self.ws_id = ws.id
        for trigger, (strategy, steps) in WORKFLOWS.items():
            make_workflow(ws.id, trigger=trigger, actions=steps, error_strategy=strategy, name=trigger)
        self.clock = utcnow()
        self.terminal: dict[int, tuple] = {}  # id -> (status, completed_actions) when first seen terminal
        self.ids: list[int] = []
        self.ghosted: set[int] = set()

    # -- rules -----------------------------------------------------------------------------------
    @rule(target=executions, trigger=st.sampled_from(sorted(WORKFLOWS)))
    def event(self, trigger):
        [execution_id] = fire_workflow_event(self.ws_id, trigger, sample_payload(trigger))
        db.session.commit()
        self.ids.append(execution_id)
        return execution_id

    @rule(execution_id=executions)
    def run(self, execution_id):
        run_execution(execution_id, worker_id="worker-1")

    @rule(seconds=st.sampled_from([0, 1, 5, 15, 31, 61, 120]))
    def sweep(self, seconds):
        self.clock += timedelta(seconds=seconds)
        sweep_pending_executions(now=self.clock, worker_id="sweeper")

    @rule()
    def drain(self):
        """Sweep with the clock jumping ahead until nothing is due: retries, waits and crashed leases play out."""
        for _ in range(10):
            self.clock += timedelta(seconds=120)
            if sweep_pending_executions(now=self.clock, worker_id="sweeper")["due"] == 0:
                break

    @rule(execution_id=executions)
    def cancel(self, execution_id):
        execution = db.session.get(WorkflowExecution, execution_id)
        execution_service.cancel_execution(execution)
        db.session.commit()

    @rule(execution_id=executions)
    def crash(self, execution_id):
        """A worker claims the run and dies before doing anything: only the lease's expiry frees it."""
        if claim_execution(execution_id, "ghost", now=max(self.clock, utcnow())):
            self.ghosted.add(execution_id)

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def checks(self):
        if not getattr(self, "ids", None):
            return
        db.session.commit()
        db.session.expire_all()
        rows = db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.id.in_(self.ids))).all()
        effects = dict(db.session.execute(
            select(AuditEvent.execution_id, func.count()).where(AuditEvent.execution_id.in_(self.ids),
                                                                AuditEvent.event.in_(["a", "b", "c"]))
            .group_by(AuditEvent.execution_id)).all())
        for execution in rows:
            records = execution.completed_actions or []
            snapshot = (execution.status, records)
            if execution.id in self.terminal:
                assert self.terminal[execution.id] == snapshot, f"execution {execution.id} left a terminal state"
            elif execution.status in TERMINAL:
                self.terminal[execution.id] = snapshot
            assert [r["index"] for r in records] == list(range(len(records))), records
            assert all(r["attempts"] <= 1 + MAX_RETRIES for r in records), records
            assert execution.step_attempts <= MAX_RETRIES
            strategy = execution.definition["error_strategy"]
            failed = [r["index"] for r in records if r["status"] == "failed"]
            if strategy == "stop" and failed:
                assert execution.status == "failed"
                assert all(r["status"] == "skipped" for r in records[failed[0] + 1:]), records
                assert len(records) == len(execution.definition["actions"])
            if strategy in ("continue", "retry") and failed:
                assert execution.status != "failed", "continue/retry keep going after a failure"
                if execution.status == "completed":
                    assert [r["status"] for r in records[failed[0] + 1:]] == ["completed"] * (len(records) - failed[0] - 1)
            if strategy == "retry" and failed:
                assert records[failed[0]]["attempts"] == 1 + MAX_RETRIES
            if strategy == "continue" and failed:
                assert records[failed[0]]["attempts"] == 1
            done = sum(1 for r in records if r["status"] == "completed" and r["type"] == "log_event")
            assert effects.get(execution.id, 0) == done, "a step's effect without its record, or twice"
            seen(execution.status)
            if strategy == "retry" and failed:
                seen("retried_to_the_limit")
            if strategy == "continue" and failed and len(records) > failed[0] + 1:
                seen("continued_after_a_failure")
            if execution.id in self.ghosted and execution.lease_owner != "ghost":
                seen("taken_over_after_a_crash")

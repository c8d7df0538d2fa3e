"""The scale path's in-process parts (issue #17), on SQLite and PostgreSQL: the job budget hands runs back
between steps, RQ's JobTimeoutException is never a step failure, the takeover cap, and log lines that carry
the run's ids. The real-worker proofs are in tests/reliability/test_scale_path.py."""
import json
import logging
from datetime import timedelta

import pytest
from rq.timeouts import JobTimeoutException
from sqlalchemy import update

from engine import executors
from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime import logs
from engine.runtime.budget import WorkBudget
from engine.runtime.runner import run_claimed_batch, run_execution
from engine.runtime.sweep import sweep_pending_executions
from models import AuditEvent, WorkflowExecution, db
from models.base import utcnow
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution


@pytest.fixture
def engine_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", EXECUTION_LEASE_SECONDS=30)
    with app.app_context():
        yield app
        db.session.remove()


def three_logs(ws_id):
    make_workflow(ws_id, actions=[{"type": "log_event", "config": {"event": f"e{i}", "message": "m"}} for i in range(3)])


def fire(ws_id, n=1):
    ids = []
    for _ in range(n):
        ids += fire_workflow_event(ws_id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    return ids


def test_a_spent_budget_hands_the_claimed_runs_back_untouched(engine_app):
    ws = make_workspace()
    three_logs(ws.id)
    ids = fire(ws.id, 3)
    with WorkBudget(0).active():
        counts = run_claimed_batch(ids)
    assert counts["claimed"] == 3 and sorted(counts["handed_back"]) == sorted(ids)
    assert "handed_back" not in run_claimed_batch([])  # nothing given back: the counts as before
    for execution_id in ids:
        run = load_execution(execution_id)
        assert (run.status, run.lease_owner, run.claim_count, run.completed_actions) == ("pending", None, 0, [])
    assert run_claimed_batch(ids)["completed"] == 3  # another worker takes them from there


def test_a_budget_spent_mid_run_hands_it_back_between_two_steps(engine_app, monkeypatch):
    ws = make_workspace()
    three_logs(ws.id)
    (execution_id,) = fire(ws.id)
    budget = WorkBudget(60)
    real = executors.load_executors()["log_event"]

    def spend_after_first(step):
        output = real(step)
        budget.deadline = 0  # the job's time runs out while step 1 runs: step 1 still finishes
        return output

    monkeypatch.setitem(executors.EXECUTORS, "log_event", spend_after_first)
    with budget.active():
        assert run_execution(execution_id) == "pending"
    run = load_execution(execution_id)
    assert (run.status, run.current_step, run.lease_owner) == ("pending", 1, None)
    assert [r["status"] for r in run.completed_actions] == ["completed"]
    monkeypatch.setitem(executors.EXECUTORS, "log_event", real)
    assert run_execution(execution_id) == "completed"
    run = load_execution(execution_id)
    assert [r["index"] for r in run.completed_actions] == [0, 1, 2]
    assert db.session.query(AuditEvent).filter(AuditEvent.execution_id == execution_id).count() == 3


def test_rq_job_timeout_goes_through_and_is_never_the_step_failure(engine_app, monkeypatch):
    ws = make_workspace()
    make_workflow(ws.id, error_strategy="retry", actions=[{"type": "log_event", "config": {"event": "e", "message": "m"}}])
    ids = fire(ws.id, 2)

    def timed_out(step):
        raise JobTimeoutException("Task exceeded maximum timeout value (3 seconds)")

    monkeypatch.setitem(executors.EXECUTORS, "log_event", timed_out)
    with pytest.raises(JobTimeoutException):
        run_claimed_batch(ids)
    first, second = (load_execution(i) for i in ids)
    assert (first.status, first.completed_actions, first.step_attempts, first.error) == ("running", [], 0, None)
    assert (second.status, second.lease_owner, second.claim_count) == ("pending", None, 0)  # not started: given back


def test_a_run_taken_over_more_than_the_cap_fails_with_the_reason(engine_app):
    engine_app.config["EXECUTION_MAX_TAKEOVERS"] = 2
    ws = make_workspace()
    three_logs(ws.id)
    (execution_id,) = fire(ws.id)

    def abandoned(takeovers):  # a worker claimed it and died: running, its lease over
        db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == execution_id).values(
            status="running", lease_owner="dead-worker", lease_expires_at=utcnow() - timedelta(seconds=1),
            takeover_count=takeovers, finished_at=None))
        db.session.commit()

    abandoned(1)
    sweep_pending_executions()
    run = load_execution(execution_id)
    assert (run.status, run.takeover_count) == ("completed", 2)  # 2 takeovers: within the cap
    abandoned(2)
    sweep_pending_executions()
    run = load_execution(execution_id)
    assert (run.status, run.takeover_count) == ("failed", 3)
    assert "stopped answering 3 times" in run.error and "EXECUTION_MAX_TAKEOVERS" in run.error


def test_log_lines_carry_the_run_ids_as_json(engine_app, capsys):
    logs.configure("json", "info")
    try:
        with logs.run_context(workspace_id=7, run_id=42):
            logging.getLogger("engine.test").warning("step %s failed", 3)
        logging.getLogger("engine.test").info("outside a run")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        inside, outside = lines[-2], lines[-1]
        assert inside | {"time": None} == {"time": None, "level": "WARNING", "logger": "engine.test",
                                             "message": "step 3 failed", "workspace_id": 7, "run_id": 42}
        assert (outside["workspace_id"], outside["run_id"], outside["level"]) == (None, None, "INFO")
        logs.configure("text", "info")
        with logs.run_context(workspace_id=7, run_id=42):
            logging.getLogger("engine.test").warning("plain")
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert " WARNING engine.test [ws=7 run=42] plain" in line
    finally:
        logs.configure(engine_app.config["LOG_FORMAT"], engine_app.config["LOG_LEVEL"])


def test_the_sweep_stops_at_its_budget_and_says_what_is_left(engine_app):
    engine_app.config["SWEEP_PENDING_GRACE_SECONDS"] = 0
    ws = make_workspace()
    three_logs(ws.id)
    ids = fire(ws.id, 3)
    with WorkBudget(0).active():
        counts = sweep_pending_executions()
    assert (counts["due"], counts["claimed"], counts["left"]) == (3, 0, 3)
    assert {load_execution(i).status for i in ids} == {"pending"}
    counts = sweep_pending_executions()
    assert (counts["claimed"], counts["completed"], counts["left"]) == (3, 3, 0)

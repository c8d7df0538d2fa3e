"""The runner: step records, error strategies, waits, cancels, leases and races."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from engine import executors
from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.executors import StepError
from engine.runtime.runner import claim_execution, run_execution
from engine.runtime.sweep import sweep_pending_executions
from models import AuditEvent, WorkflowExecution, db
from models.base import utcnow
from services import execution_service, run_history_service, workflow_service
from services.errors import ValidationFailed
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution, log_step


@pytest.fixture
def ws(engine_app):
    workspace = make_workspace("Runner Co")
    return workspace


@pytest.fixture
def flaky(monkeypatch):
    """flaky(failures, retryable=True): log_event fails that many times, then works as usual."""
    calls = {"count": 0}
    real = executors.load_executors()["log_event"]

    def install(failures, retryable=True, only_event=None):
        def executor(step):
            if only_event is None or step.config["event"] == only_event:
                calls["count"] += 1
                if calls["count"] <= failures:
                    raise StepError(f"boom {calls['count']}", retryable=retryable)
            return real(step)

        monkeypatch.setitem(executors.EXECUTORS, "log_event", executor)
        return calls

    return install


def fire(ws, trigger="deal_created"):
    ids = fire_workflow_event(ws.id, trigger, sample_payload(trigger))
    db.session.commit()
    return ids[0]


def audit_count(execution_id=None, event="step_ran"):
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event)
    if execution_id is not None:
        query = query.where(AuditEvent.execution_id == execution_id)
    return db.session.scalar(query)


def test_steps_run_in_order_and_are_recorded(ws):
    make_workflow(ws.id, actions=[log_step("first"), log_step("second")])
    execution_id = fire(ws)
    assert run_execution(execution_id) == "completed"
    execution = load_execution(execution_id)
    assert execution.status == "completed" and execution.error is None
    assert execution.duration_ms >= 0 and execution.finished_at >= execution.started_at
    steps = execution.completed_actions
    assert [(s["index"], s["type"], s["status"], s["attempts"]) for s in steps] == [
        (0, "log_event", "completed", 1), (1, "log_event", "completed", 1)]
    assert steps[0]["input"]["message"] == sample_payload("deal_created")["deal"]["title"]
    assert steps[0]["output"]["event"] == "first" and steps[0]["output"]["audit_event_id"]
    assert all(s["duration_ms"] >= 0 and s["started_at"] and s["finished_at"] for s in steps)
    events = db.session.scalars(select(AuditEvent.event).where(AuditEvent.execution_id == execution_id).order_by(AuditEvent.id)).all()
    assert events == ["first", "second"]


def test_unknown_paths_render_empty_and_are_recorded(ws):
    make_workflow(ws.id, actions=[{"type": "log_event", "config": {"event": "x", "message": "Hi {{ trigger.nope.name }}!"}}])
    execution_id = fire(ws)
    run_execution(execution_id)
    step = load_execution(execution_id).completed_actions[0]
    assert step["input"]["message"] == "Hi !"
    assert step["missing_fields"] == ["{{ trigger.nope.name }}"]


def test_a_step_reads_an_earlier_steps_output(ws):
    make_workflow(ws.id, actions=[log_step("first"), {"type": "log_event", "config": {"event": "second", "message": "after {{ steps.0.output.audit_event_id }}"}}])
    execution_id = fire(ws)
    run_execution(execution_id)
    first, second = load_execution(execution_id).completed_actions
    assert second["input"]["message"] == f"after {first['output']['audit_event_id']}"


def test_continue_on_error_records_the_failure_and_goes_on(ws, flaky):
    flaky(1, only_event="first")
    make_workflow(ws.id, actions=[log_step("first"), log_step("second")], error_strategy="continue")
    execution_id = fire(ws)
    assert run_execution(execution_id) == "completed"
    execution = load_execution(execution_id)
    assert [s["status"] for s in execution.completed_actions] == ["failed", "completed"]
    assert execution.completed_actions[0]["error"] == "boom 1"
    assert execution.error == "boom 1"


def test_stop_on_error_fails_the_run_and_skips_the_rest(ws, flaky):
    flaky(1, only_event="first")
    make_workflow(ws.id, actions=[log_step("first"), log_step("second"), log_step("third")], error_strategy="stop")
    execution_id = fire(ws)
    assert run_execution(execution_id) == "failed"
    execution = load_execution(execution_id)
    assert execution.status == "failed" and execution.error == "boom 1"
    assert [s["status"] for s in execution.completed_actions] == ["failed", "skipped", "skipped"]
    assert "Stop on error" in execution.completed_actions[1]["skipped_reason"]
    assert audit_count(execution_id, "second") == 0


def test_retry_makes_exactly_four_attempts_with_growing_delays(ws, flaky):
    calls = flaky(99, only_event="first")
    make_workflow(ws.id, actions=[log_step("first"), log_step("second")], error_strategy="retry")
    execution_id = fire(ws)
    delays = []
    now = utcnow()
    assert run_execution(execution_id) == "pending"
    for _ in range(3):
        execution = load_execution(execution_id)
        delays.append((execution.resume_at - now).total_seconds())
        assert execution.status == "pending" and "retrying" in execution.error
        assert run_execution(execution_id) is None  # not due yet: nobody may claim it early
        now = execution.resume_at + timedelta(seconds=0.01)
        sweep_pending_executions(now=now)
    execution = load_execution(execution_id)
    assert calls["count"] == 4
    for expected, delay in zip((1, 2, 4), delays, strict=True):  # measured from before each run: a slow run adds to it
        assert expected <= delay < expected + 0.9
    assert execution.status == "completed"  # retry exhausted, then continue
    first, second = execution.completed_actions
    assert (first["status"], first["attempts"], first["error"]) == ("failed", 4, "boom 4")
    assert second["status"] == "completed"


def test_retry_recovers_when_the_action_works_again(ws, flaky):
    flaky(2, only_event="first")
    make_workflow(ws.id, actions=[log_step("first")], error_strategy="retry")
    execution_id = fire(ws)
    run_execution(execution_id)
    for _ in range(2):
        sweep_pending_executions(now=load_execution(execution_id).resume_at + timedelta(seconds=0.01))
    execution = load_execution(execution_id)
    assert execution.status == "completed" and execution.completed_actions[0]["attempts"] == 3
    assert execution.error is None and audit_count(execution_id, "first") == 1


def test_invalid_rendered_config_is_a_step_error_without_retries(ws, flaky):
    make_workflow(ws.id, actions=[{"type": "wait_delay", "config": {"seconds": "{{ trigger.deal.title }}"}}], error_strategy="retry")
    execution_id = fire(ws)
    assert run_execution(execution_id) == "completed"
    step = load_execution(execution_id).completed_actions[0]
    assert step["status"] == "failed" and step["attempts"] == 1 and "Invalid configuration" in step["error"]


def test_wait_pauses_then_the_sweep_resumes_on_the_snapshot(ws):
    workflow = make_workflow(ws.id, actions=[log_step("before"), {"type": "wait_delay", "config": {"seconds": 3}}, log_step("after")])
    execution_id = fire(ws)
    assert run_execution(execution_id) == "paused"
    execution = load_execution(execution_id)
    assert execution.status == "paused" and execution.lease_owner is None
    assert 2 <= (execution.resume_at - utcnow()).total_seconds() <= 3.5

    workflow_service.update_workflow(workflow, dict(workflow.definition(), actions=[log_step("edited")]))
    db.session.commit()
    assert sweep_pending_executions()["claimed"] == 0  # not yet due
    counts = sweep_pending_executions(now=execution.resume_at + timedelta(seconds=1))
    assert counts["claimed"] == 1 and counts["completed"] == 1
    execution = load_execution(execution_id)
    assert [s["type"] for s in execution.completed_actions] == ["log_event", "wait_delay", "log_event"]
    assert execution.completed_actions[1]["output"] == {"waited_seconds": 3}
    assert audit_count(execution_id, "after") == 1 and audit_count(execution_id, "edited") == 0


def test_per_action_delay_pauses_before_the_action(ws):
    make_workflow(ws.id, actions=[log_step("first"), log_step("delayed", delay_seconds=60)])
    execution_id = fire(ws)
    assert run_execution(execution_id) == "paused"
    assert audit_count(execution_id, "delayed") == 0
    sweep_pending_executions(now=utcnow() + timedelta(seconds=61))
    execution = load_execution(execution_id)
    assert execution.status == "completed" and audit_count(execution_id, "delayed") == 1


def test_cancel_stops_a_paused_run_before_its_next_step(ws):
    make_workflow(ws.id, actions=[log_step("first"), {"type": "wait_delay", "config": {"seconds": 5}}, log_step("never")])
    execution_id = fire(ws)
    run_execution(execution_id)
    assert execution_service.cancel_execution(load_execution(execution_id)) is True
    db.session.commit()
    sweep_pending_executions(now=utcnow() + timedelta(seconds=10))
    execution = load_execution(execution_id)
    assert execution.status == "cancelled" and audit_count(execution_id, "never") == 0
    assert execution_service.cancel_execution(execution) is False  # already over


def test_a_cancelled_claimed_run_stops_before_its_next_step(ws):
    from engine.runtime.runner import ExecutionRun, LeaseLost

    make_workflow(ws.id, actions=[log_step("first")])
    execution_id = fire(ws)
    assert claim_execution(execution_id, "w1")
    assert execution_service.cancel_execution(load_execution(execution_id))
    db.session.commit()
    with pytest.raises(LeaseLost):
        ExecutionRun(execution_id, "w1").run()
    assert audit_count(execution_id, "first") == 0 and load_execution(execution_id).status == "cancelled"


def test_cancel_while_a_step_runs_discards_that_step_and_stops(ws, monkeypatch):
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: a cancel waits for the running step to commit")
    make_workflow(ws.id, actions=[log_step("first"), log_step("second")])
    execution_id = fire(ws)
    real = executors.load_executors()["log_event"]

    def cancel_during_first(step):
        output = real(step)
        if step.config["event"] == "first":
            with db.engine.begin() as other_connection:  # someone else cancels meanwhile
                other_connection.execute(text("UPDATE workflow_executions SET status='cancelled' WHERE id=:id"), {"id": execution_id})
        return output

    monkeypatch.setitem(executors.EXECUTORS, "log_event", cancel_during_first)
    assert run_execution(execution_id) == "cancelled"
    assert audit_count(execution_id, "first") == 0  # the in-flight step's effects were rolled back
    assert audit_count(execution_id, "second") == 0


def test_an_expired_lease_is_taken_over_and_no_step_is_duplicated(ws):
    make_workflow(ws.id, actions=[log_step("a"), log_step("b")])
    execution_id = fire(ws)
    assert claim_execution(execution_id, "dead-worker")  # a worker claims, then dies
    assert run_execution(execution_id) is None  # the lease still holds
    later = utcnow() + timedelta(seconds=31)
    assert sweep_pending_executions(now=later)["completed"] == 1
    execution = load_execution(execution_id)
    assert execution.claim_count == 2 and audit_count(execution_id, "a") == 1 and audit_count(execution_id, "b") == 1


def test_two_workers_and_a_sweep_never_run_an_execution_twice(ws):
    make_workflow(ws.id, actions=[log_step("once")])
    ids = [fire(ws) for _ in range(30)]
    app = db.get_app() if hasattr(db, "get_app") else None
    from flask import current_app

    app = current_app._get_current_object()
    errors = []

    def worker(kind):
        try:
            with app.app_context():
                for execution_id in ids:
                    if kind == "sweep":
                        sweep_pending_executions(now=utcnow() + timedelta(seconds=10))
                    else:
                        run_execution(execution_id, worker_id=f"{kind}")
                db.session.remove()
        except Exception as error:  # pragma: no cover - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(kind,)) for kind in ("w1", "w2", "sweep")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    executions = [load_execution(i) for i in ids]
    assert {e.status for e in executions} == {"completed"}
    assert {e.claim_count for e in executions} == {1}
    assert audit_count(event="once") == 30


def test_run_now_runs_a_draft_with_the_sample_payload(ws):
    workflow = make_workflow(ws.id, status="draft")
    execution = execution_service.run_now(workflow)
    db.session.commit()
    assert execution.source == "manual" and execution.trigger_payload == sample_payload("deal_created")
    assert run_execution(execution.id) == "completed"


def test_bad_definitions_are_rejected_with_field_messages(ws):
    with pytest.raises(ValidationFailed) as failure:
        workflow_service.create_workflow(ws.id, {
            "name": "", "trigger": {"type": "nope"},
            "actions": [{"type": "update_win_probability", "config": {"probability": 150}}, {"type": "teleport"}],
        })
    errors = failure.value.errors
    assert errors["name"] == ["Name is required."]
    assert "Unknown trigger 'nope'." in errors["trigger.type"]
    assert errors["actions.0.config.probability"] == ["Must be between 0 and 100."]
    assert "Unknown action type 'teleport'." in errors["actions.1.type"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 0


@pytest.mark.parametrize("column, bad", [("trigger", "[]"), ("conditions", "{}"), ("actions", '"text"')])
def test_check_constraints_reject_malformed_json_written_around_the_schema(ws, column, bad):
    workflow = make_workflow(ws.id)
    cast = "CAST(:bad AS JSONB)" if db.engine.dialect.name == "postgresql" else ":bad"
    with pytest.raises(IntegrityError):
        db.session.execute(text(f"UPDATE workflows SET {column} = {cast} WHERE id = :id"), {"bad": bad, "id": workflow.id})
        db.session.flush()
    db.session.rollback()


def test_a_hand_edited_broken_step_fails_as_a_step_and_the_sweep_goes_on(ws):
    make_workflow(ws.id, actions=[log_step("first"), log_step("second"), log_step("third")])
    broken, healthy = fire(ws), fire(ws)
    execution = db.session.get(WorkflowExecution, broken)
    # Only reachable by writing the row by hand: every entry point validates definitions.
    execution.definition = dict(execution.definition, actions=[
        log_step("first"), "not a step", dict(log_step("third"), delay_seconds="soon")])
    db.session.commit()
    counts = sweep_pending_executions(now=utcnow() + timedelta(seconds=60))
    assert counts["claimed"] == 2
    run = load_execution(broken)
    assert run.status == "completed"  # the error strategy is continue
    assert [step["status"] for step in run.completed_actions] == ["completed", "failed", "failed"]
    assert run.completed_actions[1]["error"] == "This step is not an object in the stored definition."
    assert "delay_seconds ('soon')" in run.completed_actions[2]["error"]
    assert load_execution(healthy).status == "completed"
    shown = run_history_service.timeline(run)  # what the run detail page renders
    assert [(step["status"], step["delay_seconds"]) for step in shown] == [
        ("completed", 0), ("failed", 0), ("failed", 0)]

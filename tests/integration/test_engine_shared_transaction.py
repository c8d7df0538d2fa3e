"""Steps whose effects are all database writes share one transaction (issue #11's hot path), and a run
starts from the state its claim returned. What must still hold: a failed step never takes earlier
steps' effects with it or doubles them, a step with outside effects starts only after the steps before
it are committed, and a cancel or a takeover is seen before anything leaves the database."""
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from engine import executors
from engine.core.catalog import ACTIONS, Action, sample_payload
from engine.core.runs import fire_workflow_event
from engine.executors import StepError
from engine.runtime.runner import LeaseLost, ExecutionRun, claim_states, run_claimed_batch, run_execution
from models import AuditEvent, WorkflowExecution, db
from models.base import utcnow
from services import execution_service, webhook_service
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution, log_step


@pytest.fixture
def engine_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", EXECUTION_LEASE_SECONDS=30)
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def ws(engine_app):
    workspace = make_workspace("Grouping Co")
    return workspace


def fire(ws):
    ids = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    return ids[0]


def events_named(name):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == name))


def webhook_step():
    return {"type": "call_webhook", "config": {"url": "https://hooks.example.test/in"}}


@pytest.fixture
def commits():
    counted = []
    listener = lambda connection: counted.append(1)  # noqa: E731
    event.listen(db.engine, "commit", listener)
    yield counted
    event.remove(db.engine, "commit", listener)


def test_the_catalog_says_which_actions_may_share_a_transaction():
    assert not ACTIONS["call_webhook"].transactional
    assert not Action("new_action", "New", "Platform", "An action that forgot the flag", ()).transactional
    assert all(action.transactional for key, action in ACTIONS.items() if key != "call_webhook")


def test_in_database_steps_cost_one_commit_after_the_claim(ws, commits):
    make_workflow(ws.id, actions=[log_step("first"), log_step("second"), log_step("third")])
    execution_id = fire(ws)
    commits.clear()
    assert run_execution(execution_id) == "completed"
    assert len(commits) == 2  # the claim, then the three steps with the run's close
    run = load_execution(execution_id)
    assert [step["status"] for step in run.completed_actions] == ["completed"] * 3
    assert (events_named("first"), events_named("second"), events_named("third")) == (1, 1, 1)


def test_a_step_failing_inside_a_group_keeps_earlier_effects_exactly_once(ws, monkeypatch):
    real = executors.load_executors()["log_event"]
    calls = {"second": 0}

    def failing_second(step):
        if step.config["event"] == "second":
            calls["second"] += 1
            raise StepError(f"boom {calls['second']}", retryable=False)
        return real(step)

    monkeypatch.setitem(executors.EXECUTORS, "log_event", failing_second)
    make_workflow(ws.id, actions=[log_step("first"), log_step("second"), log_step("third")],
                  error_strategy="continue")
    execution_id = fire(ws)
    assert run_execution(execution_id) == "completed"
    run = load_execution(execution_id)
    assert [step["status"] for step in run.completed_actions] == ["completed", "failed", "completed"]
    assert run.completed_actions[1]["error"] == "boom 2"  # the in-group failure left no trace; run alone, it failed again
    assert run.error == "boom 2"
    assert (events_named("first"), events_named("second"), events_named("third")) == (1, 0, 1)


def test_stop_on_error_inside_a_group_records_the_earlier_steps(ws, monkeypatch):
    real = executors.load_executors()["log_event"]

    def failing_second(step):
        if step.config["event"] == "second":
            raise StepError("no deal", retryable=False)
        return real(step)

    monkeypatch.setitem(executors.EXECUTORS, "log_event", failing_second)
    make_workflow(ws.id, actions=[log_step("first"), log_step("second"), log_step("third")], error_strategy="stop")
    execution_id = fire(ws)
    assert run_execution(execution_id) == "failed"
    run = load_execution(execution_id)
    assert [step["status"] for step in run.completed_actions] == ["completed", "failed", "skipped"]
    assert (events_named("first"), events_named("third")) == (1, 0)


def test_a_step_with_outside_effects_starts_after_the_earlier_steps_are_committed(ws, monkeypatch):
    seen_from_another_connection = {}

    def post_signed(url, payload, *, webhook_id, headers=None, secret=None):
        with db.engine.connect() as other:
            seen_from_another_connection["first"] = other.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "first"))
            seen_from_another_connection["current_step"] = other.scalar(
                select(WorkflowExecution.current_step).where(WorkflowExecution.id == execution_id))
        return {"status_code": 200}

    monkeypatch.setattr(webhook_service, "post_signed", post_signed)
    make_workflow(ws.id, actions=[log_step("first"), webhook_step(), log_step("third")])
    execution_id = fire(ws)
    assert run_execution(execution_id) == "completed"
    assert seen_from_another_connection == {"first": 1, "current_step": 1}
    assert events_named("third") == 1


def run_cancelled_after_its_claim(ws, actions) -> int:
    """Claim a run of these steps, cancel it, then run it from the claim's reading: the run must stop."""
    make_workflow(ws.id, actions=actions)
    execution_id = fire(ws)
    [state] = claim_states([execution_id], "worker-1")
    assert execution_service.cancel_execution(db.session.get(WorkflowExecution, execution_id))
    db.session.commit()
    with pytest.raises(LeaseLost):
        ExecutionRun(execution_id, "worker-1", state=state).run()
    db.session.rollback()
    return execution_id


def test_a_cancel_after_the_claim_undoes_in_database_steps(ws):
    execution_id = run_cancelled_after_its_claim(ws, [log_step("first"), log_step("second")])
    assert load_execution(execution_id).status == "cancelled"
    assert events_named("first") == 0 and events_named("second") == 0


def test_a_cancel_after_the_claim_is_seen_before_a_webhook_is_called(ws, monkeypatch):
    called = []
    monkeypatch.setattr(webhook_service, "post_signed", lambda *args, **kwargs: called.append(1) or {})
    run_cancelled_after_its_claim(ws, [webhook_step()])
    assert called == []


def test_a_claim_older_than_half_its_lease_is_read_again_before_any_step(ws, monkeypatch):
    ran = []
    real = executors.load_executors()["log_event"]
    monkeypatch.setitem(executors.EXECUTORS, "log_event", lambda step: ran.append(1) or real(step))
    make_workflow(ws.id, actions=[log_step("first")])
    execution_id = fire(ws)
    [state] = claim_states([execution_id], "worker-1")
    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == execution_id)
                       .values(lease_owner="worker-2"))  # the lease ran out and another worker took the run over
    db.session.commit()
    state.lease_expires_at = utcnow() + timedelta(seconds=5)  # 25 of its 30 seconds are gone
    with pytest.raises(LeaseLost):
        ExecutionRun(execution_id, "worker-1", state=state).run()
    assert ran == []


def test_a_batch_runs_each_won_claim_from_the_claims_own_reading(ws, commits):
    make_workflow(ws.id, actions=[log_step("first"), log_step("second")])
    ids = [fire(ws) for _ in range(5)]
    commits.clear()
    counts = run_claimed_batch(ids, "worker-1")
    assert counts == {"given": 5, "claimed": 5, "completed": 5}
    assert len(commits) == 1 + 5  # one claim for the batch, one commit per run
    assert events_named("first") == events_named("second") == 5

"""The fan-out budget (issue #18, finding 1) and the per-workspace start ceiling.

The outside test's workflow: on email_sent, send five template emails. Run once, it caused 3,906 runs
(1 + 5 + 25 + ... up to MAX_CHAIN_DEPTH); with the budget the chain stops at CHAIN_RUN_BUDGET runs and
the step that could not start more says why.
"""
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.core.runs import caused_by_execution, fire_workflow_event
from engine.runtime.sweep import sweep_pending_executions
from models import OutboxEmail, WorkflowExecution, db
from models.base import utcnow
from services import execution_service
from tests.conftest import Auth, owner_of
from tests.factories import make_workflow, make_workspace
from tests.support.engine import log_step


def _email_fan_out(workspace_id, fan_out=5):
    email = {"type": "send_template_email",
             "config": {"to": "loop@example.test", "subject": "Again", "body": "Hello {{ trigger.email.subject }}"}}
    return make_workflow(workspace_id, trigger="email_sent", actions=[dict(email) for _ in range(fan_out)],
                         name="Email loop")


def _count(model, *where):
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _drain(limit=50):
    """Sweep until nothing is due (past the pending grace), as workers would."""
    for _ in range(limit):
        counts = sweep_pending_executions(now=utcnow() + timedelta(seconds=30))
        if not counts["claimed"]:
            return
    raise AssertionError("runs kept coming")


@pytest.fixture
def chain_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


def test_run_once_of_an_email_loop_ends_within_the_budget(chain_app):
    """The reproduction, through the page's Run now: at most 100 runs in all, and the refusal is on record."""
    ws = make_workspace("Loop")
    workflow = _email_fan_out(ws.id)
    client = chain_app.test_client()
    Auth(client).login(owner_of(ws))
    response = client.post(f"/automations/{workflow.id}/run", data={"payload": json.dumps({"email": {"subject": "x"}})})
    assert response.status_code == 200
    _drain()

    runs = _count(WorkflowExecution, WorkflowExecution.workspace_id == ws.id)
    emails = _count(OutboxEmail, OutboxEmail.workspace_id == ws.id)
    print(f"RELIABILITY email loop (send_template_email x5, Run once): {runs} runs, {emails} emails")
    assert runs == 100  # budget 100: the root and 99 caused runs (without the budget: 3,906)
    assert _count(WorkflowExecution, WorkflowExecution.status != "completed") == 0
    root = db.session.scalar(select(WorkflowExecution).where(WorkflowExecution.chain_root_id.is_(None)))
    assert root.source == "manual" and root.chain_runs == 99
    assert _count(WorkflowExecution, WorkflowExecution.chain_root_id == root.id) == 99
    refused = [step["output"]["dispatch_refused"][0]
               for run in db.session.scalars(select(WorkflowExecution))
               for step in run.completed_actions if "dispatch_refused" in (step.get("output") or {})]
    assert refused and all("budget of 100 runs" in refusal["message"] for refusal in refused)
    # every email of every run went out; only the runs beyond the budget were not created
    assert _count(OutboxEmail, OutboxEmail.workspace_id == ws.id) == 100 * 5


def test_the_budget_is_a_setting_and_counts_across_depths(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", CHAIN_RUN_BUDGET=8)
    with app.app_context():
        ws = make_workspace("Small budget")
        workflow = _email_fan_out(ws.id, fan_out=2)
        execution_service.run_now(workflow, {"email": {"subject": "x"}})
        db.session.commit()
        _drain()
        assert _count(WorkflowExecution) == 8  # 1 + 2 + 4 + 1 (depths 0..3), not 1 + 2 + 4 + 8 + ...
        depths = list(db.session.scalars(select(WorkflowExecution.event_depth).order_by(WorkflowExecution.id)))
        assert max(depths) == 3
        db.session.remove()


def test_each_root_has_its_own_budget_and_other_events_are_unaffected(chain_app):
    ws = make_workspace("Roots")
    make_workflow(ws.id, name="Plain")
    refusals = []
    root_ids = fire_workflow_event(ws.id, "deal_created", {"deal": {"title": "a"}})
    db.session.commit()
    root = db.session.get(WorkflowExecution, root_ids[0])
    with caused_by_execution(0, refusals, root.id):
        for _ in range(120):
            fire_workflow_event(ws.id, "deal_created", {"deal": {"title": "b"}})
    db.session.commit()
    assert _count(WorkflowExecution, WorkflowExecution.chain_root_id == root.id) == 99
    assert len(refusals) == 21 and refusals[-1]["chain_root_id"] == root.id
    # a new root event starts a new chain with a whole budget
    assert len(fire_workflow_event(ws.id, "deal_created", {"deal": {"title": "c"}})) == 1


def test_runs_beyond_the_per_minute_ceiling_wait_and_still_run(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", WORKSPACE_RUNS_PER_MINUTE=3)
    with app.app_context():
        ws = make_workspace("Ceiling")
        other = make_workspace("Other")
        for index in range(5):
            make_workflow(ws.id, name=f"W{index}", actions=[log_step()])
        make_workflow(other.id, name="Theirs")
        before = utcnow()
        ids = fire_workflow_event(ws.id, "deal_created", {"deal": {"title": "x"}})
        theirs = fire_workflow_event(other.id, "deal_created", {"deal": {"title": "y"}})
        db.session.commit()
        runs = [db.session.get(WorkflowExecution, execution_id) for execution_id in ids]
        assert len(runs) == 5
        assert [run.resume_at is None for run in runs] == [True, True, True, False, False]
        assert all(run.resume_at >= before + timedelta(seconds=59) for run in runs[3:])
        assert db.session.get(WorkflowExecution, theirs[0]).resume_at is None  # per workspace
        sweep_pending_executions(now=utcnow() + timedelta(seconds=10))
        db.session.expire_all()
        assert [run.status for run in runs] == ["completed"] * 3 + ["pending"] * 2
        sweep_pending_executions(now=utcnow() + timedelta(seconds=70))
        db.session.expire_all()
        assert [run.status for run in runs] == ["completed"] * 5  # delayed, never dropped
        db.session.remove()

"""The run detail of a workflow with a branch: the path taken, the steps not taken greyed, replay inside a branch."""
import re

import pytest
from sqlalchemy import select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.runner import run_execution
from models import WorkflowExecution, db
from services import execution_service
from tests.factories import make_workflow
from tests.support.engine import load_execution


@pytest.fixture
def app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


ACTIONS = [
    {"id": "a1", "type": "log_event", "config": {"event": "seen"}},
    {"id": "b1", "type": "branch", "config": {"match": "any", "conditions": [
        {"field": "deal.value", "op": "gte", "value": 10000}, {"field": "deal.stage", "op": "eq", "value": "won"}]},
     "then": [{"id": "a2", "type": "log_event", "config": {"event": "big"}},
              {"id": "u1", "type": "update_deal", "config": {"deal_id": 987654321, "changes": {"notes": "x"}}}],
     "else": [{"id": "a3", "type": "log_event", "config": {"event": "small"}}]},
    {"id": "a4", "type": "log_event", "config": {"event": "done"}},
]


def fire(ws, value):
    payload = sample_payload("deal_created")
    payload["deal"].update(value=value, stage="lead")
    [execution_id] = fire_workflow_event(ws.id, "deal_created", payload)
    db.session.commit()
    run_execution(execution_id)
    return load_execution(execution_id)


def steps_of(html):
    return re.findall(r'data-step="([^"]+)" data-status="(\w+)" data-path="([^"]+)"', html)


def test_the_timeline_shows_the_path_taken_and_greys_the_other(logged_in):
    client, ws, _ = logged_in("member")
    make_workflow(ws.id, actions=ACTIONS, error_strategy="stop")
    small = fire(ws, 500)
    html = client.get(f"/automations/runs/{small.id}").get_data(as_text=True)
    assert steps_of(html) == [("1", "completed", "0"), ("2", "completed", "1"),
                              ("2 › Then 1", "skipped", "1.then.0"), ("2 › Then 2", "skipped", "1.then.1"),
                              ("2 › Else 1", "completed", "1.else.0"), ("3", "completed", "2")]
    assert "took Else: not (Deal value ≥ 10,000 or Stage = won)" in html
    assert html.count("run-step-not-taken") == 2 and html.count("branch not taken") >= 2

    big = fire(ws, 50000)
    html = client.get(f"/automations/runs/{big.id}").get_data(as_text=True)
    assert "took Then: Deal value ≥ 10,000 or Stage = won" in html
    assert ("2 › Then 2", "failed", "1.then.1") in steps_of(html)
    assert "Step 2 › Then 2 (Update Deal) failed" in html  # the failure banner names the step inside the branch


def test_replay_from_a_failed_step_inside_a_branch_over_http(logged_in):
    client, ws, _ = logged_in("admin")
    make_workflow(ws.id, actions=ACTIONS, error_strategy="stop")
    original = fire(ws, 50000)
    assert original.status == "failed"
    response = client.post(f"/automations/runs/{original.id}/replay", data={"mode": "failed_step", "definition": "snapshot"})
    assert response.status_code == 302
    replay = db.session.scalar(select(WorkflowExecution).where(WorkflowExecution.replay_of_id == original.id))
    assert replay.current_step == 3 and [r["path"] for r in replay.completed_actions] == ["0", "1", "1.then.0"]
    html = client.get(f"/automations/runs/{replay.id}").get_data(as_text=True)
    assert f"from run #{original.id}" in html


def test_a_run_cancelled_during_a_wait_inside_a_branch_says_so_on_that_step(logged_in):
    """The run's current_step is a plan position: the Wait is found inside the Then path, not at top-level index 2."""
    client, ws, _ = logged_in("member")
    make_workflow(ws.id, actions=[
        {"id": "a1", "type": "log_event", "config": {"event": "seen"}},
        {"id": "b1", "type": "branch", "config": {"conditions": [{"field": "deal.value", "op": "gte", "value": 10000}]},
         "then": [{"id": "w1", "type": "wait_delay", "config": {"seconds": 3600}},
                  {"id": "a2", "type": "log_event", "config": {"event": "big"}}],
         "else": [{"id": "a3", "type": "log_event", "config": {"event": "small"}}]},
        {"id": "a4", "type": "log_event", "config": {"event": "done"}},
    ])
    run = fire(ws, 50000)
    assert run.status == "paused" and run.current_step == 2
    assert execution_service.cancel_execution(run)
    db.session.commit()
    html = client.get(f"/automations/runs/{run.id}").get_data(as_text=True)
    steps = steps_of(html)
    assert steps[2] == ("2 › Then 1", "cancelled", "1.then.0"), steps
    assert steps[3][1] == "not_run" and steps[5][1] == "not_run"  # the step at top-level index 2 is not the Wait
    assert html.count("Cancelled during this wait.") == 1

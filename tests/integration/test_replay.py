"""Replay: from the failed step (completed steps are not run again) or from the start, on the snapshot
or the current definition; bulk replay of failed runs. Runs are driven by hand (ENGINE_HANDOFF=sweep)."""
import pytest
from sqlalchemy import func, select

from tests.factories import new_execution
from engine.runtime.runner import run_execution
from models import AuditEvent, Deal, WorkflowExecution, db
from services import replay_service, workflow_service
from services.errors import NotFound, ValidationFailed
from services.replay_service import ReplayOptions
from services.run_history_service import RunFilter
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution, log_step

MISSING_DEAL = 987654321


@pytest.fixture
def sweep_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def workspace(sweep_app):
    """workspace() -> a new workspace, created in the sweep app's context (nothing runs by itself)."""
    return make_workspace


def broken_update(deal_id=MISSING_DEAL):
    return {"type": "update_deal", "config": {"deal_id": deal_id, "changes": {"notes": "touched"}}}


def definition(workflow, actions):
    return dict(workflow.definition(), actions=actions)


def start_run(workflow, payload=None):
    execution = new_execution(workflow, payload or {"deal": {"title": "Acme"}})
    db.session.add(execution)
    db.session.commit()
    return execution.id


def run(execution_id):
    run_execution(execution_id)
    return load_execution(execution_id)


def step_events(workspace_id, event):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.workspace_id == workspace_id, AuditEvent.event == event))


@pytest.fixture
def failed_run(sweep_app, workspace):
    """A stop-on-error run whose step 1 completed and step 2 failed (deal missing); step 3 skipped."""
    ws = workspace()
    workflow = make_workflow(ws.id, actions=[log_step("first_ran"), broken_update(), log_step("third_ran")],
                             error_strategy="stop")
    original = run(start_run(workflow))
    assert original.status == "failed"
    assert [r["status"] for r in original.completed_actions] == ["completed", "failed", "skipped"]
    return ws, workflow, original


def fix_workflow(workflow, ws):
    deal = Deal(workspace_id=ws.id, title="Real deal", stage="lead", status="open", value=0, currency="USD")
    db.session.add(deal)
    db.session.flush()
    workflow_service.update_workflow(workflow, definition(workflow, [
        log_step("first_ran"), broken_update(deal.id), log_step("third_ran")]))
    db.session.commit()
    return deal


def test_replay_from_the_failed_step_skips_completed_steps(failed_run):
    ws, workflow, original = failed_run
    deal = fix_workflow(workflow, ws)
    assert step_events(ws.id, "first_ran") == 1

    replay = replay_service.replay_execution(original, ReplayOptions("failed_step", "current"))
    db.session.commit()
    assert replay.status == "pending" and replay.source == "replay" and replay.replay_of_id == original.id
    assert replay.current_step == 1

    done = run(replay.id)
    assert done.status == "completed", done.completed_actions
    records = done.completed_actions
    assert [r["index"] for r in records] == [0, 1, 2]  # one record per step, none duplicated
    assert [r["status"] for r in records] == ["completed", "completed", "completed"]
    assert records[0]["replayed_from"] == original.id
    assert records[0]["output"] == original.completed_actions[0]["output"]  # kept, not re-run
    assert "replayed_from" not in records[1] and records[1]["output"]["deal_id"] == deal.id
    assert step_events(ws.id, "first_ran") == 1  # step 1 did not run again
    assert step_events(ws.id, "third_ran") == 1
    assert load_execution(original.id).status == "failed"  # the original is untouched


def test_replay_on_the_snapshot_runs_what_the_original_ran(failed_run):
    ws, workflow, original = failed_run
    fix_workflow(workflow, ws)
    replay = replay_service.replay_execution(original, ReplayOptions("failed_step", "snapshot"))
    db.session.commit()
    assert replay.definition == original.definition
    done = run(replay.id)
    assert done.status == "failed"
    assert [r["index"] for r in done.completed_actions] == [0, 1, 2]
    assert step_events(ws.id, "first_ran") == 1


def test_replay_from_the_start_runs_every_step_again(failed_run):
    ws, workflow, original = failed_run
    fix_workflow(workflow, ws)
    replay = replay_service.replay_execution(original, ReplayOptions("start", "current"))
    db.session.commit()
    assert replay.current_step == 0 and replay.completed_actions == []
    assert replay.trigger_payload == original.trigger_payload
    done = run(replay.id)
    assert done.status == "completed"
    assert not any("replayed_from" in r for r in done.completed_actions)
    assert step_events(ws.id, "first_ran") == 2


def test_replay_on_the_current_definition_of_a_deleted_workflow_is_refused(failed_run):
    ws, workflow, original = failed_run
    workflow_service.delete_workflow(workflow)
    db.session.commit()
    original = load_execution(original.id)
    assert original.workflow_id is None
    before = db.session.scalar(select(func.count()).select_from(WorkflowExecution))
    with pytest.raises(NotFound):
        replay_service.replay_execution(original, ReplayOptions("failed_step", "current"))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == before

    replay = replay_service.replay_execution(original, ReplayOptions("failed_step", "snapshot"))
    db.session.commit()
    assert replay.workflow_id is None and replay.workflow_name == original.workflow_name
    assert run(replay.id).status == "failed"


def test_replay_from_the_failed_step_refuses_when_earlier_steps_changed(failed_run):
    ws, workflow, original = failed_run
    workflow_service.update_workflow(workflow, definition(workflow, [broken_update(), log_step("x")]))
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        replay_service.replay_execution(original, ReplayOptions("failed_step", "current"))
    assert "changed" in str(refused.value)


def test_unfinished_runs_and_runs_without_a_failed_step_are_not_replayed_from_a_step(sweep_app, workspace):
    ws = workspace()
    workflow = make_workflow(ws.id, actions=[log_step()])
    pending = load_execution(start_run(workflow))
    with pytest.raises(ValidationFailed):
        replay_service.replay_execution(pending, ReplayOptions("start", "snapshot"))
    completed = run(pending.id)
    with pytest.raises(ValidationFailed):
        replay_service.replay_execution(completed, ReplayOptions("failed_step", "snapshot"))
    assert replay_service.replay_execution(completed, ReplayOptions("start", "snapshot")).replay_of_id == completed.id


def test_bulk_replay_of_100_failed_runs_creates_100_linked_executions(sweep_app, workspace):
    ws = workspace()
    other = workspace()
    workflow = make_workflow(ws.id, actions=[log_step("first_ran"), broken_update()], error_strategy="stop")
    stranger = make_workflow(other.id, actions=[broken_update()], error_strategy="stop")
    originals = []
    for _ in range(100):
        execution = new_execution(workflow, {"deal": {"title": "Acme"}})
        execution.status = "failed"
        execution.completed_actions = [
            {"index": 0, "type": "log_event", "status": "completed", "attempts": 1, "started_at": None,
             "finished_at": None, "duration_ms": 3, "input": {}, "output": {"audit_event_id": 1}, "error": None},
            {"index": 1, "type": "update_deal", "status": "failed", "attempts": 1, "started_at": None,
             "finished_at": None, "duration_ms": 2, "input": {}, "output": {}, "error": "No such deal."},
        ]
        originals.append(execution)
    completed = new_execution(workflow, {})
    completed.status = "completed"
    foreign = new_execution(stranger, {})
    foreign.status = "failed"
    db.session.add_all([*originals, completed, foreign])
    db.session.commit()

    candidates = replay_service.bulk_replay_candidates(ws.id, RunFilter())
    assert len(candidates) == 100
    result = replay_service.bulk_replay(ws.id, RunFilter(), ReplayOptions("failed_step", "current"), candidates[-1])
    db.session.commit()
    assert len(result.replays) == 100 and result.skipped == {}

    replays = list(db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.source == "replay")))
    assert len(replays) == 100
    assert sorted(r.replay_of_id for r in replays) == sorted(o.id for o in originals)
    assert all(r.workspace_id == ws.id and r.status == "pending" and r.current_step == 1 for r in replays)
    assert all(len(r.completed_actions) == 1 for r in replays)
    # Replayed runs are not offered again; the other workspace's failed run never was.
    assert replay_service.bulk_replay_candidates(ws.id, RunFilter()) == []
    assert replay_service.bulk_replay_candidates(other.id, RunFilter()) == [foreign.id]

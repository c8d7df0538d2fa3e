"""Definition v2 (DESIGN.md): branches with then/else paths, any/all conditions, step outputs by id.

Runs are driven by hand (ENGINE_HANDOFF=sweep) and go through the same runner on SQLite and on PostgreSQL
(`/tmp/pgrun.sh`), where a real rq worker is also running.
"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import executors
from engine.core.catalog import sample_payload
from engine.core.runs import MAX_CHAIN_DEPTH, fire_workflow_event
from engine.executors import StepError
from engine.runtime.runner import claim_execution, run_execution
from engine.runtime.sweep import sweep_pending_executions
from models import AuditEvent, Deal, Ticket, WorkflowExecution, db
from models.base import utcnow
from services import execution_service, replay_service, workflow_service
from services.errors import NotFound, ValidationFailed
from services.replay_service import ReplayOptions
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution

BIG = {"field": "deal.value", "op": "gte", "value": 10000}


@pytest.fixture
def ws(engine_app):
    return make_workspace("Branch Co")


def log(step_id, event=None, message="{{ trigger.deal.title }}", **extra):
    return {"id": step_id, "type": "log_event", "config": {"event": event or step_id, "message": message}, **extra}


def branch(step_id, conditions, then=(), otherwise=(), match="all", **extra):
    return {"id": step_id, "type": "branch", "config": {"match": match, "conditions": list(conditions)},
            "then": list(then), "else": list(otherwise), **extra}


def fire(ws, value=5000, trigger="deal_created", **deal):
    payload = sample_payload(trigger)
    payload["deal"].update(value=value, **deal)
    ids = fire_workflow_event(ws.id, trigger, payload)
    db.session.commit()
    return ids


def fire_one(ws, value=5000, **deal):
    [execution_id] = fire(ws, value, **deal)
    return execution_id


def events(execution_id):
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent.event).where(AuditEvent.execution_id == execution_id,
                                                             AuditEvent.event.not_like("execution.%"))
                              .order_by(AuditEvent.id)).all()


def summary(execution):
    return [(s["path"], s["id"], s["status"]) for s in execution.completed_actions]


DEAL_FLOW = [
    log("a1", "seen"),
    branch("b1", [BIG], then=[log("a2", "big")], otherwise=[log("a3", "small")]),
    log("a4", "done", message="after {{ steps.b1.output.path }}"),
]


@pytest.mark.parametrize("value, taken, skipped", [(50000, "then", "else"), (500, "else", "then")])
def test_a_branch_takes_one_path_records_the_other_as_skipped_and_rejoins(ws, value, taken, skipped):
    make_workflow(ws.id, actions=DEAL_FLOW)
    execution_id = fire_one(ws, value)
    assert run_execution(execution_id) == "completed"
    execution = load_execution(execution_id)
    ran = {"then": ("1.then.0", "a2"), "else": ("1.else.0", "a3")}
    assert summary(execution) == [
        ("0", "a1", "completed"), ("1", "b1", "completed"),
        ("1.then.0", "a2", "completed" if taken == "then" else "skipped"),
        ("1.else.0", "a3", "completed" if taken == "else" else "skipped"),
        ("2", "a4", "completed"),
    ]
    branch_record = execution.completed_actions[1]
    assert branch_record["output"] == {"matched": taken == "then", "path": taken}
    not_taken = next(s for s in execution.completed_actions if s["path"] == ran[skipped][0])
    assert (not_taken["error"], not_taken["output"]) == (None, {"reason": "branch not taken"})
    assert events(execution_id) == ["seen", "big" if taken == "then" else "small", "done"]
    assert execution.completed_actions[-1]["input"]["message"] == f"after {taken}"
    assert all(s["index"] == 1 for s in execution.completed_actions[1:4])  # the top-level step they are inside of


def test_any_and_all_for_the_workflow_and_for_a_branch(ws):
    small_or_named = [{"field": "deal.value", "op": "lt", "value": 100},
                      {"field": "deal.title", "op": "contains", "value": "acme"}]
    make_workflow(ws.id, name="any", conditions=small_or_named, conditions_match="any",
                  actions=[branch("b1", small_or_named, match="any", then=[log("yes")], otherwise=[log("no")])])
    make_workflow(ws.id, name="all", conditions=small_or_named, conditions_match="all", actions=[log("all_ran")])
    ids = fire(ws, 5000, title="ACME Corp")  # only the title holds
    assert len(ids) == 1
    run_execution(ids[0])
    assert events(ids[0]) == ["yes"]
    assert load_execution(ids[0]).definition["conditions_match"] == "any"
    assert fire(ws, 5000, title="Globex") == []  # neither holds: not even the any-workflow starts


def test_branch_conditions_read_earlier_step_outputs_by_id(ws):
    make_workflow(ws.id, actions=[
        log("a1", "vip"),
        branch("b1", [{"field": "steps.a1.output.event", "op": "eq", "value": "vip"}],
               then=[log("a2", message="audit {{ steps.a1.output.audit_event_id }}")], otherwise=[log("a3")]),
    ])
    execution_id = fire_one(ws, 1)
    run_execution(execution_id)
    execution = load_execution(execution_id)
    first, decided, vip, _skipped = execution.completed_actions
    assert decided["output"]["path"] == "then" and vip["status"] == "completed"
    assert vip["input"]["message"] == f"audit {first['output']['audit_event_id']}"


def test_branches_nest_three_deep(ws):
    def level(n, inner):
        return branch(f"b{n}", [{"field": "deal.value", "op": "gte", "value": 10 ** n}],
                      then=[log(f"t{n}"), *inner], otherwise=[log(f"e{n}")])

    make_workflow(ws.id, actions=[level(1, [level(2, [level(3, [])])]), log("end")])
    execution_id = fire_one(ws, 500)  # ≥10, ≥100, not ≥1000
    assert run_execution(execution_id) == "completed"
    execution = load_execution(execution_id)
    assert events(execution_id) == ["t1", "t2", "e3", "end"]
    paths = {s["path"]: s["status"] for s in execution.completed_actions}
    assert paths["0.then.1.then.1.else.0"] == "completed" and paths["0.then.1.then.1.then.0"] == "skipped"
    assert paths["0.else.0"] == "skipped" and paths["0.then.1.else.0"] == "skipped"


def test_a_wait_and_a_delay_inside_a_branch_pause_and_resume(ws):
    make_workflow(ws.id, actions=[branch("b1", [BIG], then=[
        {"id": "w1", "type": "wait_delay", "config": {"seconds": 5}}, log("late", delay_seconds=60)],
        otherwise=[{"id": "w2", "type": "wait_delay", "config": {"seconds": 999}}]), log("end")])
    execution_id = fire_one(ws, 20000)
    assert run_execution(execution_id) == "paused"
    execution = load_execution(execution_id)
    assert execution.wait_marker == "1:wait" and events(execution_id) == []
    sweep_pending_executions(now=utcnow() + timedelta(seconds=6))
    execution = load_execution(execution_id)
    assert execution.status == "paused" and execution.wait_marker == "2:delay"  # the per-action delay of "late"
    sweep_pending_executions(now=utcnow() + timedelta(seconds=67))
    execution = load_execution(execution_id)
    assert execution.status == "completed" and events(execution_id) == ["late", "end"]
    assert [s["status"] for s in execution.completed_actions] == ["completed", "completed", "completed", "skipped", "completed"]


def test_a_wait_on_the_path_not_taken_never_pauses(ws):
    make_workflow(ws.id, actions=[branch("b1", [BIG], then=[{"id": "w1", "type": "wait_delay", "config": {"seconds": 99}},
                                                         log("late", delay_seconds=60)]), log("end")])
    execution_id = fire_one(ws, 1)
    assert run_execution(execution_id) == "completed"
    assert events(execution_id) == ["end"]


@pytest.fixture
def flaky(monkeypatch):
    calls = {"count": 0}
    real = executors.load_executors()["log_event"]

    def install(failures, only_event):
        def executor(step):
            if step.config["event"] == only_event:
                calls["count"] += 1
                if calls["count"] <= failures:
                    raise StepError(f"boom {calls['count']}")
            return real(step)
        monkeypatch.setitem(executors.EXECUTORS, "log_event", executor)
        return calls
    return install


def test_retries_inside_a_branch(ws, flaky):
    calls = flaky(2, "inner")
    make_workflow(ws.id, error_strategy="retry",
                  actions=[branch("b1", [BIG], then=[log("inner")], otherwise=[log("other")]), log("end")])
    execution_id = fire_one(ws, 20000)
    assert run_execution(execution_id) == "pending"
    assert "Step 1 › Then 1 failed (attempt 1)" in load_execution(execution_id).error
    # (the failure inside the first transaction group is undone and run again on its own: that call counts too)
    while (execution := load_execution(execution_id)).status == "pending":
        sweep_pending_executions(now=execution.resume_at + timedelta(seconds=0.01))
    assert execution.status == "completed" and calls["count"] == 3
    assert execution.completed_actions[1]["attempts"] == 2 and events(execution_id) == ["inner", "end"]


def test_stop_on_error_inside_a_branch_skips_the_rest(ws, flaky):
    flaky(2, "inner")  # the first failure undoes the transaction it shares with the branch step; then it fails alone
    make_workflow(ws.id, error_strategy="stop", actions=[
        branch("b1", [BIG], then=[log("inner"), log("next")], otherwise=[log("other")]), log("end")])
    execution_id = fire_one(ws, 20000)
    assert run_execution(execution_id) == "failed"
    execution = load_execution(execution_id)
    assert summary(execution) == [("0", "b1", "completed"), ("0.then.0", "inner", "failed"),
                                  ("0.then.1", "next", "skipped"), ("0.else.0", "other", "skipped"),
                                  ("1", "end", "skipped")]
    assert "Stop on error" in execution.completed_actions[2]["skipped_reason"]
    assert execution.completed_actions[3]["output"] == {"reason": "branch not taken"}
    assert events(execution_id) == []


def test_continue_on_error_inside_a_branch_goes_on(ws, flaky):
    flaky(2, "inner")
    make_workflow(ws.id, actions=[branch("b1", [BIG], then=[log("inner"), log("next")]), log("end")])
    execution_id = fire_one(ws, 20000)
    assert run_execution(execution_id) == "completed"
    assert events(execution_id) == ["next", "end"]


class Crash(BaseException):
    """The worker dies (not a step error: nothing records it)."""


def test_a_crash_inside_a_branch_resumes_and_creates_the_record_once(ws, monkeypatch):
    """create_ticket commits (a webhook-free path still commits before the non-database step that follows);
    the worker then dies in the step after it; a second worker takes the run over from the last commit."""
    real = executors.load_executors()["log_event"]
    crashes = {"left": 1}

    def dies_once(step):
        if step.config["event"] == "after_ticket" and crashes["left"]:
            crashes["left"] -= 1
            raise Crash()
        return real(step)

    monkeypatch.setitem(executors.EXECUTORS, "log_event", dies_once)
    make_workflow(ws.id, actions=[branch("b1", [BIG], otherwise=[
        {"id": "t1", "type": "create_ticket", "config": {"subject": "Small deal {{ trigger.deal.title }}"}},
        {"id": "h1", "type": "call_webhook", "config": {"url": "https://example.invalid/hook"}},
        log("after_ticket", message="ticket {{ steps.t1.output.ticket_id }}"),
    ]), log("end")])
    execution_id = fire_one(ws, 1)
    with pytest.raises(Crash):
        run_execution(execution_id, worker_id="dead-worker")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.workspace_id == ws.id)) == 1
    assert sweep_pending_executions(now=utcnow() + timedelta(seconds=31))["claimed"] == 1  # the lease ran out
    execution = load_execution(execution_id)
    assert execution.status == "completed" and execution.claim_count == 2
    assert db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.workspace_id == ws.id)) == 1
    ticket_step, _hook, after, _end = execution.completed_actions[1:]
    assert ticket_step["path"] == "0.else.0" and after["input"]["message"] == f"ticket {ticket_step['output']['ticket_id']}"


def test_a_crash_during_a_record_creating_step_in_a_branch_creates_it_once(ws, monkeypatch):
    real = executors.load_executors()["create_ticket"]
    crashes = {"left": 1}

    def dies_after_creating(step):
        output = real(step)
        if crashes["left"]:
            crashes["left"] -= 1
            raise Crash()
        return output

    monkeypatch.setitem(executors.EXECUTORS, "create_ticket", dies_after_creating)
    make_workflow(ws.id, actions=[log("a1"), branch("b1", [BIG], then=[
        {"id": "t1", "type": "create_ticket", "config": {"subject": "Big"}}, log("a2")])])
    execution_id = fire_one(ws, 20000)
    with pytest.raises(Crash):
        run_execution(execution_id, worker_id="dead-worker")
    db.session.rollback()
    sweep_pending_executions(now=utcnow() + timedelta(seconds=31))
    execution = load_execution(execution_id)
    assert execution.status == "completed"
    assert db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.workspace_id == ws.id)) == 1
    assert events(execution_id) == ["a1", "a2"]


def test_cancel_a_run_waiting_inside_a_branch(ws):
    make_workflow(ws.id, actions=[branch("b1", [BIG], then=[{"id": "w1", "type": "wait_delay", "config": {"seconds": 5}},
                                                         log("never")]), log("end")])
    execution_id = fire_one(ws, 20000)
    assert run_execution(execution_id) == "paused"
    assert execution_service.cancel_execution(load_execution(execution_id)) is True
    db.session.commit()
    sweep_pending_executions(now=utcnow() + timedelta(seconds=10))
    execution = load_execution(execution_id)
    assert execution.status == "cancelled" and events(execution_id) == []


def test_the_loop_guard_holds_inside_a_branch(ws):
    """A branch path that creates a deal fires deal_created again: the chain stops at MAX_CHAIN_DEPTH."""
    make_workflow(ws.id, actions=[branch("b1", [{"field": "deal.value", "op": "gte", "value": 0}], then=[
        {"id": "d1", "type": "create_deal", "config": {"title": "Again {{ trigger.deal.title }}", "value": 1}}])])
    fire(ws, 1)
    for _ in range(MAX_CHAIN_DEPTH + 3):
        sweep_pending_executions(now=utcnow() + timedelta(seconds=10))
    db.session.expire_all()
    runs = db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.workspace_id == ws.id)
                              .order_by(WorkflowExecution.id)).all()
    assert len(runs) == MAX_CHAIN_DEPTH + 1 and all(run.status == "completed" for run in runs)
    last_deal_step = runs[-1].completed_actions[1]
    assert last_deal_step["path"] == "0.then.0" and last_deal_step["output"]["dispatch_refused"]
    assert db.session.scalar(select(func.count()).select_from(Deal).where(Deal.workspace_id == ws.id)) == MAX_CHAIN_DEPTH + 1


# -- replay inside a branch ------------------------------------------------------------------------

def _failing_flow():
    return [log("a1"), branch("b1", [BIG], then=[
        log("a2"), {"id": "u1", "type": "update_deal", "config": {"deal_id": 987654321, "changes": {"notes": "x"}}},
        log("a3")]), log("a4")]


@pytest.fixture
def failed_in_branch(ws):
    workflow = make_workflow(ws.id, actions=_failing_flow(), error_strategy="stop")
    execution_id = fire_one(ws, 20000)
    assert run_execution(execution_id) == "failed"
    return workflow, load_execution(execution_id)


def test_replay_from_a_failed_step_inside_a_branch_on_the_snapshot(ws, failed_in_branch):
    _workflow, original = failed_in_branch
    assert [s["path"] for s in original.completed_actions if s["status"] == "failed"] == ["1.then.1"]
    replay = replay_service.replay_execution(original, ReplayOptions("failed_step", "snapshot"))
    db.session.commit()
    assert replay.current_step == 3  # a1, b1, a2 kept
    run_execution(replay.id)
    replay = load_execution(replay.id)
    assert [s.get("replayed_from") for s in replay.completed_actions[:3]] == [original.id] * 3
    assert replay.completed_actions[3]["path"] == "1.then.1" and replay.completed_actions[3]["status"] == "failed"
    assert events(replay.id) == []  # a1 and a2 were not run again, the failed step fails again (Stop)


def test_replay_inside_a_branch_on_the_current_definition(ws, failed_in_branch):
    workflow, original = failed_in_branch
    deal = Deal(workspace_id=ws.id, title="Real", value=1)
    db.session.add(deal)
    db.session.commit()
    fixed = _failing_flow()
    fixed[1]["then"][1]["config"]["deal_id"] = deal.id
    workflow_service.update_workflow(workflow, dict(workflow.definition(), actions=fixed))
    db.session.commit()
    replay = replay_service.replay_execution(original, ReplayOptions("failed_step", "current"))
    db.session.commit()
    assert run_execution(replay.id) == "completed"
    assert events(replay.id) == ["a3", "a4"]
    assert db.session.get(Deal, deal.id).notes == "x"


def test_replay_inside_a_branch_when_the_failed_step_is_gone_says_so(ws, failed_in_branch):
    workflow, original = failed_in_branch
    changed = _failing_flow()
    del changed[1]["then"][1]
    workflow_service.update_workflow(workflow, dict(workflow.definition(), actions=changed))
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        replay_service.replay_execution(original, ReplayOptions("failed_step", "current"))
    assert "u1" in str(refused.value.errors) and "no longer" in str(refused.value.errors)


# -- ids and saving --------------------------------------------------------------------------------

def test_the_server_gives_missing_ids_and_keeps_them_across_edits_and_reorders(ws):
    workflow = make_workflow(ws.id, actions=[
        {"type": "log_event", "config": {"event": "x"}},
        {"type": "branch", "config": {"conditions": [BIG]}, "then": [{"type": "log_event", "config": {"event": "y"}}]},
    ])
    first, second = workflow.actions
    ids = [first["id"], second["id"], second["then"][0]["id"]]
    assert len(set(ids)) == 3 and second["else"] == [] and second["config"]["match"] == "all"
    reordered = [second, first]
    workflow_service.update_workflow(workflow, dict(workflow.definition(), actions=reordered))
    db.session.commit()
    assert [workflow.actions[0]["id"], workflow.actions[1]["id"], workflow.actions[0]["then"][0]["id"]] == \
        [ids[1], ids[0], ids[2]]


@pytest.mark.parametrize("actions, conditions, path, words", [
    ([log("a1"), log("a1")], [], "actions.1.id", "already has the id"),
    ([log("a1", message="{{ steps.zz.output.x }}")], [], "actions.0.config.message", "no step with the id 'zz'"),
    ([log("a1", message="{{ steps.a2.output.x }}"), log("a2")], [], "actions.0.config.message", "cannot have run before"),
    ([branch("b1", [BIG], then=[log("a2")], otherwise=[log("a3", message="{{ steps.a2.output.x }}")])], [],
     "actions.0.else.0.config.message", "cannot have run before"),
    ([log("a1", message="{{ steps.1.output.x }}"), log("a2")], [], "actions.0.config.message", "runs after this one"),
    ([branch("b1", [{"field": "steps.a9.output.event", "op": "eq", "value": 1}]), log("a9")], [],
     "actions.0.config.conditions.0.field", "cannot have run before"),
    ([branch("b1", [BIG], match="some")], [], "actions.0.config.match", "Must be one of"),
    ([branch("b1", [])], [], "actions.0.config.conditions", "Add at least one condition."),
    ([branch("b1", [{"field": "", "op": "eq", "value": 1}])], [], "actions.0.config.conditions.0.field", ""),
    ([branch("b1", [BIG], then=[branch("b2", [BIG], then=[branch("b3", [BIG], then=[branch("b4", [BIG])])])])], [],
     "actions.0.then.0.then.0.then.0.type", "at most 3 deep"),
    ([log("a1", then=[log("a2")])], [], "actions.0.then", "Only a branch"),
    ([log("a1")], [{"field": "steps.a1.output.event", "op": "eq", "value": "x"}], "conditions.0.field", "branch"),
    ([log("12")], [], "actions.0.id", "at least one letter"),
])
def test_bad_v2_definitions_are_refused_with_field_paths(ws, actions, conditions, path, words):
    with pytest.raises(ValidationFailed) as refused:
        make_workflow(ws.id, actions=actions, conditions=conditions)
    assert path in refused.value.errors, refused.value.errors
    assert words in " ".join(refused.value.errors[path])


def test_references_after_a_branch_to_either_path_are_allowed(ws):
    make_workflow(ws.id, actions=DEAL_FLOW + [log("a5", message="{{ steps.a2.output.event }}{{ steps.a3.output.event }}")])
    execution_id = fire_one(ws, 1)
    run_execution(execution_id)
    assert load_execution(execution_id).completed_actions[-1]["input"]["message"] == "small"

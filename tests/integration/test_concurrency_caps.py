"""Concurrency caps (issue #22): a workflow's max_concurrent_runs and WORKSPACE_MAX_RUNNING hold runs back as
pending (never failed), the claim takes only what fits, a run that ends hands its slot on, and the sweep takes
waiting runs in rounds across workspaces. On SQLite and (pgrun.sh) on PostgreSQL; the 4-process proof is
tests/reliability/test_concurrency_caps.py."""
import threading
import time
from http.server import BaseHTTPRequestHandler

from sqlalchemy import func, select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.embedded import embedded_runner
from engine.runtime.runner import claim_states, run_claimed
from engine.runtime.sweep import due_execution_ids
from models import Workflow, WorkflowExecution, db
from models.base import utcnow
from tests.factories import make_workflow, make_workspace
from tests.support.engine import log_step
from tests.support.http_server import serving


def capped_workflow(ws_id: int, cap: int | None, name: str = "Capped", actions=None) -> Workflow:
    workflow = make_workflow(ws_id, actions=actions or [log_step("capped")], name=name)
    workflow.max_concurrent_runs = cap
    db.session.commit()
    return workflow


def fire(ws_id: int, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        ids += fire_workflow_event(ws_id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    return ids


def statuses(ids) -> dict:
    db.session.commit()
    return dict(db.session.execute(select(WorkflowExecution.status, func.count())
                                   .where(WorkflowExecution.id.in_(ids)).group_by(WorkflowExecution.status)).all())


def test_the_claim_takes_only_the_free_slots_of_a_capped_workflow_oldest_first(engine_app):
    ws = make_workspace("Cap Co")
    capped_workflow(ws.id, 4)
    ids = fire(ws.id, 7)
    first = claim_states(ids, "worker-a")
    assert [state.id for state in first] == ids[:2]  # half the free slots: the rest are for other workers
    assert all(state.capped for state in first)
    assert [state.id for state in claim_states(ids, "worker-b")] == [ids[2]]
    assert [state.id for state in claim_states(ids, "worker-c")] == [ids[3]]
    assert claim_states(ids, "worker-d") == []  # full: nothing more, and nothing failed
    assert statuses(ids) == {"running": 4, "pending": 3}
    run_claimed(first[0], "worker-a")  # ends: a slot frees
    assert [state.id for state in claim_states(ids, "worker-b")] == [ids[4]]
    assert statuses(ids) == {"completed": 1, "running": 4, "pending": 2}


def test_an_uncapped_workflow_is_not_held_back_by_a_capped_one(engine_app):
    ws = make_workspace("Cap Co")
    capped_workflow(ws.id, 1, name="Capped")
    capped_workflow(ws.id, None, name="Free")
    ids = fire(ws.id, 3)  # each event starts one run of each workflow
    claimed = claim_states(ids, "worker-a")
    by_workflow = {}
    for state in claimed:
        by_workflow.setdefault(state.definition["name"], []).append(state.capped)
    assert by_workflow == {"Capped": [True], "Free": [False, False, False]}


def test_workspace_max_running_holds_a_workspace_and_not_another(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", WORKSPACE_MAX_RUNNING=2)
    with app.app_context():
        a, b = make_workspace("A Co"), make_workspace("B Co")
        make_workflow(a.id), make_workflow(b.id)
        a_ids, b_ids = fire(a.id, 6), fire(b.id, 3)
        claimed = claim_states(a_ids + b_ids, "worker-a")
        assert [state.id for state in claimed] == a_ids[:1] + b_ids[:1]  # a claim takes half the free slots
        claim_states(a_ids + b_ids, "worker-b")
        assert claim_states(a_ids + b_ids, "worker-c") == []
        assert statuses(a_ids) == {"running": 2, "pending": 4}
        assert statuses(b_ids) == {"running": 2, "pending": 1}


def test_a_run_that_ends_hands_its_slot_to_the_oldest_waiting_run(make_app):
    handed = []
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace("Cap Co")
        capped_workflow(ws.id, 1)
        ids = fire(ws.id, 3)
        [first] = claim_states(ids, "worker-a")
        app.config["ENGINE_HANDOFF"] = "queue"
        from engine.core import handoff
        app.extensions[handoff.EXTENSION_KEY] = type("Recorder", (), {
            "hand_over_next": lambda self, run_ids: handed.append(list(run_ids))})()
        run_claimed(first, "worker-a")
        assert handed == [[ids[1]]]  # one slot: the oldest waiting run, not the one behind it


def test_the_sweep_takes_waiting_runs_in_rounds_across_workspaces(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", WORKSPACE_MAX_RUNNING=2, SWEEP_PENDING_GRACE_SECONDS=0)
    with app.app_context():
        a, b = make_workspace("A Co"), make_workspace("B Co")
        make_workflow(a.id), make_workflow(b.id)
        a_ids = fire(a.id, 40)
        b_ids = fire(b.id, 3)
        time.sleep(0.01)
        due = due_execution_ids(utcnow())
        assert due == [a_ids[0], b_ids[0], a_ids[1], b_ids[1]]  # two each (the cap), oldest first, in turns
        claim_states(a_ids[:1], "worker-a")
        assert due_execution_ids(utcnow()) == [a_ids[1], b_ids[0], b_ids[1]]


def test_the_embedded_runner_never_runs_more_than_the_cap_at_once(make_app):
    """SQLite's embedded runner with 4 threads claiming one run at a time: a receiver counts the webhook calls
    in flight, and the database's running rows are sampled while it works."""
    lock, state = threading.Lock(), {"now": 0, "peak": 0, "calls": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state["now"] += 1
                state["calls"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(0.15)
            with lock:
                state["now"] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    with serving(Handler) as url:
        app = make_app(REDIS_URL=None, EMBEDDED_WORKERS=4, ENGINE_CLAIM_BATCH=1, WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
                       SWEEP_INTERVAL_SECONDS=1, SWEEP_PENDING_GRACE_SECONDS=0)
        with app.app_context():
            ws = make_workspace("Cap Co")
            capped_workflow(ws.id, 2, actions=[{"type": "call_webhook", "config": {"url": f"{url}/hook"}}])
            embedded_runner(app)
            ids = fire(ws.id, 8)
            sampled_peak, deadline = 0, time.monotonic() + 60
            while statuses(ids).get("completed", 0) < len(ids) and time.monotonic() < deadline:
                running = statuses(ids).get("running", 0)
                sampled_peak = max(sampled_peak, running)
                time.sleep(0.02)
            assert statuses(ids) == {"completed": 8}
    assert state["calls"] == 8
    assert state["peak"] == 2, state  # the cap was reached, never passed
    assert sampled_peak <= 2


def test_a_claim_that_fills_a_cap_hands_its_slots_on_and_one_far_from_it_does_not(make_app):
    """caps.tight: runs claimed under a cap they fill (or half taken) hand their slot on when they end, so the
    waiting runs of that workspace follow without the sweep; under a cap far from reached an end costs nothing."""
    app = make_app(ENGINE_HANDOFF="sweep", WORKSPACE_MAX_RUNNING=2)
    with app.app_context():
        a, b = make_workspace("A Co"), make_workspace("B Co")
        make_workflow(a.id), make_workflow(b.id)
        a_ids, b_ids = fire(a.id, 2), fire(b.id, 2)
        # exactly the free slots were given (no run held back): the cap is filled all the same
        assert [state.capped for state in claim_states(a_ids, "worker-a")] == [True]
        assert [state.capped for state in claim_states(a_ids, "worker-b")] == [True]
        app.config["WORKSPACE_MAX_RUNNING"] = 1000
        assert [state.capped for state in claim_states(b_ids, "worker-a")] == [False, False]


def test_held_back_names_the_runs_a_full_cap_holds_back_and_no_others(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", WORKSPACE_MAX_RUNNING=2)
    with app.app_context():
        from engine.runtime.sweep import held_back
        a, b = make_workspace("A Co"), make_workspace("B Co")
        make_workflow(a.id), make_workflow(b.id)
        a_ids, b_ids = fire(a.id, 6), fire(b.id, 3)
        claim_states(a_ids, "worker-a")  # one of A's two slots
        assert held_back(a_ids + b_ids) == a_ids[2:] + b_ids[2:]  # A: one running, one fits; B: two fit
        claim_states(a_ids, "worker-b")
        assert held_back(a_ids + b_ids) == a_ids[2:] + b_ids[2:]  # the running ones are not waiting
        app.config["WORKSPACE_MAX_RUNNING"] = 0
        assert held_back(a_ids + b_ids) == []  # no cap in play


def test_a_sift_drops_held_back_ids_and_puts_the_rest_first_in_line(make_app, monkeypatch):
    """A batch all held back makes the crew sift the due list: a full workspace's ids behind it are dropped (they
    stay pending for a freed slot or the sweep), another workspace's come first in line, in their order."""
    from engine.runtime import crew
    app = make_app(ENGINE_HANDOFF="sweep", WORKSPACE_MAX_RUNNING=2)
    with app.app_context():
        a, b = make_workspace("A Co"), make_workspace("B Co")
        make_workflow(a.id), make_workflow(b.id)
        a_ids, b_ids = fire(a.id, 5), fire(b.id, 2)
        claim_states(a_ids, "worker-a"), claim_states(a_ids, "worker-b")  # A is full
        due_list = a_ids[2:] + b_ids + [999999]  # an id of no run (finished and pruned) is not dropped by the sift
        pushed = []
        monkeypatch.setattr(crew, "take_due_ids", lambda app_, slot, count: [due_list.pop(0) for _ in range(
            min(count, len(due_list)))])
        monkeypatch.setattr(crew, "push_back", lambda app_, ids: pushed.append(list(ids)))
        crew.sift(app)
        assert pushed == [b_ids + [999999]]
        assert statuses(a_ids) == {"running": 2, "pending": 3}  # dropped from the list, not from the database

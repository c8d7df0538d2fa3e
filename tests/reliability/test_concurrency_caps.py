"""Concurrency caps and fairness (issue #22) with 4 real `flask automations worker` processes on PostgreSQL:

- a workflow's max_concurrent_runs holds across processes: the running rows (sampled) and the webhook calls in
  flight (counted by the receiver) never pass the cap, the cap is reached, and every run completes;
- WORKSPACE_MAX_RUNNING: workspace B's 10 runs, handed over after workspace A's 5,000, finish within 5 s.

Run with `pytest -s tests/reliability/test_concurrency_caps.py` to see the figures (RELIABILITY lines).
"""
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy import func, select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.handoff import enqueue_executions
from models import WorkflowExecution, db
from tests.factories import make_workflow, make_workspace
from tests.reliability.conftest import TRIGGER, record, wait_for_heartbeats, wait_until, worker_env
from tests.support.http_server import serving

pytestmark = pytest.mark.slow


def fire(ws_id: int, n: int) -> list[int]:
    """n runs in one commit (a burst)."""
    ids = []
    payload = sample_payload(TRIGGER)
    for _ in range(n):
        ids += fire_workflow_event(ws_id, TRIGGER, payload)
    db.session.commit()
    return ids


def statuses(ids) -> dict:
    db.session.commit()
    return dict(db.session.execute(select(WorkflowExecution.status, func.count())
                                   .where(WorkflowExecution.id.in_(ids)).group_by(WorkflowExecution.status)).all())


def running_of_workflow(workflow_id: int) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(
        WorkflowExecution.workflow_id == workflow_id, WorkflowExecution.status == "running"))


class InFlight:
    """A loopback receiver that answers after `delay` seconds and counts the requests in flight."""

    def __init__(self, delay: float):
        self.delay, self.lock, self.now, self.peak, self.calls = delay, threading.Lock(), 0, 0, 0

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.now += 1
                    receiver.calls += 1
                    receiver.peak = max(receiver.peak, receiver.now)
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.now -= 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        return Handler


def test_four_workers_never_run_more_than_the_workflow_cap(make_app, database_url, pg_and_redis, worker_pool):
    runs, cap = 60, 3
    receiver = InFlight(delay=0.1)
    with serving(receiver.handler()) as url:
        app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", ENGINE_HANDOFF="sweep")
        with app.app_context():
            ws = make_workspace("Cap Co")
            workflow = make_workflow(ws.id, trigger=TRIGGER,
                                     actions=[{"type": "call_webhook", "config": {"url": f"{url}/hook"}}])
            workflow.max_concurrent_runs = cap
            db.session.commit()
            workers = worker_pool(worker_env(database_url, pg_and_redis, ENGINE_CLAIM_BATCH=5))
            workers.start(4)
            ids = fire(ws.id, runs)
            app.config["ENGINE_HANDOFF"] = "queue"
            began = time.monotonic()
            enqueue_executions(app, ids)
            samples, sampled_peak = 0, 0
            deadline = time.monotonic() + 120
            while statuses(ids).get("completed", 0) < runs and time.monotonic() < deadline:
                sampled_peak = max(sampled_peak, running_of_workflow(workflow.id))
                samples += 1
                time.sleep(0.01)
            elapsed = time.monotonic() - began
            assert statuses(ids) == {"completed": runs}
    record("workflow_cap", runs=runs, cap=cap, workers=4, samples=samples, sampled_running_peak=sampled_peak,
           in_flight_peak=receiver.peak, seconds=round(elapsed, 1))
    assert receiver.calls == runs
    assert receiver.peak == cap  # the cap was reached and never passed, across 4 processes
    assert sampled_peak <= cap


def test_a_workspace_burst_does_not_starve_another_workspace(make_app, database_url, pg_and_redis, worker_pool):
    """Workspace A's 5,000 runs are handed over first, then B's 10: with WORKSPACE_MAX_RUNNING=2, B's runs are
    done within 5 s while thousands of A's still wait."""
    a_runs, b_runs, workspace_max = 5000, 10, 2
    receiver = InFlight(delay=0.2)
    with serving(receiver.handler()) as url:
        app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", ENGINE_HANDOFF="sweep",
                       WORKSPACE_MAX_RUNNING=workspace_max)
        with app.app_context():
            a, b = make_workspace("Burst Co"), make_workspace("Quiet Co")
            slow = [{"type": "call_webhook", "config": {"url": f"{url}/hook"}}]
            make_workflow(a.id, trigger=TRIGGER, actions=slow)
            make_workflow(b.id, trigger=TRIGGER, actions=slow)
            a_ids = fire(a.id, a_runs)
            b_ids = fire(b.id, b_runs)
            workers = worker_pool(worker_env(database_url, pg_and_redis, WORKSPACE_MAX_RUNNING=workspace_max))
            workers.start(4)
            wait_for_heartbeats(pg_and_redis, 4)  # the workers are up (their start is not what is measured)
            app.config["ENGINE_HANDOFF"] = "queue"
            enqueue_executions(app, a_ids)
            began = time.monotonic()
            enqueue_executions(app, b_ids)
            wait_until(lambda: statuses(b_ids) == {"completed": b_runs}, timeout=60, interval=0.05,
                       message="workspace B's runs")
            b_seconds = time.monotonic() - began
            a_waiting = statuses(a_ids).get("pending", 0)
    record("fairness", a_queued=a_runs, b_runs=b_runs, workspace_max_running=workspace_max, workers=4,
           b_done_seconds=round(b_seconds, 2), a_still_pending=a_waiting)
    assert b_seconds < 5.0
    assert a_waiting > 4000  # A's burst was still there: B did not simply wait for it to end

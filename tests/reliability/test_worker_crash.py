"""Worker crash: N runs of a 5-step workflow (a ticket, an audit event, a deal, a signed webhook to a
loopback receiver, an audit event) while worker processes are SIGKILLed at random moments and replaced.

Every run finishes after its lease (EXECUTION_LEASE_SECONDS=2) expires; no record is duplicated; a
redelivered webhook carries the same X-Workestra-Webhook-Id. Sizes: ci 20 runs, full 200.
"""
import random
import time

import pytest
from sqlalchemy import func, select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from models import Workspace, WorkflowExecution, db
from tests.factories import make_workflow
from tests.reliability.conftest import TRIGGER, five_step_workflow, record, verify_five_step_runs, worker_env
from tests.reliability.scale import size


@pytest.mark.slow
def test_sigkilled_workers_lose_no_run_and_duplicate_nothing(make_app, database_url, pg_and_redis, worker_pool,
                                                            slow_receiver):
    runs = size("crash_runs")
    rng = random.Random(int(time.time()))
    slow_receiver.delay = 0.6  # runner threads finish runs fast: a slower step keeps kills landing mid-run
    app = make_app(REDIS_URL=pg_and_redis, EXECUTION_LEASE_SECONDS=2, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        ws = Workspace(name="Crash Co")
        db.session.add(ws)
        db.session.commit()
        make_workflow(ws.id, trigger=TRIGGER, actions=five_step_workflow(slow_receiver.url))
        # A worker dies every second or so here, each holding a claimed batch: far more takeovers than the cap
        # (EXECUTION_MAX_TAKEOVERS, tests/reliability/test_scale_path.py) allows a real run.
        workers = worker_pool(worker_env(database_url, pg_and_redis, EXECUTION_MAX_TAKEOVERS=1000))
        workers.start(2)
        ids: list[int] = []
        started = time.monotonic()
        next_kill = time.monotonic() + rng.uniform(0.5, 1.5)
        deadline = time.monotonic() + 120 + runs * 1.5

        def unfinished() -> int:
            db.session.commit()
            return db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(
                WorkflowExecution.workspace_id == ws.id, WorkflowExecution.status != "completed"))

        def states() -> list:
            return db.session.execute(select(WorkflowExecution.status, WorkflowExecution.takeover_count,
                                             WorkflowExecution.error).where(
                WorkflowExecution.workspace_id == ws.id, WorkflowExecution.status != "completed")).all()

        while len(ids) < runs or unfinished():
            assert time.monotonic() < deadline, f"{unfinished()} of {runs} runs never finished: {states()}"
            if len(ids) < runs:  # events keep arriving while workers die
                payload = sample_payload(TRIGGER)
                payload["contact"]["name"] = f"run {len(ids)}"
                ids += fire_workflow_event(ws.id, TRIGGER, payload)
                db.session.commit()
            if time.monotonic() >= next_kill and (len(ids) < runs or unfinished()):
                workers.kill_one(rng)  # SIGKILL at a random moment: mid-step, mid-commit, mid-webhook...
                workers.start(1)
                next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
            time.sleep(rng.uniform(0.05, 0.3))
        elapsed = time.monotonic() - started
        figures = verify_five_step_runs(ws.id, ids, slow_receiver)
        record("worker_crash", kills=workers.killed, seconds=round(elapsed, 1), **figures)
        assert workers.killed >= 2
        assert figures["runs_taken_over"] >= 1, "no kill landed mid-run: the test proved nothing"
        db.session.remove()

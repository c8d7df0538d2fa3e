"""Database blip: the workers' PostgreSQL connections are terminated again and again mid-run
(pg_terminate_backend). No step is marked done without its effect (and no effect happens twice); every
run resumes and completes. Sizes: ci 10 runs, full 50.

Only the worker processes' backends are terminated (they connect with application_name=reliability-worker),
so CI's background worker and the test's own session are left alone.
"""
import random
import time

import pytest
import redis
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.handoff import WORKER_HEARTBEATS_KEY
from models import Workspace, WorkflowExecution, db
from tests.factories import make_workflow
from tests.reliability.conftest import (TRIGGER, five_step_workflow, record, verify_five_step_runs, wait_until,
                                        worker_env)
from tests.reliability.scale import size

APPLICATION_NAME = "reliability-worker"
TERMINATE = text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = :name")


@pytest.mark.slow
def test_dropped_database_connections_mid_run_lose_no_step_and_runs_resume(make_app, database_url, pg_and_redis,
                                                                          worker_pool, slow_receiver):
    runs = size("blip_runs")
    rng = random.Random(int(time.time()))
    slow_receiver.delay = 0.6  # runs long enough to be under way while the blips come (runner threads run them at once)
    app = make_app(REDIS_URL=pg_and_redis, EXECUTION_LEASE_SECONDS=2, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        ws = Workspace(name="Blip Co")
        db.session.add(ws)
        db.session.commit()
        make_workflow(ws.id, trigger=TRIGGER, actions=five_step_workflow(slow_receiver.url))
        separator = "&" if "?" in database_url else "?"
        workers = worker_pool(worker_env(f"{database_url}{separator}application_name={APPLICATION_NAME}", pg_and_redis))
        workers.start(2)
        heartbeats = redis.Redis.from_url(pg_and_redis)
        wait_until(lambda: heartbeats.hlen(WORKER_HEARTBEATS_KEY) >= 2, timeout=60, message="the workers' heartbeats")
        time.sleep(0.5)  # let them connect
        ids = []
        for n in range(runs):
            payload = sample_payload(TRIGGER)
            payload["contact"]["name"] = f"blip {n}"
            ids += fire_workflow_event(ws.id, TRIGGER, payload)
        db.session.commit()

        blips, terminated = 0, 0
        deadline = time.monotonic() + 120 + runs * 3
        started = time.monotonic()

        def unfinished() -> int:
            try:
                db.session.commit()
                return db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(
                    WorkflowExecution.id.in_(ids), WorkflowExecution.status != "completed"))
            except OperationalError:
                db.session.rollback()
                return -1

        blip_until = time.monotonic() + max(4.0, runs * 0.6)  # blips while the runs are going, then let them finish
        while unfinished():
            assert time.monotonic() < deadline, f"{unfinished()} of {runs} runs never finished"
            if time.monotonic() < blip_until:
                terminated += db.session.scalar(TERMINATE, {"name": APPLICATION_NAME}) or 0
                db.session.commit()
                blips += 1
                time.sleep(rng.uniform(0.2, 0.8))
            else:
                time.sleep(0.3)
        elapsed = time.monotonic() - started
        figures = verify_five_step_runs(ws.id, ids, slow_receiver)
        record("database_blip", blips=blips, backends_terminated=terminated, seconds=round(elapsed, 1), **figures)
        assert terminated >= 2, "no worker connection was ever dropped: the test proved nothing"
        db.session.remove()


def test_a_lost_database_connection_inside_a_step_is_not_recorded_as_the_step_failing(make_app, monkeypatch):
    """Runs on both databases: an executor whose connection is invalidated (the server went away) leaves the
    step unrecorded and the run claimed; when the lease expires the sweep runs the step again and it completes."""
    from datetime import timedelta

    from sqlalchemy.exc import OperationalError

    from engine.executors import EXECUTORS, load_executors
    from engine.runtime.runner import run_execution
    from engine.runtime.sweep import sweep_pending_executions
    from models.base import utcnow

    real = load_executors()["log_event"]
    blips = [1]

    def log_event_on_a_dying_connection(step):
        if blips:
            blips.pop()
            raise OperationalError("INSERT ...", {}, Exception("terminating connection due to administrator command"),
                                   connection_invalidated=True)
        return real(step)

    monkeypatch.setitem(EXECUTORS, "log_event", log_event_on_a_dying_connection)
    app = make_app(ENGINE_HANDOFF="sweep", EXECUTION_LEASE_SECONDS=2)
    with app.app_context():
        ws = Workspace(name="Blip Unit Co")
        db.session.add(ws)
        db.session.commit()
        make_workflow(ws.id, actions=[{"type": "log_event", "config": {"event": "blip", "message": "x"}}])
        [execution_id] = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
        db.session.commit()
        with pytest.raises(OperationalError):
            run_execution(execution_id)
        db.session.rollback()
        execution = db.session.get(WorkflowExecution, execution_id)
        db.session.refresh(execution)
        assert execution.status == "running" and execution.completed_actions == []  # nothing marked failed
        sweep_pending_executions(now=utcnow() + timedelta(seconds=10))
        db.session.refresh(execution)
        assert execution.status == "completed"
        assert [(r["status"], r["attempts"]) for r in execution.completed_actions] == [("completed", 1)]
        db.session.remove()

"""Queues: runs start right after the commit (in-process or RQ), survive a dead worker and a dead Redis."""
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.sweep import sweep_pending_executions
from models import AuditEvent, db
from models.base import utcnow
from services import audit_service
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution, log_step, wait_for_status
from tests.support.slow_worker import PROGRESS_KEY

KILL_TEST_REDIS = os.environ.get("KILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _steps_done(execution_id, event):
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.execution_id == execution_id, AuditEvent.event == event)
    )


def test_an_event_runs_to_completion_through_the_configured_queue(app):
    """SQLite run: the in-process runner. PostgreSQL run: the real `rq worker` that .ci/run started."""
    ws = make_workspace("Queue Co")
    make_workflow(ws.id, actions=[log_step("one"), log_step("two")])
    audit_service.record_event(ws.id, "deal.created", "business change")
    [execution_id] = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    execution = wait_for_status(execution_id)
    assert execution.status == "completed"
    assert [s["status"] for s in execution.completed_actions] == ["completed", "completed"]


def test_a_short_wait_is_resumed_by_the_queue_without_a_sweep(app):
    ws = make_workspace("Queue Co")
    make_workflow(ws.id, actions=[log_step("before"), {"type": "wait_delay", "config": {"seconds": 1}}, log_step("after")])
    [execution_id] = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    wait_for_status(execution_id, ("paused",), timeout=20)
    execution = wait_for_status(execution_id, timeout=30)
    assert execution.status == "completed" and _steps_done(execution_id, "after") == 1


def test_redis_down_the_change_commits_and_the_sweep_finishes_the_run(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    with app.app_context():
        ws = make_workspace("Queue Co")
        make_workflow(ws.id)
        audit_service.record_event(ws.id, "deal.created", "business change")
        [execution_id] = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
        db.session.commit()  # the queue hand-off fails after this commit: logged, nothing lost
        assert load_execution(execution_id).status == "pending"
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "deal.created")) == 1
        counts = sweep_pending_executions(now=utcnow() + timedelta(seconds=30))
        assert counts["completed"] == 1
        assert load_execution(execution_id).status == "completed"
        db.session.remove()


def _redis_available(url):
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except redis.RedisError:
        return False


@pytest.mark.slow
def test_killing_a_real_rq_worker_mid_run_loses_nothing_and_duplicates_nothing(make_app, database_url):
    if not _redis_available(KILL_TEST_REDIS):
        pytest.fail(f"Redis is needed at {KILL_TEST_REDIS} for this test")
    redis.Redis.from_url(KILL_TEST_REDIS).flushdb()
    app = make_app(REDIS_URL=KILL_TEST_REDIS, EXECUTION_LEASE_SECONDS=2)
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=KILL_TEST_REDIS, EXECUTION_LEASE_SECONDS="2",
               SWEEP_INTERVAL_SECONDS="0", AUTOMATIONS_ENABLED="true", SLOW_STEP_SECONDS="0.3", APP_ENV="development")
    with app.app_context():
        ws = make_workspace("Crash Co")
        events = [f"step{n}" for n in range(5)]
        make_workflow(ws.id, actions=[log_step(event) for event in events])
        ids = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
        ids += fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
        db.session.commit()

        worker = subprocess.Popen([sys.executable, "-m", "tests.support.slow_worker"], cwd=PROJECT_ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        progress = redis.Redis.from_url(KILL_TEST_REDIS)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = (progress.get(PROGRESS_KEY) or b"0:0").decode().split(":")
                if int(done[0]) == ids[0] and int(done[1]) >= 2:  # three steps ran, still uncommitted
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the worker never got mid-way through the first run")
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)

        db.session.commit()
        crashed = load_execution(ids[0])
        assert crashed.status == "running" and crashed.current_step < 5
        assert _steps_done(ids[0], events[0]) == 0  # the steps of the killed transaction left nothing behind
        counts = sweep_pending_executions(now=utcnow() + timedelta(seconds=10))
        assert counts["claimed"] >= 1
        for execution_id in ids:
            execution = load_execution(execution_id)
            assert execution.status == "completed"
            assert [s["index"] for s in execution.completed_actions] == [0, 1, 2, 3, 4]
            for event in events:
                assert _steps_done(execution_id, event) == 1
        assert load_execution(ids[0]).claim_count == 2
        db.session.remove()

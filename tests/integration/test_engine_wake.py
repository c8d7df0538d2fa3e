"""RQ as a wake-up (issue #11): many events queue a few wake jobs; one woken worker claims and runs them in batches."""
import os
import threading

import pytest
import redis
from rq import SimpleWorker

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.core.redis_client import redis_connection
from engine.runtime.handoff import DUE_LIST_KEY, RQ_QUEUE_NAME, drain_hand_offs, rq_queue
from engine.runtime.runner import claim_batch, claim_execution
from models import db
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution, log_step

WAKE_TEST_REDIS = os.environ.get("WAKE_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")


@pytest.fixture
def wake_app(make_app):
    try:
        redis.Redis.from_url(WAKE_TEST_REDIS, socket_connect_timeout=1).flushdb()
    except redis.RedisError:
        pytest.fail(f"Redis is needed at {WAKE_TEST_REDIS} for this test")
    app = make_app(REDIS_URL=WAKE_TEST_REDIS, RQ_WAKE_SLOTS=2, ENGINE_CLAIM_BATCH=4)
    with app.app_context():
        yield app
        db.session.remove()


def _fire(ws_id, times):
    ids = []
    for _ in range(times):
        ids += fire_workflow_event(ws_id, "deal_created", sample_payload("deal_created"))
        db.session.commit()
    return ids


def test_ten_events_queue_two_wake_jobs_and_one_worker_runs_all_of_them(wake_app):
    ws = make_workspace("Wake Co")
    make_workflow(ws.id, actions=[log_step("one"), log_step("two")])
    ids = _fire(ws.id, 10)
    assert drain_hand_offs(wake_app)  # the ids go to Redis from a background thread
    assert rq_queue(wake_app).count == 2  # one wake job per slot, not one job per execution
    assert redis_connection(wake_app).llen(DUE_LIST_KEY) == 10

    SimpleWorker([RQ_QUEUE_NAME], connection=redis_connection(wake_app)).work(burst=True)

    for execution_id in ids:
        execution = load_execution(execution_id)
        assert execution.status == "completed", execution_id
        assert [s["index"] for s in execution.completed_actions] == [0, 1]
        assert execution.claim_count == 1
    assert redis_connection(wake_app).llen(DUE_LIST_KEY) == 0


def test_a_batch_claim_skips_rows_already_taken_and_never_claims_twice(wake_app):
    ws = make_workspace("Claim Co")
    make_workflow(ws.id)
    wake_app.config["ENGINE_HANDOFF"] = "sweep"
    ids = _fire(ws.id, 3)
    assert claim_execution(ids[1], "other-worker")
    assert claim_batch(ids, "me") == [ids[0], ids[2]]
    assert claim_batch(ids, "someone-else") == []
    assert load_execution(ids[1]).lease_owner == "other-worker"
    assert load_execution(ids[0]).lease_owner == "me" and load_execution(ids[0]).status == "running"


@pytest.mark.parametrize("runs_out", ["before the first hand-over", "right after a blocking pop"])
def test_ids_a_wake_job_pops_as_its_budget_runs_out_go_back_first_in_line(wake_app, monkeypatch, runs_out):
    """A wake job whose budget runs out between popping ids and handing them to its runner threads gives them back,
    first in line. Before, they were dropped and their runs waited for the sweep: B6E saw runs wait 19-47 s when
    they arrived as a wake job's budget ended (bench/RESULTS.md)."""
    from engine.runtime import jobs
    from engine.runtime.budget import WorkBudget

    ws = make_workspace("Budget Co")
    make_workflow(ws.id, actions=[log_step("one")])
    ids = _fire(ws.id, 3)
    assert drain_hand_offs(wake_app)
    connection = redis_connection(wake_app)
    spent = threading.Event()

    class Budget(WorkBudget):
        def spent(self):
            return spent.is_set()

    monkeypatch.setattr(jobs, "_budget", lambda app: Budget(60))
    if runs_out == "before the first hand-over":
        spent.set()
    else:  # the ids arrive while the job listens; its budget runs out as the pop returns them
        arriving = connection.lrange(DUE_LIST_KEY, 0, -1)
        connection.delete(DUE_LIST_KEY)
        real_wait = jobs.wait_for_due_ids

        def wait_then_run_out(app, count, timeout):
            connection.rpush(DUE_LIST_KEY, *arriving)
            popped = real_wait(app, count, timeout)
            spent.set()
            return popped

        monkeypatch.setattr(jobs, "wait_for_due_ids", wait_then_run_out)

    assert jobs.wake_job()["handed_back"] == 3
    assert sorted(int(raw) for raw in connection.lrange(DUE_LIST_KEY, 0, -1)) == sorted(ids)
    assert {load_execution(execution_id).status for execution_id in ids} == {"pending"}

"""The scale path (issue #17) on PostgreSQL + Redis with real `flask automations worker` processes:

- RQ's job timeout goes through the runner untouched: never recorded as the step's failure;
- SIGTERM mid-batch: the worker finishes its step, hands the rest back and exits; nothing lost or repeated;
- a trickling receiver fails its step at the deadline while another workspace's run goes through, with two
  workers and with ONE worker process (its other runner threads take the run);
- the lease heartbeat: a step longer than the lease is not taken over while its worker lives, and is
  taken over once that worker is SIGKILLed;
- fan-out: 4 workers all work a burst, even with RQ_WAKE_SLOTS=1 (the slots follow the live heartbeats);
- after an outage, the sweep hands the due runs to every worker instead of running them itself.
"""
import json
import os
import signal
import time
from http.server import BaseHTTPRequestHandler

import pytest
import redis
from sqlalchemy import func, select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.handoff import WORKER_RUNS_KEY, enqueue_executions
from models import AuditEvent, WorkflowExecution, db
from tests.factories import make_workflow, make_workspace
from tests.reliability.conftest import TRIGGER, record, wait_for_heartbeats, wait_until, worker_env
from tests.support.http_server import serving

pytestmark = pytest.mark.slow


def fire(ws_id: int, n: int = 1, one_commit: bool = False) -> list[int]:
    """n runs, committed one by one (events arriving), or all in one commit (one hand-off: a burst)."""
    ids = []
    for i in range(n):
        payload = sample_payload(TRIGGER)
        payload["contact"]["name"] = f"run {i}"
        ids += fire_workflow_event(ws_id, TRIGGER, payload)
        if not one_commit:
            db.session.commit()
    db.session.commit()
    return ids


def load(execution_id: int) -> WorkflowExecution:
    db.session.commit()
    db.session.expire_all()
    return db.session.get(WorkflowExecution, execution_id)


def statuses(ids) -> dict:
    db.session.commit()
    return dict(db.session.execute(select(WorkflowExecution.status, func.count())
                                   .where(WorkflowExecution.id.in_(ids)).group_by(WorkflowExecution.status)).all())


def all_finished(ids) -> bool:
    counts = statuses(ids)
    return sum(counts.get(s, 0) for s in ("completed", "failed")) == len(ids)


def process_of(pool, lease_owner: str):
    pid = int(lease_owner.split(":")[1])
    return next(p for p in pool.processes if p.pid == pid)


def test_rq_job_timeout_is_never_recorded_as_the_step_failure(make_app, database_url, pg_and_redis, worker_pool,
                                                              slow_receiver):
    """RQ stops the job (3 s) while the webhook waits for a 6 s receiver: no failed step, no retry scheduled;
    the run is taken over after its lease, and past the takeover cap it fails with that reason."""
    slow_receiver.delay = 6
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace("Timeout Co")
        make_workflow(ws.id, trigger=TRIGGER, error_strategy="retry",
                      actions=[{"type": "call_webhook", "config": {"url": slow_receiver.url}}])
        workers = worker_pool(worker_env(database_url, pg_and_redis, RQ_JOB_TIMEOUT_SECONDS=3,
                                         OUTGOING_HTTP_DEADLINE_SECONDS=30, EXECUTION_MAX_TAKEOVERS=1))
        workers.start(1)
        (run_id,) = fire(ws.id)
        wait_until(lambda: all_finished([run_id]), timeout=90, message="the run to end")
        run = load(run_id)
        assert run.status == "failed"
        assert "stopped answering" in run.error and "EXECUTION_MAX_TAKEOVERS" in run.error, run.error
        assert run.completed_actions == [], run.completed_actions  # no step recorded as failed, no retry
        assert run.takeover_count == 2 and run.step_attempts == 0
        wait_until(lambda: len(slow_receiver.requests) >= 2, timeout=10, message="the receiver's requests")
        ids = {r["headers"]["x-workestra-webhook-id"] for r in slow_receiver.requests}
        assert ids == {f"exec-{run_id}-step-0"}  # every redelivery carries the same id
        record("job_timeout", deliveries=len(slow_receiver.requests), takeovers=run.takeover_count)


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_sigterm_mid_batch_finishes_the_step_and_hands_the_rest_back(make_app, database_url, pg_and_redis,
                                                                     worker_pool, slow_receiver, worker_class):
    runs = 12
    slow_receiver.delay = 0.5
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        ws = make_workspace("Sigterm Co")
        make_workflow(ws.id, trigger=TRIGGER, actions=[
            {"type": "log_event", "config": {"event": "sigterm_one", "message": "{{ trigger.contact.name }}"}},
            {"type": "call_webhook", "config": {"url": slow_receiver.url}},
            {"type": "log_event", "config": {"event": "sigterm_three", "message": "{{ trigger.contact.name }}"}},
        ])
        env = worker_env(database_url, pg_and_redis, ENGINE_CLAIM_BATCH=runs, SWEEP_INTERVAL_SECONDS=0)
        workers = worker_pool(env)
        workers.worker_args = ["--worker-class", worker_class]
        workers.start(1)
        wait_for_heartbeats(pg_and_redis, 1)
        ids = fire(ws.id, runs)
        wait_until(lambda: len(slow_receiver.requests) >= 2, timeout=30, message="the first deliveries")
        first = workers.processes[0]
        stopped_at = time.monotonic()
        os.kill(first.pid, signal.SIGTERM)  # warm shutdown, as a deploy does
        first.wait(timeout=30)
        stop_seconds = time.monotonic() - stopped_at
        done_by_first = statuses(ids).get("completed", 0)
        assert done_by_first < runs, "the first worker finished everything: SIGTERM came too late to prove anything"
        assert stop_seconds < 5, f"the worker took {stop_seconds:.1f} s to stop (it should finish one step)"
        workers.start(1)
        wait_until(lambda: all_finished(ids), timeout=120, message="every run to finish on the second worker")
        assert statuses(ids) == {"completed": runs}
        for event in ("sigterm_one", "sigterm_three"):
            per_run = dict(db.session.execute(select(AuditEvent.execution_id, func.count()).where(
                AuditEvent.execution_id.in_(ids), AuditEvent.event == event).group_by(AuditEvent.execution_id)).all())
            assert per_run == {i: 1 for i in ids}, (event, per_run)
        deliveries = [r["headers"]["x-workestra-webhook-id"] for r in slow_receiver.requests]
        assert sorted(deliveries) == sorted(f"exec-{i}-step-1" for i in ids)  # one delivery per run: none repeated
        takeovers = db.session.scalar(select(func.sum(WorkflowExecution.takeover_count)).where(WorkflowExecution.id.in_(ids)))
        assert takeovers == 0  # handed back, not abandoned: nobody had to wait for a lease to expire
        record("sigterm", worker_class=worker_class, runs=runs, done_before_stop=done_by_first, stop_seconds=round(stop_seconds, 2))


class Trickle(BaseHTTPRequestHandler):
    """One header byte every 2 s, for a minute."""
    count = 0

    def do_POST(self):
        type(self).count += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(30):
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(2)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("processes", [2, 1])
def test_a_trickling_receiver_fails_its_step_at_the_deadline_and_holds_no_one_else(
        make_app, database_url, pg_and_redis, worker_pool, processes):
    Trickle.count = 0
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context(), serving(Trickle) as url:
        slow_ws = make_workspace("Trickle Co")
        make_workflow(slow_ws.id, trigger=TRIGGER, error_strategy="stop",
                      actions=[{"type": "call_webhook", "config": {"url": f"{url}/hook"}}])
        other_ws = make_workspace("Other Co")
        make_workflow(other_ws.id, trigger=TRIGGER, actions=[{"type": "log_event", "config": {"event": "other", "message": "x"}}])
        workers = worker_pool(worker_env(database_url, pg_and_redis, OUTGOING_HTTP_DEADLINE_SECONDS=4,
                                         LOG_FORMAT="json"))
        workers.start(processes)
        wait_for_heartbeats(pg_and_redis, processes)
        (slow_id,) = fire(slow_ws.id)
        wait_until(lambda: Trickle.count >= 1, timeout=20, message="the trickling call")
        started = time.monotonic()
        (other_id,) = fire(other_ws.id)
        wait_until(lambda: all_finished([other_id]), timeout=5, interval=0.1,
                   message="the other workspace's run (within 5 s)")
        other_seconds = time.monotonic() - started
        wait_until(lambda: all_finished([slow_id]), timeout=20, message="the trickling run to fail")
        run = load(slow_id)
        assert run.status == "failed"
        (step,) = run.completed_actions
        assert step["status"] == "failed" and "the receiver took longer than 4 s" in step["error"], step
        assert step["duration_ms"] < 7000, step["duration_ms"]
        assert (run.claim_count, run.takeover_count, Trickle.count) == (1, 0, 1)
        # The workers log JSON lines that carry the run's ids (LOG_FORMAT=json, configured like the web app).
        lines = []
        for name in os.listdir(workers.log_dir):
            with open(os.path.join(workers.log_dir, name), encoding="utf-8", errors="replace") as handle:
                lines += [json.loads(line) for line in handle if line.startswith("{")]
        assert any(line.get("run_id") == slow_id and line.get("workspace_id") == slow_ws.id for line in lines), lines[-20:]
        if processes == 1:  # the one process ran both: the other run on another runner thread, not after the slow one
            assert run.lease_owner is None and load(other_id).finished_at < run.finished_at
        record("trickle", processes=processes, step_ms=step["duration_ms"], other_run_seconds=round(other_seconds, 2))


def test_the_lease_heartbeat_keeps_a_long_step_and_a_killed_worker_loses_it(make_app, database_url, pg_and_redis,
                                                                            worker_pool, slow_receiver):
    slow_receiver.delay = 6  # three times the lease
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        ws = make_workspace("Lease Co")
        make_workflow(ws.id, trigger=TRIGGER, actions=[{"type": "call_webhook", "config": {"url": slow_receiver.url}}])
        workers = worker_pool(worker_env(database_url, pg_and_redis, EXECUTION_LEASE_SECONDS=2))
        workers.start(2)  # both sweep every second: the idle one would take an expired lease over at once
        wait_for_heartbeats(pg_and_redis, 2)

        (alive_id,) = fire(ws.id)
        wait_until(lambda: all_finished([alive_id]), timeout=40, message="the long step to finish")
        run = load(alive_id)
        assert run.status == "completed"
        assert (run.claim_count, run.takeover_count) == (1, 0)
        assert len(slow_receiver.requests) == 1

        (killed_id,) = fire(ws.id)
        wait_until(lambda: load(killed_id).status == "running", timeout=20, message="the second run to start")
        time.sleep(1)  # the webhook is under way
        owner = load(killed_id).lease_owner
        victim = process_of(workers, owner)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        wait_until(lambda: all_finished([killed_id]), timeout=40, message="the other worker to take the run over")
        run = load(killed_id)
        assert run.status == "completed"
        assert run.takeover_count == 1 and run.claim_count == 2
        assert time.monotonic() - killed_at < 20
        record("lease_heartbeat", long_step_seconds=slow_receiver.delay, takeover_after_kill=1)


def test_claimed_runs_waiting_in_a_batch_keep_their_leases(make_app, database_url, pg_and_redis, worker_pool,
                                                           slow_receiver):
    """A worker claims 3 runs in one statement and runs them one after another (3 × 2.5 s, lease 2 s): the
    ones waiting their turn are renewed too, so the other worker, sweeping every second, takes none over."""
    slow_receiver.delay = 2.5
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace("Batch Co")
        make_workflow(ws.id, trigger=TRIGGER, actions=[{"type": "call_webhook", "config": {"url": slow_receiver.url}}])
        ids = fire(ws.id, 3)
        env = worker_env(database_url, pg_and_redis, EXECUTION_LEASE_SECONDS=2, ENGINE_CLAIM_BATCH=3)
        workers = worker_pool(env)
        workers.start(1)
        wait_for_heartbeats(pg_and_redis, 1)
        app.config["ENGINE_HANDOFF"] = "queue"
        enqueue_executions(app, ids)  # one hand-off: the first worker claims the three at once
        wait_until(lambda: statuses(ids).get("running", 0) == 3, timeout=20, message="the batch to be claimed")
        workers.start(1)  # sweeps every second: it would take over any lease left to expire
        wait_until(lambda: all_finished(ids), timeout=60, message="the batch to finish")
        assert statuses(ids) == {"completed": 3}
        takeovers = db.session.scalar(select(func.sum(WorkflowExecution.takeover_count)).where(WorkflowExecution.id.in_(ids)))
        assert takeovers == 0
        assert len(slow_receiver.requests) == 3
        record("batch_leases", runs=3, step_seconds=slow_receiver.delay, lease_seconds=2, takeovers=takeovers)


def test_four_workers_all_work_a_burst_even_with_one_wake_slot(make_app, database_url, pg_and_redis, worker_pool,
                                                               slow_receiver):
    runs = 120
    slow_receiver.delay = 0.05
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", ENGINE_HANDOFF="sweep", RQ_WAKE_SLOTS=1)  # made first, handed over at once
    with app.app_context():
        ws = make_workspace("Burst Co")
        make_workflow(ws.id, trigger=TRIGGER, actions=[{"type": "call_webhook", "config": {"url": slow_receiver.url}}])
        workers = worker_pool(worker_env(database_url, pg_and_redis, RQ_WAKE_SLOTS=1, ENGINE_CLAIM_BATCH=5,
                                         SWEEP_INTERVAL_SECONDS=0))
        workers.start(4)
        wait_for_heartbeats(pg_and_redis, 4)
        health = app.test_client().get("/healthz")
        assert health.status_code == 200
        assert health.get_json()["workers"] == "ok" and health.get_json()["worker_heartbeat_age_seconds"] < 15
        ids = fire(ws.id, runs)
        app.config["ENGINE_HANDOFF"] = "queue"
        enqueue_executions(app, ids)  # one hand-off of the whole burst: with the old loop, one wake job ran it all
        wait_until(lambda: all_finished(ids), timeout=120, message="the burst")
        assert statuses(ids) == {"completed": runs}
        per_worker = {k.decode(): int(v) for k, v in redis.Redis.from_url(pg_and_redis).hgetall(WORKER_RUNS_KEY).items()}
        record("fan_out", runs=runs, per_worker=per_worker)
        assert len(per_worker) == 4 and all(count > 0 for count in per_worker.values()), per_worker
        assert sum(per_worker.values()) == runs


def test_after_an_outage_the_sweep_hands_the_backlog_to_every_worker(make_app, database_url, pg_and_redis,
                                                                     worker_pool, slow_receiver):
    runs = 60
    slow_receiver.delay = 0.1
    # ENGINE_HANDOFF=sweep: runs are created as an outage leaves them, pending with no hand-off.
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace("Outage Co")
        make_workflow(ws.id, trigger=TRIGGER, actions=[{"type": "call_webhook", "config": {"url": slow_receiver.url}}])
        ids = fire(ws.id, runs)
        assert statuses(ids) == {"pending": runs}
        workers = worker_pool(worker_env(database_url, pg_and_redis, ENGINE_CLAIM_BATCH=5, SWEEP_INTERVAL_SECONDS=1,
                                         SWEEP_PENDING_GRACE_SECONDS=0))
        started = time.monotonic()
        workers.start(4)  # Redis is back: the first periodic sweep finds the backlog
        wait_until(lambda: all_finished(ids), timeout=120, message="the backlog")
        elapsed = time.monotonic() - started
        assert statuses(ids) == {"completed": runs}
        per_worker = {k.decode(): int(v) for k, v in redis.Redis.from_url(pg_and_redis).hgetall(WORKER_RUNS_KEY).items()}
        record("sweep_recovery", runs=runs, seconds=round(elapsed, 1), per_worker=per_worker)
        assert len([c for c in per_worker.values() if c > 0]) >= 3, per_worker  # not one worker running it all
        assert sum(per_worker.values()) == runs


"""Reliability helpers: real `flask --app webapp automations worker` processes to start and SIGKILL,
the PostgreSQL + Redis guard, and the sizes (tests/reliability/scale.py, RELIABILITY_SCALE=ci|full).

Tests that start their own workers use their own Redis database (RELIABILITY_REDIS_URL, default
redis://127.0.0.1:6379/12), so CI's background worker (db 3) never takes their jobs.
"""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import redis

from engine.runtime.handoff import WORKER_HEARTBEATS_KEY

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELIABILITY_REDIS = os.environ.get("RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/12")


def redis_available(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except redis.RedisError:
        return False


@pytest.fixture
def pg_and_redis(database_url):
    """Skips unless the suite runs on PostgreSQL with Redis reachable; yields the Redis URL (flushed)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (the PostgreSQL run of .ci/run); the SQLite run covers the embedded mode")
    if not redis_available(RELIABILITY_REDIS):
        pytest.skip(f"needs Redis at {RELIABILITY_REDIS}")
    redis.Redis.from_url(RELIABILITY_REDIS).flushdb()
    yield RELIABILITY_REDIS
    redis.Redis.from_url(RELIABILITY_REDIS).flushdb()


def worker_env(database_url: str, redis_url: str, **overrides) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "APP_ENV": "development",
        "SECRET_KEY": "test-secret-key-0123456789", "AUTOMATIONS_ENABLED": "true",
        "WEBHOOK_SIGNING_SECRET": "test-webhook-secret", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "EXECUTION_LEASE_SECONDS": "2", "SWEEP_INTERVAL_SECONDS": "1", "SWEEP_PENDING_GRACE_SECONDS": "1",
        "RETRY_BASE_SECONDS": "1", "PYTHONUNBUFFERED": "1",
    })
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class WorkerPool:
    """Real worker processes (`flask --app webapp automations worker --with-scheduler`)."""

    def __init__(self, env: dict, log_dir: str):
        self.env = env
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.started = 0
        self.killed = 0
        self.worker_args: list[str] = []  # e.g. ["--worker-class", "fork"]

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            self.started += 1
            log = open(os.path.join(self.log_dir, f"worker-{self.started}.log"), "wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "webapp", "automations", "worker", "--with-scheduler",
                 "--name", f"reliability-{os.getpid()}-{self.started}", *self.worker_args],
                cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own process group: RQ's scheduler runs in a child process
            process.log = log
            self.processes.append(process)

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.processes if p.poll() is None]

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a random live worker (no clean shutdown: its leases are simply abandoned)."""
        alive = self.alive()
        if alive:
            victim = rng.choice(alive)
            _signal_group(victim, signal.SIGKILL)  # the machine dies: the scheduler child with it
            victim.wait(timeout=10)
            victim.log.close()
            self.killed += 1

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=5)
            _signal_group(process, signal.SIGKILL)  # a scheduler child its worker left behind
            if not process.log.closed:
                process.log.close()


def _signal_group(process: subprocess.Popen, signal_number: int) -> None:
    try:
        os.killpg(process.pid, signal_number)
    except ProcessLookupError:
        pass


@pytest.fixture
def worker_pool(tmp_path):
    """worker_pool(env) -> WorkerPool; every process it started is stopped at the end."""
    pools = []

    def factory(env):
        pool = WorkerPool(env, str(tmp_path))
        pools.append(pool)
        return pool

    yield factory
    for pool in pools:
        pool.stop()


def wait_until(predicate, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")


def wait_for_heartbeats(redis_url: str, count: int) -> None:
    """Until `count` workers beat (engine.runtime.handoff.WORKER_HEARTBEATS_KEY): they are up and listening."""
    connection = redis.Redis.from_url(redis_url)
    wait_until(lambda: connection.hlen(WORKER_HEARTBEATS_KEY) >= count, timeout=60, message=f"{count} worker heartbeats")


def record(name: str, **figures) -> None:
    """Print a result line (pytest -s shows it; tests/RELIABILITY.md quotes the full-size ones)."""
    print(f"\nRELIABILITY {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.fixture
def slow_receiver():
    """A loopback HTTP receiver that answers after `.delay` seconds and records every request's headers."""
    import threading
    from http.server import BaseHTTPRequestHandler

    from tests.support.http_server import serving

    state = type("SlowReceiver", (), {})()
    state.requests, state.delay, state.lock = [], 0.3, threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            time.sleep(state.delay)
            with state.lock:
                state.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            try:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the worker was SIGKILLed while waiting for the answer
                pass

        def log_message(self, *args):
            pass

    with serving(Handler) as url:
        state.url = f"{url}/hook"
        yield state


TRIGGER = "contact_created"  # not deal_created: the workflow's own Create Deal must not start it again


def five_step_workflow(url: str) -> list[dict]:
    """Record-creating steps, an audit step and a webhook to the loopback receiver (trigger: TRIGGER)."""
    return [
        {"type": "create_ticket", "config": {"subject": "Crash test {{ trigger.contact.name }}", "requester_email": "c@example.test"}},
        {"type": "log_event", "config": {"event": "crash_step_two", "message": "two"}},
        {"type": "create_deal", "config": {"title": "Crash deal {{ trigger.contact.name }}", "value": 10}},
        {"type": "call_webhook", "config": {"url": url}},
        {"type": "log_event", "config": {"event": "crash_step_five", "message": "five"}},
    ]


def verify_five_step_runs(ws_id: int, ids: list[int], receiver) -> dict:
    """Every run completed with 5 completed steps; each effect exactly once; every delivery of a run's
    webhook carries that run's one webhook id. Returns figures for the report."""
    from sqlalchemy import func, select

    from models import AuditEvent, Deal, Ticket, WorkflowExecution, db

    db.session.commit()
    executions = db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.id.in_(ids))).all()
    not_done = {e.id: e.status for e in executions if e.status != "completed"}
    assert not not_done, f"runs not completed: {not_done}"
    for execution in executions:
        assert [(r["index"], r["status"]) for r in execution.completed_actions] == [(i, "completed") for i in range(5)], (
            execution.id, execution.completed_actions)

    def per_execution(model, column, *where):
        return dict(db.session.execute(select(column, func.count()).where(column.in_(ids), *where).group_by(column)).all())

    tickets = per_execution(Ticket, Ticket.created_by_execution_id)
    deals = per_execution(Deal, Deal.created_by_execution_id)
    twos = per_execution(AuditEvent, AuditEvent.execution_id, AuditEvent.event == "crash_step_two")
    fives = per_execution(AuditEvent, AuditEvent.execution_id, AuditEvent.event == "crash_step_five")
    for name, counts in (("tickets", tickets), ("deals", deals), ("step-2 audit events", twos), ("step-5 audit events", fives)):
        duplicated = {k: v for k, v in counts.items() if v != 1}
        assert len(counts) == len(ids) and not duplicated, f"{name}: {len(counts)} of {len(ids)} runs, duplicated {duplicated}"

    deliveries: dict[str, int] = {}
    for request in receiver.requests:
        headers = request["headers"]
        assert headers["x-workestra-webhook-id"] == headers["webhook-id"]
        deliveries[headers["x-workestra-webhook-id"]] = deliveries.get(headers["x-workestra-webhook-id"], 0) + 1
    expected = {f"exec-{i}-step-3" for i in ids}
    assert set(deliveries) == expected, f"webhook ids: {len(set(deliveries))} distinct, {len(expected)} runs"
    claims = dict(db.session.execute(select(WorkflowExecution.claim_count, func.count())
                                     .where(WorkflowExecution.id.in_(ids)).group_by(WorkflowExecution.claim_count)).all())
    return {"runs": len(ids), "completed": len(executions), "duplicated_records": 0,
            "webhook_deliveries": sum(deliveries.values()), "redelivered_same_id": sum(deliveries.values()) - len(ids),
            "runs_taken_over": sum(n for c, n in claims.items() if c > 1), "claim_counts": claims}

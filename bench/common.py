"""What every benchmark shares: fresh databases, the app, the 3-step workflow, workers, figures.

Benchmarks run by hand (`python -m bench.run`), never in the test suite. Each one prints its
figures, the target and the ratio to a baseline measured in the same run.
"""
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import create_engine, event, text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_BASE = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("BENCH_PG_DB", "bench11")
PGBENCH_DB = os.environ.get("BENCH_PGBENCH_DB", "bench11pgb")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
SQLITE_PATH = os.environ.get("BENCH_SQLITE", "/tmp/workestra-bench.db")

THREE_STEPS = [
    {"type": "log_event", "config": {"event": "bench_step", "message": "{{ trigger.deal.title }}"}},
    {"type": "send_in_app_notification",
     "config": {"recipient": "record_owner", "title": "New deal {{ trigger.deal.title }}"}},
    {"type": "update_deal", "config": {"deal_id": "{{ trigger.deal.id }}", "changes": {"probability": 55}}},
]
# Six steps with one branch (issue #19): the bench's deals (value 100) take the Then path, so each run does
# 5 steps (the branch decides, 4 steps act) and records the Else step as skipped.
SIX_STEPS_BRANCH = [
    {"id": "seen", "type": "log_event", "config": {"event": "bench_step", "message": "{{ trigger.deal.title }}"}},
    {"id": "size", "type": "branch",
     "config": {"match": "any", "conditions": [{"field": "deal.value", "op": "lt", "value": 10000},
                                               {"field": "steps.seen.output.event", "op": "eq", "value": "vip"}]},
     "then": [{"id": "tell", "type": "send_in_app_notification",
               "config": {"recipient": "record_owner", "title": "New deal {{ trigger.deal.title }}"}},
              {"id": "touch", "type": "update_deal",
               "config": {"deal_id": "{{ trigger.deal.id }}", "changes": {"probability": 55}}}],
     "else": [{"id": "big", "type": "log_event", "config": {"event": "bench_big", "message": "{{ trigger.deal.title }}"}}]},
    {"id": "done", "type": "log_event", "config": {"event": "bench_done", "message": "path {{ steps.size.output.path }}"}},
]
WORKFLOWS = {"three": THREE_STEPS, "branch6": SIX_STEPS_BRANCH}
# BENCH_WORKFLOW=branch6 runs B1 (and profile_runner) with SIX_STEPS_BRANCH instead of the 3-step workflow.
WORKFLOW = os.environ.get("BENCH_WORKFLOW", "three")


def pg_url(database: str = PG_DB) -> str:
    return f"{PG_BASE}/{database}"


def sqlite_url(path: str = SQLITE_PATH) -> str:
    return f"sqlite:///{path}"


# -- databases ----------------------------------------------------------------------------------
def ensure_pg_database(database: str) -> None:
    admin = create_engine(pg_url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database})
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()


def reset_database(url: str) -> None:
    """Empty the database and build the schema by running every migration (heads)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    else:
        ensure_pg_database(url.rsplit("/", 1)[1])
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    from flask_migrate import upgrade

    from models import db

    app = make_app(url)
    with app.app_context():
        upgrade(directory=os.path.join(ROOT, "migrations"), revision="heads")
        db.engine.dispose()


def make_app(url: str, redis_url: str | None = None, **overrides):
    from webapp import create_app

    config = {
        "APP_ENV": "development",
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "bench-secret-key-0123456789",
        "AUTOMATIONS_ENABLED": True,
        "REDIS_URL": redis_url,
        "SWEEP_INTERVAL_SECONDS": 0,
        "SEED_ONBOARDING_WORKFLOW": False,
    }
    config.update(overrides)
    return create_app(config)


def flush_redis(url: str = REDIS_URL) -> None:
    from redis import Redis

    Redis.from_url(url).flushdb()


# -- scenario -----------------------------------------------------------------------------------
def seed_workspace(name: str = "Bench Co", actions=None, trigger: str = "deal_created"):
    """A workspace, its owner and one active workflow; returns (workspace_id, owner)."""
    from models import db
    from services import workflow_service, workspace_service

    email = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + f"-{time.time_ns()}@bench.test"
    workspace, owner = workspace_service.create_workspace(name, email, "bench-password-1", "Bench Owner")
    db.session.flush()
    workflow = workflow_service.create_workflow(workspace.id, {
        "name": f"Bench: {WORKFLOW}",
        "trigger": {"type": trigger, "config": {}},
        "conditions": [],
        "actions": actions if actions is not None else WORKFLOWS[WORKFLOW],
        "error_strategy": "continue",
        "status": "active",
    })
    if os.environ.get("BENCH_MAX_CONCURRENT_RUNS"):  # issue #22: a cap configured (B1: one that is not reached)
        workflow.max_concurrent_runs = int(os.environ["BENCH_MAX_CONCURRENT_RUNS"])
    db.session.commit()
    return workspace.id, owner


def fire_deals(workspace_id: int, owner, count: int, start: int = 0) -> list[float]:
    """Create `count` deals through DealService (each commits, so each fires deal_created). Returns each call's seconds."""
    from models import db
    from services import deal_service

    durations = []
    for n in range(start, start + count):
        began = time.perf_counter()
        deal_service.create_deal(workspace_id, {"title": f"Deal {n}", "value": "100"}, owner)
        db.session.commit()
        durations.append(time.perf_counter() - began)
    return durations


def execution_counts(url: str, since_id: int = 0) -> dict:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, count(*) FROM workflow_executions WHERE id > :since "
                                       "GROUP BY status"), {"since": since_id}).all()
    engine.dispose()
    return {status: n for status, n in rows}


def completion_window(url: str, since_id: int = 0) -> tuple[int, float]:
    """(completed executions, seconds from the first claim to the last finish) from the rows themselves."""
    engine = create_engine(url)
    with engine.connect() as connection:
        if url.startswith("sqlite"):
            row = connection.execute(text(
                "SELECT count(*), (julianday(max(finished_at)) - julianday(min(started_at))) * 86400.0 "
                "FROM workflow_executions WHERE status = 'completed' AND id > :since"), {"since": since_id}).one()
        else:
            row = connection.execute(text(
                "SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at)) "
                "FROM workflow_executions WHERE status = 'completed' AND id > :since"), {"since": since_id}).one()
    engine.dispose()
    return int(row[0]), float(row[1] or 0.0)


def max_execution_id(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        value = connection.scalar(text("SELECT coalesce(max(id), 0) FROM workflow_executions"))
    engine.dispose()
    return int(value)


def wait_until_done(url: str, expected: int, timeout: float, since_id: int = 0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        counts = execution_counts(url, since_id)
        done = sum(counts.get(s, 0) for s in ("completed", "failed", "cancelled"))
        if done >= expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


# -- transactions and statements -----------------------------------------------------------------
@dataclass
class RoundTrips:
    commits: int = 0
    statements: int = 0
    kinds: dict = field(default_factory=dict)


@contextmanager
def count_round_trips(engine):
    """Count commits and SQL statements sent on `engine` inside the block.

    On PostgreSQL statements are counted where psycopg sends them, so that those the dispatcher sends on
    the driver itself (engine.core.postgresql_runs) are counted along with SQLAlchemy's.
    """
    trips = RoundTrips()

    def on_commit(connection):
        trips.commits += 1

    def count(statement) -> None:
        trips.statements += 1
        verb = str(statement).lstrip().split(None, 1)[0].upper()
        trips.kinds[verb] = trips.kinds.get(verb, 0) + 1

    on_driver = engine.dialect.name == "postgresql"
    event.listen(engine, "commit", on_commit)
    if on_driver:
        import psycopg

        sent = psycopg.Cursor.execute

        def counted_execute(cursor, query, *args, **kwargs):
            count(query)
            return sent(cursor, query, *args, **kwargs)

        psycopg.Cursor.execute = counted_execute
    else:
        def on_execute(connection, cursor, statement, parameters, context, executemany):
            count(statement)

        event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield trips
    finally:
        event.remove(engine, "commit", on_commit)
        if on_driver:
            psycopg.Cursor.execute = sent
        else:
            event.remove(engine, "before_cursor_execute", on_execute)


# -- workers --------------------------------------------------------------------------------------
def worker_env(url: str, redis_url: str = REDIS_URL, **extra) -> dict:
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, AUTOMATIONS_ENABLED="true",
               SWEEP_INTERVAL_SECONDS="0", APP_ENV="development", FLASK_APP="webapp",
               SECRET_KEY="bench-secret-key-0123456789")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_workers(count: int, worker_class: str, url: str, burst: bool, **extra) -> list[subprocess.Popen]:
    command = [sys.executable, "-m", "flask", "--app", "webapp", "automations", "worker",
               "--worker-class", worker_class]
    if burst:
        command.append("--burst")
    return [subprocess.Popen(command, cwd=ROOT, env=worker_env(url, **extra),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)]


def wait_for_idle_workers(count: int, redis_url: str = REDIS_URL, timeout: float = 60) -> None:
    """Until `count` RQ workers have registered and sit idle (start-up done), so a measurement starts warm."""
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = Worker.all(connection=connection)
        if len(workers) >= count and all(worker.get_state() == "idle" for worker in workers):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{count} RQ workers did not start within {timeout} s")


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- pgbench -------------------------------------------------------------------------------------
def pgbench_tps(seconds: int = 10, clients: int = 2) -> float | None:
    """pgbench -N (no branch/teller updates) on a scratch database on the same server."""
    ensure_pg_database(PGBENCH_DB)
    base = ["-h", "127.0.0.1", "-U", "postgres"]
    try:
        subprocess.run(["pgbench", *base, "-i", "-q", "-s", "1", PGBENCH_DB], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run(["pgbench", *base, "-N", "-T", str(seconds), "-c", str(clients), "-j", str(clients),
                              PGBENCH_DB], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1)) if match else None


# -- figures ------------------------------------------------------------------------------------
def percentile(values, p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lower, upper = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (k - lower)


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "MET" if ok else "NOT MET"


def heading(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def line(label: str, value, unit: str = "") -> None:
    print(f"  {label:<58} {value}{(' ' + unit) if unit else ''}", flush=True)


def machine() -> dict:
    model = ""
    with open("/proc/cpuinfo") as info:
        for row in info:
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg": load, "memory": memory[1] if len(memory) > 1 else "",
            "python": platform.python_version(), "commit": commit}

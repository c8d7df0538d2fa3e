"""B1 throughput: completed executions per second of a 3-step in-process workflow.

(a) PostgreSQL + Redis + RQ worker processes: the deals are created first through DealService
    (their executions left pending), the workers start and register, then every execution is
    handed to them at once through the engine's own hand-off (Redis list + wake-up jobs); the rate
    is completed rows / (last finished_at - first started_at), read from the rows themselves, so
    worker start-up is not counted; 40 warm-up runs per worker go first and are not counted either. SimpleWorker and the forking Worker are both measured.
(b) SQLite with the in-process (embedded) runner of the web app.
Baseline in the same run: pgbench -N on the same server, divided by the transactions one
execution costs, gives the database's ceiling for this workflow.
"""
import time

from bench import common
from bench.common import heading, line

SIZES = {
    "small": {"pg": 800, "fork": 200, "sqlite": 500, "pgbench_seconds": 5},
    "full": {"pg": 10000, "fork": 2000, "sqlite": 3000, "pgbench_seconds": 10},
}
TARGET_PG, TARGET_SQLITE = 500.0, 200.0
WARM_UP_PER_WORKER = 40


def round_trips_per_execution(url: str) -> dict:
    """Commits and statements of one dispatch (create_deal + commit) and of one run_execution."""
    from engine.runtime.runner import run_execution
    from models import db

    app = common.make_app(url, ENGINE_HANDOFF="sweep")
    with app.app_context():
        workspace_id, owner = common.seed_workspace("Round trips Co")
        common.fire_deals(workspace_id, owner, 3)  # warm caches (executor imports, compiled statements)
        with common.count_round_trips(db.engine) as dispatch:
            common.fire_deals(workspace_id, owner, 1)
        newest = common.max_execution_id(url)
        run_execution(newest - 1)
        db.session.remove()
        with common.count_round_trips(db.engine) as run:
            status = run_execution(newest)
        db.session.remove()
        db.engine.dispose()
    assert status == "completed", status
    return {"dispatch": dispatch, "run": run}


def rq_throughput(url: str, count: int, workers: int, worker_class: str) -> dict:
    from models import db

    from engine.runtime.handoff import enqueue_executions

    common.flush_redis()
    first = common.max_execution_id(url)
    warm_up = WARM_UP_PER_WORKER * workers
    app = common.make_app(url, redis_url=common.REDIS_URL, ENGINE_HANDOFF="sweep")
    with app.app_context():
        workspace_id, owner = common.seed_workspace(f"B1 {worker_class} x{workers}")
        common.fire_deals(workspace_id, owner, warm_up)
        since = common.max_execution_id(url)
        began = time.perf_counter()
        common.fire_deals(workspace_id, owner, count)
        fire_seconds = time.perf_counter() - began
        ids = list(range(since + 1, common.max_execution_id(url) + 1))
        db.session.remove()
        db.engine.dispose()
    procs = common.start_workers(workers, worker_class, url, burst=False)
    began = time.perf_counter()
    try:
        common.wait_for_idle_workers(workers)
        app.config["ENGINE_HANDOFF"] = "queue"
        # Warm-up runs first (imports, statement caches, prepared statements), then the measured ones.
        enqueue_executions(app, list(range(first + 1, since + 1)))
        common.wait_until_done(url, warm_up, timeout=60, since_id=first)
        enqueue_executions(app, ids)
        counts = common.wait_until_done(url, count, timeout=max(60, count / 20), since_id=since)
    finally:
        common.stop_workers(procs)
    wall = time.perf_counter() - began
    completed, window = common.completion_window(url, since)
    return {"fired": count, "fire_per_s": count / fire_seconds, "completed": completed, "window_s": window,
            "per_s": completed / window if window else 0.0, "wall_s": wall, "counts": counts}


def sqlite_throughput(count: int) -> dict:
    from engine.runtime.embedded import embedded_runner
    from engine.runtime.handoff import shutdown
    from models import db

    url = common.sqlite_url()
    common.reset_database(url)
    app = common.make_app(url, ENGINE_HANDOFF="sweep", EMBEDDED_WORKERS=2)
    with app.app_context():
        workspace_id, owner = common.seed_workspace("B1 SQLite")
        began = time.perf_counter()
        common.fire_deals(workspace_id, owner, count)
        fire_seconds = time.perf_counter() - began
        ids = list(range(1, common.max_execution_id(url) + 1))
        db.session.remove()
    app.config["ENGINE_HANDOFF"] = "queue"
    runner = embedded_runner(app)
    for execution_id in ids:
        runner.submit(execution_id)
    deadline = time.monotonic() + max(60, count / 10)
    while not runner.idle() and time.monotonic() < deadline:
        time.sleep(0.05)
    shutdown(app)
    completed, window = common.completion_window(url)
    return {"fired": count, "fire_per_s": count / fire_seconds, "completed": completed, "window_s": window,
            "per_s": completed / window if window else 0.0}


def run(size: str = "small") -> dict:
    sizes = SIZES[size]
    heading("B1 throughput: 3-step workflow (log event, in-app notification, update deal)" if common.WORKFLOW == "three"
            else f"B1 throughput: workflow {common.WORKFLOW!r} (BENCH_WORKFLOW)")
    url = common.pg_url()
    common.reset_database(url)

    trips = round_trips_per_execution(url)
    run_trips = trips["run"]
    line("PostgreSQL: transactions per execution (run)", run_trips.commits)
    line("PostgreSQL: statements per execution (run)", f"{run_trips.statements} {run_trips.kinds}")
    line("PostgreSQL: transactions / statements per dispatch (create_deal)",
         f"{trips['dispatch'].commits} / {trips['dispatch'].statements}")

    tps = common.pgbench_tps(sizes["pgbench_seconds"])
    line("pgbench -N -c 2 -j 2 (same server, same run)", f"{tps:.0f}" if tps else "unavailable", "tx/s")
    ceiling = tps / run_trips.commits if tps and run_trips.commits else None
    if ceiling:
        line("database ceiling = pgbench tps / transactions per execution", f"{ceiling:.0f}", "executions/s")

    results = {"round_trips": {"commits": run_trips.commits, "statements": run_trips.statements},
               "pgbench_tps": tps, "ceiling": ceiling}
    for label, count, workers, worker_class in (
        ("simple x2", sizes["pg"], 2, "simple"),
        ("simple x1", sizes["pg"] // 2, 1, "simple"),
        ("simple x4", sizes["pg"], 4, "simple"),
        ("fork x2", sizes["fork"], 2, "fork"),
    ):
        measured = rq_throughput(url, count, workers, worker_class)
        results[f"pg_{label}"] = measured
        line(f"(a) PG+RQ {label}: completed/s ({measured['completed']}/{measured['fired']} in "
             f"{measured['window_s']:.2f} s)", f"{measured['per_s']:.0f}",
             f"exec/s  [{common.verdict(measured['per_s'], TARGET_PG, True)} vs ≥{TARGET_PG:.0f}]"
             + (f"  ratio to DB ceiling {measured['per_s'] / ceiling:.2f}" if ceiling else ""))
        line(f"    producer: create_deal + commit through DealService", f"{measured['fire_per_s']:.0f}", "events/s")

    sqlite = sqlite_throughput(sizes["sqlite"])
    results["sqlite"] = sqlite
    line(f"(b) SQLite embedded runner x2 threads ({sqlite['completed']}/{sqlite['fired']} in "
         f"{sqlite['window_s']:.2f} s)", f"{sqlite['per_s']:.0f}",
         f"exec/s  [{common.verdict(sqlite['per_s'], TARGET_SQLITE, True)} vs ≥{TARGET_SQLITE:.0f}]")
    line("    producer: create_deal + commit through DealService", f"{sqlite['fire_per_s']:.0f}", "events/s")
    results["peak"] = max(results[key]["per_s"] for key in ("pg_simple x1", "pg_simple x2", "pg_simple x4"))
    return results

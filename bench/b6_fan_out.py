"""B6 fan-out (issue #17): 4 worker processes finish a 5,000-run burst, every one of them taking part.

The runs (the 3-step workflow of B1) are created first through DealService, left pending; 4 `SimpleWorker`
processes start and write their heartbeats; then the whole burst is handed over in ONE call of the engine's
hand-off with RQ_WAKE_SLOTS=1, the worst case for fan-out: the wake slots follow the live workers' heartbeats
and every woken worker wakes another while ids wait. Per-worker counts come from the workers themselves
(Redis hash `workestra:worker-runs`, runs claimed per worker name).
"""
import time

from bench import common
from bench.common import heading, line

SIZES = {"small": 5000, "full": 5000}
WORKERS = 4


def run(size: str = "small") -> dict:
    from redis import Redis

    from engine.runtime.handoff import WORKER_HEARTBEATS_KEY, WORKER_RUNS_KEY, enqueue_executions
    from models import db

    count = SIZES[size]
    heading(f"B6 fan-out: {WORKERS} worker processes, a {count:,}-run burst handed over at once (RQ_WAKE_SLOTS=1)")
    url = common.pg_url()
    common.reset_database(url)
    common.flush_redis()
    app = common.make_app(url, redis_url=common.REDIS_URL, ENGINE_HANDOFF="sweep", RQ_WAKE_SLOTS=1)
    with app.app_context():
        workspace_id, owner = common.seed_workspace("B6 fan-out")
        began = time.perf_counter()
        common.fire_deals(workspace_id, owner, count)
        line("runs created (DealService, left pending)", f"{count:,} in {time.perf_counter() - began:.1f}", "s")
        ids = list(range(1, common.max_execution_id(url) + 1))
        db.session.remove()
        db.engine.dispose()
    procs = common.start_workers(WORKERS, "simple", url, burst=False, RQ_WAKE_SLOTS=1)
    connection = Redis.from_url(common.REDIS_URL)
    try:
        common.wait_for_idle_workers(WORKERS)
        deadline = time.monotonic() + 30
        while connection.hlen(WORKER_HEARTBEATS_KEY) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)
        app.config["ENGINE_HANDOFF"] = "queue"
        began = time.perf_counter()
        enqueue_executions(app, ids)
        counts = common.wait_until_done(url, count, timeout=max(120, count / 10))
        wall = time.perf_counter() - began
    finally:
        common.stop_workers(procs)
    completed, window = common.completion_window(url)
    per_worker = {name.decode(): int(value) for name, value in connection.hgetall(WORKER_RUNS_KEY).items()}
    line("completed", f"{completed:,} of {count:,} ({counts})")
    line("rate (first claim → last finish)", f"{completed / window:.0f}" if window else "?", "runs/s")
    line("wall time from the hand-off", f"{wall:.1f}", "s")
    for name, runs in sorted(per_worker.items()):
        line(f"  worker {name}", f"{runs:,}", "runs")
    taking_part = sum(1 for runs in per_worker.values() if runs > 0)
    verdict = "PASS" if taking_part == WORKERS and completed == count else "FAIL"
    line("workers taking part", f"{taking_part} of {WORKERS}: {verdict}")
    return {"runs": count, "completed": completed, "window_s": window, "per_s": completed / window if window else 0.0,
            "wall_s": wall, "per_worker": per_worker, "taking_part": taking_part, "verdict": verdict}

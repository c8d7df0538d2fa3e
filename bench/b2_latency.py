"""B2 latency: event → completed, at half of B1's peak rate, PostgreSQL + Redis + 2 SimpleWorkers.

The producer creates deals through DealService at a fixed rate; latency of each run is
finished_at - created_at of its row (created_at is stamped when the event's transaction writes
the row, so the event's commit, the hand-off, RQ, the claim and the 3 steps are all inside).
Baseline in the same run: the same measurement at a trickle (10 events/s).
"""
import time

from sqlalchemy import create_engine, text

from bench import common
from bench.common import heading, line

SIZES = {"small": {"seconds": 8, "trickle_seconds": 3}, "full": {"seconds": 30, "trickle_seconds": 10}}
DEFAULT_PEAK = 250.0
TARGET_P50_MS, TARGET_P99_MS = 20.0, 150.0


def latencies_ms(url: str, since_id: int) -> list[float]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT extract(epoch FROM finished_at - created_at) * 1000 FROM workflow_executions "
            "WHERE id > :since AND status = 'completed'"), {"since": since_id}).scalars().all()
    engine.dispose()
    return [float(v) for v in rows]


def fire_at_rate(workspace_id, owner, rate: float, seconds: float) -> tuple[int, float]:
    """Create deals at `rate` per second for `seconds`; returns (fired, achieved rate)."""
    interval = 1.0 / rate
    began = time.perf_counter()
    fired = 0
    while True:
        now = time.perf_counter()
        if now - began >= seconds:
            break
        due = began + fired * interval
        if now < due:
            time.sleep(due - now)
        common.fire_deals(workspace_id, owner, 1, start=fired)
        fired += 1
    return fired, fired / (time.perf_counter() - began)


def measure(url: str, workspace_id, owner, rate: float, seconds: float) -> dict:
    since = common.max_execution_id(url)
    fired, achieved = fire_at_rate(workspace_id, owner, rate, seconds)
    common.wait_until_done(url, fired, timeout=60, since_id=since)
    values = latencies_ms(url, since)
    return {"rate": rate, "achieved": achieved, "fired": fired, "completed": len(values),
            "p50": common.percentile(values, 50), "p90": common.percentile(values, 90),
            "p99": common.percentile(values, 99), "max": max(values) if values else float("nan")}


def run(size: str = "small", context: dict | None = None) -> dict:
    from models import db

    sizes = SIZES[size]
    peak = (context or {}).get("peak") or DEFAULT_PEAK
    rate = peak / 2
    heading(f"B2 latency: event → completed at half of B1's peak ({peak:.0f}/s → {rate:.0f} events/s)")
    url = common.pg_url()
    common.reset_database(url)
    common.flush_redis()
    workers = common.start_workers(2, "simple", url, burst=False)
    results = {}
    try:
        app = common.make_app(url, redis_url=common.REDIS_URL)
        with app.app_context():
            workspace_id, owner = common.seed_workspace("B2 Co")
            measure(url, workspace_id, owner, 5, 2)  # warm-up: workers connected, statements compiled
            trickle = measure(url, workspace_id, owner, 10, sizes["trickle_seconds"])
            loaded = measure(url, workspace_id, owner, rate, sizes["seconds"])
            db.session.remove()
            db.engine.dispose()
    finally:
        common.stop_workers(workers)
    for label, figures in (("baseline at 10 events/s", trickle), (f"at {rate:.0f} events/s", loaded)):
        line(f"{label}: achieved rate", f"{figures['achieved']:.0f}", "events/s")
        line(f"{label}: completed", f"{figures['completed']}/{figures['fired']}")
        line(f"{label}: p50 / p90 / p99 / max",
             f"{figures['p50']:.1f} / {figures['p90']:.1f} / {figures['p99']:.1f} / {figures['max']:.1f}", "ms")
    line("p50 target ≤ 20 ms", f"{loaded['p50']:.1f} ms", f"[{common.verdict(loaded['p50'], TARGET_P50_MS, False)}]  "
         f"ratio to baseline {loaded['p50'] / trickle['p50']:.2f}")
    line("p99 target ≤ 150 ms", f"{loaded['p99']:.1f} ms", f"[{common.verdict(loaded['p99'], TARGET_P99_MS, False)}]  "
         f"ratio to baseline {loaded['p99'] / trickle['p99']:.2f}")
    results.update(trickle=trickle, loaded=loaded)
    return results

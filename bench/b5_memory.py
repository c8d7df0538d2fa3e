"""B5 memory: RSS of one SimpleWorker process over N executions (100,000 full size).

The worker starts first; deals are created through DealService while it runs; RSS is read from
/proc every half second alongside the number of completed runs.
Baseline in the same run: the RSS once the first 10 % of the runs are done (imports, caches and
pools are warm by then); "flat" means the end RSS is within 10 % of it.
"""
import threading
import time

from bench import common
from bench.common import heading, line

SIZES = {"small": 1500, "full": 100000}
TARGET_MB = 150.0


def run(size: str = "small") -> dict:
    from models import db

    count = SIZES[size]
    heading(f"B5 memory: one SimpleWorker over {count} executions (PostgreSQL + Redis)")
    url = common.pg_url()
    common.reset_database(url)
    common.flush_redis()
    [worker] = common.start_workers(1, "simple", url, burst=False)
    samples: list[tuple[int, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                completed = common.execution_counts(url).get("completed", 0)
                samples.append((completed, common.rss_mb(worker.pid)))
            except (OSError, ValueError):
                pass
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        app = common.make_app(url, redis_url=common.REDIS_URL)
        with app.app_context():
            workspace_id, owner = common.seed_workspace("B5 Co")
            time.sleep(1.0)  # let the worker finish importing before the first sample
            sampler.start()
            common.fire_deals(workspace_id, owner, count)
            db.session.remove()
            db.engine.dispose()
        common.wait_until_done(url, count, timeout=max(120, count / 20))
        samples.append((common.execution_counts(url).get("completed", 0), common.rss_mb(worker.pid)))
    finally:
        done.set()
        common.stop_workers([worker])
    warm = next((rss for completed, rss in samples if completed >= count * 0.1), samples[0][1])
    peak = max(rss for _, rss in samples)
    end = samples[-1][1]
    line("RSS at start (worker idle, imported)", f"{samples[0][1]:.1f}", "MB")
    for fraction in (0.1, 0.25, 0.5, 0.75, 1.0):
        at = next(((c, rss) for c, rss in samples if c >= count * fraction), samples[-1])
        line(f"RSS after {at[0]} completed (~{int(fraction * 100)} %)", f"{at[1]:.1f}", "MB")
    line("peak RSS", f"{peak:.1f}", f"MB [{common.verdict(peak, TARGET_MB, False)} vs ≤ {TARGET_MB:.0f} MB]")
    growth = end / warm if warm else float("nan")
    line("end RSS / RSS at 10 % (baseline)", f"{growth:.2f}", "[flat]" if growth <= 1.10 else "[GROWING]")
    return {"count": count, "start_mb": samples[0][1], "warm_mb": warm, "peak_mb": peak, "end_mb": end,
            "growth": growth, "completed": samples[-1][0]}

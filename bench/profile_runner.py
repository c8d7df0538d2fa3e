"""Profile run_execution in-process with pyinstrument: `python -m bench.profile_runner [count] [pg|sqlite] [--cpu]`.

Creates `count` deals (executions left pending), then runs them one by one under the profiler
in claimed batches of 20 and prints the call tree (also saved as bench/profiles/runner-<db>.txt).
With --cpu, no profiler: prints this process's CPU time per execution (the figure B1 depends on,
and one that other load on the machine hardly moves), then create_deal's CPU time with and without dispatch.
PROFILE_BATCH=1 claims one run at a time instead, as a worker does at a calm rate (B6E's 20 events/s).
"""
import os
import sys
import time

from bench import common

BATCH = int(os.environ.get("PROFILE_BATCH", "20"))


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    count = int(args[0]) if args else 300
    kind = args[1] if len(args) > 1 else "pg"
    if "--cpu" in sys.argv:
        return cpu_per_execution(count, kind)
    url = common.pg_url() if kind == "pg" else common.sqlite_url()
    common.reset_database(url)
    from pyinstrument import Profiler

    from engine.runtime.runner import run_claimed_batch
    from models import db

    app = common.make_app(url, ENGINE_HANDOFF="sweep")
    with app.app_context():
        workspace_id, owner = common.seed_workspace("Profile Co")
        common.fire_deals(workspace_id, owner, count)
        ids = list(range(1, common.max_execution_id(url) + 1))
        db.session.remove()
        profiler = Profiler(interval=0.0005)
        began = time.perf_counter()
        profiler.start()
        for start in range(0, len(ids), BATCH):  # as a woken worker does: claim 20, run them
            run_claimed_batch(ids[start:start + BATCH])
            db.session.remove()
        profiler.stop()
        seconds = time.perf_counter() - began
    print(f"{len(ids)} executions in {seconds:.2f} s = {len(ids) / seconds:.0f}/s in one process, one thread")
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    os.makedirs(os.path.join(common.ROOT, "bench", "profiles"), exist_ok=True)
    with open(os.path.join(common.ROOT, "bench", "profiles", f"runner-{kind}.txt"), "w") as out:
        out.write(text)
    print(text[:12000])


def cpu_per_execution(count: int, kind: str) -> None:
    from engine.runtime.runner import run_claimed_batch
    from models import db

    url = common.pg_url() if kind == "pg" else common.sqlite_url()
    app = common.make_app(url, ENGINE_HANDOFF="sweep")
    with app.app_context():
        workspace_id, owner = common.seed_workspace("CPU Co")
        common.fire_deals(workspace_id, owner, 20)  # warm-up: imports, compiled statements
        app.config["AUTOMATIONS_ENABLED"] = False
        cpu = time.process_time()
        common.fire_deals(workspace_id, owner, count, start=count)
        flag_off_cpu = time.process_time() - cpu
        app.config["AUTOMATIONS_ENABLED"] = True
        cpu = time.process_time()
        common.fire_deals(workspace_id, owner, count)
        dispatch_cpu = time.process_time() - cpu
        last = common.max_execution_id(url)
        run_claimed_batch(list(range(last - count - 19, last - count + 1)))
        ids = list(range(last - count + 1, last + 1))
        db.session.remove()
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(ids), BATCH):
            run_claimed_batch(ids[start:start + BATCH])
            db.session.remove()
        run_cpu, run_wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{kind}, claims of {BATCH}: {len(ids)} executions: {1000 * run_cpu / len(ids):.2f} ms CPU and {1000 * run_wall / len(ids):.2f} ms "
          f"wall each in this process ({len(ids) / run_wall:.0f}/s in one thread); "
          f"create_deal + commit: {1000 * dispatch_cpu / count:.2f} ms CPU each with dispatch, "
          f"{1000 * flag_off_cpu / count:.2f} without")


if __name__ == "__main__":
    main()

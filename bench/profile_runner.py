"""Profile run_execution in-process with pyinstrument: `python -m bench.profile_runner [count] [pg|sqlite]`.

Creates `count` deals (executions left pending), then runs them one by one under the profiler
in claimed batches of 20 and prints the call tree (also saved as bench/profiles/runner-<db>.txt).
"""
import os
import sys
import time

from bench import common


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    kind = sys.argv[2] if len(sys.argv) > 2 else "pg"
    url = common.pg_url() if kind == "pg" else common.sqlite_url()
    common.reset_database(url)
    from pyinstrument import Profiler

    from engine.runner import run_claimed_batch
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
        for start in range(0, len(ids), 20):  # as a woken worker does: claim 20, run them
            run_claimed_batch(ids[start:start + 20])
            db.session.remove()
        profiler.stop()
        seconds = time.perf_counter() - began
    print(f"{len(ids)} executions in {seconds:.2f} s = {len(ids) / seconds:.0f}/s in one process, one thread")
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    os.makedirs(os.path.join(common.ROOT, "bench", "profiles"), exist_ok=True)
    with open(os.path.join(common.ROOT, "bench", "profiles", f"runner-{kind}.txt"), "w") as out:
        out.write(text)
    print(text[:12000])


if __name__ == "__main__":
    main()

"""B3 dispatch overhead: DealService.create_deal (+ commit) with dispatch vs with the flag off.

The workspace holds 10, 1,000 and 10,000 active workflows, one of them on deal_created (the
others on contact_created). Flag on and flag off are measured in alternating rounds in the same
app, so drift hits both alike. The hand-off is the real one (Redis on PostgreSQL, the sweep on
SQLite, so no run competes for the CPU during the measurement).
Baseline in the same run: the flag-off time. The 10,000 vs 10 ratio divides each phase's median by
that phase's flag-off median (the raw ratio is printed beside it), so the host's drift between phases
does not count as dispatch scaling with the number of workflows.
"""
import time

from bench import common
from bench.common import heading, line

SIZES = {"small": {"reps": 120, "counts": (10, 1000, 10000)}, "full": {"reps": 1000, "counts": (10, 1000, 10000)}}
TARGET_ADDED_MS, TARGET_RATIO = 1.0, 1.2


def add_other_workflows(workspace_id: int, count: int) -> None:
    """Bulk-insert active workflows on another trigger (valid definitions, as the editor would save them)."""
    from sqlalchemy import insert

    from models import Workflow, db

    rows = [{
        "workspace_id": workspace_id, "name": f"Other {n}", "description": "",
        "trigger": {"type": "contact_created", "config": {}}, "trigger_type": "contact_created",
        "conditions": [], "actions": [{"type": "log_event", "config": {"event": "other"}}],
        "error_strategy": "continue", "status": "active", "version": 1,
    } for n in range(count)]
    for start in range(0, len(rows), 2000):
        db.session.execute(insert(Workflow), rows[start:start + 2000])
    db.session.commit()


def measure(app, workspace_id, owner, reps: int) -> dict:
    on, off = [], []
    for round_number in range(reps):
        for flag, into in ((True, on), (False, off)) if round_number % 2 else ((False, off), (True, on)):
            app.config["AUTOMATIONS_ENABLED"] = flag
            into.extend(common.fire_deals(workspace_id, owner, 1, start=round_number))
    app.config["AUTOMATIONS_ENABLED"] = True
    return {"on_ms": common.median(on) * 1000, "off_ms": common.median(off) * 1000,
            "on_p95_ms": common.percentile(on, 95) * 1000, "off_p95_ms": common.percentile(off, 95) * 1000}


def measure_with_condition(app, workspace_id, owner, reps: int, label: str, count: int) -> dict:
    """The matching workflow given a condition that holds: its run is inserted after the condition is
    evaluated in Python (on PostgreSQL a second round trip). Not a target of its own; shown beside B3."""
    from sqlalchemy import update

    from models import Workflow, db

    db.session.execute(update(Workflow).where(Workflow.workspace_id == workspace_id,
                                              Workflow.trigger_type == "deal_created")
                       .values(conditions=[{"field": "deal.value", "op": "gte", "value": 1}]))
    db.session.commit()
    figures = measure(app, workspace_id, owner, reps)
    line(f"{label}: {count:>6} active workflows, the matching one with a condition that holds",
         f"{figures['on_ms']:.2f} / {figures['off_ms']:.2f} ms", f"added {figures['on_ms'] - figures['off_ms']:+.2f} ms")
    return figures


def run_on(url: str, label: str, reps: int, counts, redis_url=None) -> dict:
    from models import db

    common.reset_database(url)
    if redis_url:
        common.flush_redis(redis_url)
    app = common.make_app(url, redis_url=redis_url, ENGINE_HANDOFF="queue" if redis_url else "sweep")
    results, have = {}, 1
    with app.app_context():
        workspace_id, owner = common.seed_workspace(f"B3 {label}")
        other_id, other_owner = common.seed_workspace("B3 other workspace")
        add_other_workflows(other_id, 2000)  # other workspaces' workflows must not matter either
        common.fire_deals(workspace_id, owner, 20)  # warm-up
        for count in counts:
            add_other_workflows(workspace_id, count - have)
            have = count
            figures = measure(app, workspace_id, owner, reps)
            results[count] = figures
            added = figures["on_ms"] - figures["off_ms"]
            line(f"{label}: {count:>6} active workflows: create_deal median on / off",
                 f"{figures['on_ms']:.2f} / {figures['off_ms']:.2f} ms",
                 f"added {added:+.2f} ms [{common.verdict(added, TARGET_ADDED_MS, False)} vs ≤ 1 ms]  "
                 f"ratio to baseline {figures['on_ms'] / figures['off_ms']:.2f}")
        results["with_condition"] = measure_with_condition(app, workspace_id, owner, reps, label, counts[-1])
        db.session.remove()
        db.engine.dispose()
    if redis_url:
        common.flush_redis(redis_url)
    most, fewest = results[counts[-1]], results[counts[0]]
    raw = most["on_ms"] / fewest["on_ms"]
    # The phases run minutes apart and the host's speed drifts: divide each by its own flag-off median.
    ratio = (most["on_ms"] / most["off_ms"]) / (fewest["on_ms"] / fewest["off_ms"])
    line(f"{label}: {counts[-1]} vs {counts[0]} workflows, create_deal with dispatch", f"{ratio:.2f}",
         f"[{common.verdict(ratio, TARGET_RATIO, False)} vs ≤ {TARGET_RATIO}]  each over its phase's flag-off "
         f"median; raw {raw:.2f}")
    results["ratio"], results["raw_ratio"] = ratio, raw
    return results


def run(size: str = "small") -> dict:
    sizes = SIZES[size]
    heading("B3 dispatch overhead: create_deal with dispatch vs flag off")
    started = time.perf_counter()
    results = {"postgresql": run_on(common.pg_url(), "PostgreSQL+Redis", sizes["reps"], sizes["counts"],
                                    common.REDIS_URL)}
    results["sqlite"] = run_on(common.sqlite_url(), "SQLite", sizes["reps"], sizes["counts"])
    results["seconds"] = time.perf_counter() - started
    return results

"""The run search and the Insights pages on B4's database (issue #22), without seeding again: run AFTER
`python -m bench.run --full --only B4` (or `B4_PAGES=triage`), on the database it left (BENCH_PG_DB).

    python -m bench.search_at_scale [repeats] [--add] [--explain]

--add first adds this checkout's search column and index to that database when it lacks them (migration
e0220000a122's `add_search_words`, keeping any older search column, so that an older checkout can be timed on the
same rows: `PYTHONPATH=<older checkout> python <this file>`); --explain prints EXPLAIN (ANALYZE, BUFFERS) of the
list query of each search (database time alone). Prints p50 / p95 per page (the Flask test client, logged in as the
big workspace's owner), the host's load average and a `pgbench -N -c 2` figure taken in the same minutes.
"""
import importlib.util
import os
import sys
import time

from sqlalchemy import text

from bench import common
from bench.b4_pages import login, middle_week_query, time_pages as b4_time_pages
from bench.common import heading, line

MIGRATION = os.path.join(common.ROOT, "migrations", "versions", "2026_11_27_2200-e0220000a122_run_search_words.py")


def add_search_words() -> None:
    from models import db

    if db.session.scalar(text("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                              "'workflow_executions' AND column_name = 'search_words'")):
        return
    spec = importlib.util.spec_from_file_location("search_words_migration", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    began = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        migration.add_search_words(lambda statement: connection.execute(text(statement)))
        connection.execute(text("VACUUM ANALYZE workflow_executions"))
    line("added search_words and its GIN index (a table rewrite), analyzed", f"{time.perf_counter() - began:.0f}", "s")


def urls(workspace_id: int) -> dict[str, str]:
    """Realistic searches of the big workspace (the rows bench.b4_pages seeds), the Insights pages, and two plain
    Runs pages of the same minutes for scale."""
    from models import db

    ids = db.session.scalars(text("SELECT id FROM workflow_executions WHERE workspace_id = :ws ORDER BY id"),
                             {"ws": workspace_id}).all()
    probe = ids[len(ids) // 3]
    g = db.session.scalar(text("SELECT (trigger_payload->'deal'->>'id')::int FROM workflow_executions WHERE id = :id"),
                          {"id": probe})
    detail = ids[len(ids) // 2]
    workflow_id = db.session.scalar(text("SELECT workflow_id FROM workflow_executions WHERE id = :id"), {"id": detail})
    week = middle_week_query(workspace_id)
    email = f"c{g % 50000}@example.test"
    return {
        "runs all (for scale)": "/automations/runs",
        "runs of one week (for scale)": f"/automations/runs?{week}",
        "search: a customer email (~20 runs)": f"/automations/runs?q={email}",
        "search: the start of an email": f"/automations/runs?q=c{g % 50000}@exa",
        "search: an order ref (~1 run)": f"/automations/runs?q=ORD-{g}",
        "search: a deal title (~1 run)": f"/automations/runs?q=Deal%20{g}",
        "search: a number (a deal value, ~200 runs)": f"/automations/runs?q={g % 5000}",
        "search: a word of step errors (6 % of runs)": "/automations/runs?q=unavailable",
        "search: a step error, failed tab": "/automations/runs?status=failed&q=mailbox%2042%20unavailable",
        "search: a step error, completed with errors tab": "/automations/runs?status=completed_with_errors&q=quota%2017",
        "search: a word in every run": "/automations/runs?q=example.test",
        "search: no run matches": "/automations/runs?q=zzqqxx",
        "search: no run matches, two common words": "/automations/runs?q=deal%20quota%20unavailable",
        "search within one workflow, a word in every run": f"/automations/runs?workflow={workflow_id}&q=example.test",
        "search within one workflow, an email": f"/automations/runs?workflow={workflow_id}&q={email}",
        "search within one week, a step error word": f"/automations/runs?{week}&q=mailbox",
        "search within one week, an order ref": f"/automations/runs?{week}&q=ORD-{g}",
        "search within one week, an email": f"/automations/runs?{week}&q={email}",
        "search within one week, a number (a deal value)": f"/automations/runs?{week}&q={g % 5000}",
        "search within one week, a less common error word": f"/automations/runs?{week}&q=quota",
        "search within one week, two error words": f"/automations/runs?{week}&q=quota%2017",
        "search within one week, no match": f"/automations/runs?{week}&q=zzqqxx",
        "insights (30 days)": "/automations/insights",
        "insights, 90 days": "/automations/insights?period=90",
        "insights of one workflow": f"/automations/insights/{workflow_id}",
        "insights of one workflow, 90 days": f"/automations/insights/{workflow_id}?period=90",
    }


def time_pages(client, pages: dict, repeats: int) -> dict:
    """B4's timing of pages, as (p50, p95) per label."""
    results = {label: (figures["p50"], figures["p95"]) for label, figures in b4_time_pages(client, pages, repeats).items()}
    for label, (p50, p95) in results.items():
        line(f"{label}: p50 / p95", f"{p50:.1f} / {p95:.1f} ms", f"[{common.verdict(p95, 50.0, False)}]")
    return results


def explain(workspace_id: int, pages: dict) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each search's list query (the newest page of 51, ids only), as list_runs
    builds it."""
    from urllib.parse import parse_qs, urlsplit

    from sqlalchemy import select

    from models import WorkflowExecution, db
    from services import run_history_service

    for label, url in pages.items():
        if not label.startswith("search"):
            continue
        args = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        run_filter = run_history_service.parse_filter(workspace_id, args)
        conditions = (run_history_service.list_conditions(workspace_id, run_filter)
                      + run_history_service.id_range(workspace_id, run_filter))  # as list_runs reads it
        query = (select(WorkflowExecution.id).where(*conditions).order_by(WorkflowExecution.id.desc()).limit(51))
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = db.session.scalars(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).all()
        total = next((row for row in plan if row.startswith("Execution Time")), "")
        print(f"\n--- {label}: {total}")
        print("\n".join(plan))


def main(argv: list[str]) -> dict:
    from models import Workspace, db

    repeats = int(next((arg for arg in argv if arg.isdigit()), 20))
    app = common.make_app(common.pg_url(), WTF_CSRF_ENABLED=False, ENGINE_HANDOFF="sweep")
    heading(f"Run search and Insights on the B4 database ({common.PG_DB}), {repeats} samples per page")
    print(f"checkout {common.ROOT}, commit {common.machine()['commit']}, load average {os.getloadavg()}")
    with app.app_context():
        if "--add" in argv:
            add_search_words()
        big = db.session.scalar(text("SELECT id FROM workspaces WHERE name = 'B4 Big Co'"))
        assert big, "no B4 database here: run `python -m bench.run --full --only B4` first"
        owner = db.session.scalar(text("SELECT u.email FROM users u JOIN memberships m ON m.user_id = u.id "
                                       "WHERE m.workspace_id = :ws AND m.role = 'owner'"), {"ws": big})
        pages = urls(big)
        db.session.remove()
        results = time_pages(login(app, owner), pages, repeats)
        if "--explain" in argv:
            explain(big, pages)
        db.session.remove()
        db.engine.dispose()
    searches = {label: figures for label, figures in results.items() if label.startswith("search")}
    worst = max(searches, key=lambda label: searches[label][1])
    line("worst search p95", f"{searches[worst][1]:.1f} ms ({worst})")
    tps = common.pgbench_tps(10)
    line("pgbench -N -c 2 -j 2 (same server, after the pages)", f"{tps:.0f}" if tps else "unavailable", "tx/s")
    print(f"load average after: {os.getloadavg()}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])

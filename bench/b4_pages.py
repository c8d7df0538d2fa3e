"""B4 pages at scale: server time of the workflow list, the Runs tabs (first and a deep page), the
Runs page filtered by a workflow and by dates, the workflow filter's search, the stats strip, a
run detail and the Insights pages (issue #22), with N executions and 5,000 workflows in one workspace (1,000,000 executions full size)
plus another workspace's data. PostgreSQL.

Rows are generated in SQL (generate_series) with the shapes the engine writes: a 3-step
completed_actions array, created_at 5 s apart (~58 days at a million). Finished runs: 90 %
completed, 6 % failed, 1 % cancelled, each workflow with the mix (not one status per workflow).
Unfinished runs are where a working engine leaves them: pending and running only in the last
10 minutes, paused (waiting on a Wait step) in the last 7 days; older ones have finished
(completed). BACKLOG=1 keeps the old shape instead: 3 % of ALL runs pending/running/paused, a
stalled engine's backlog, the worst case for the live part of the counts.
The rollup triggers fire for the generated rows like for any other; the seeding checks that the
workspace rollup adds up to the runs themselves.
Server time = the in-process WSGI call through Flask's test client (routing, queries, template).
Baseline in the same run: the same pages on a small workspace (100 runs, 10 workflows).
"""
import os
import time
from datetime import timedelta

from sqlalchemy import text

from bench import common
from bench.common import heading, line

SIZES = {
    "small": {"runs": 30_000, "workflows": 5000, "other_runs": 3_000, "repeats": 20},
    "full": {"runs": 1_000_000, "workflows": 5000, "other_runs": 100_000, "repeats": 20},
}
TARGET_P95_MS = 50.0
# Measured for information, not pages of issue #11's B4 list (which is: the workflow list, every Runs tab's first
# and a deep page, the stats strip, a run detail); reported apart from B4's verdict.
EXTRA_PAGES = ("/automations?sort=last_run", "runs of one week (dates)", "workflow filter search (JSON)")
HISTORY_VERSIONS = 1000  # issue #21: a workflow with this many versions; its History page and a save stay ≤ 50 ms
BACKLOG = os.environ.get("BACKLOG") == "1"
# B4_PAGES=triage: only the Runs tab's triage pages (search in run data, the Failed and Completed-with-errors tabs,
# All) and Insights, without the version histories: issue #22's figures at full size when the machine has no time for the rest.
TRIAGE_ONLY = os.environ.get("B4_PAGES") == "triage"
TRIAGE_PAGES = ("search", "runs failed", "runs completed_with_errors", "runs all", "insights")
STEP = ('{"index": %d, "type": "log_event", "status": "completed", "attempts": 1, '
        '"started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:00.004000+00:00", '
        '"duration_ms": 4, "input": {"event": "bench", "message": "Deal 1"}, '
        '"output": {"audit_event_id": 1, "event": "bench"}, "error": null}')
ACTIONS = '[' + ", ".join(STEP % n for n in range(3)) + ']'
DEFINITION = ('{"name": "Bench", "description": "", "trigger": {"type": "deal_created", "config": {}}, '
              '"conditions": [], "actions": [{"type": "log_event", "config": {"event": "bench"}}], '
              '"error_strategy": "continue", "status": "active"}')


def seed_executions(groups: list[tuple[int, int, int, int]]) -> None:
    """For each (workspace id, first workflow id, workflows, runs): `runs` executions of the workspace, the
    newest now, 5 s apart (see the module's docstring for the statuses). One INSERT ordered by created_at,
    so ids grow with time across workspaces as they do in production (seeding one workspace after the
    other would put every run of the big one below the others' ids)."""
    from models import db

    selects, params = [], {"definition": DEFINITION, "actions": ACTIONS}
    for n, (workspace_id, first_workflow_id, workflows, runs) in enumerate(groups):
        params.update({f"ws{n}": workspace_id, f"wf{n}": first_workflow_id, f"wfs{n}": workflows, f"runs{n}": runs})
        # s: a status draw independent of the workflow (g % workflows), so each workflow gets the whole mix.
        s = f"((g / :wfs{n} + g) % 100)"
        age = f"((:runs{n} - g) * interval '5 seconds')"
        if BACKLOG:
            unfinished = f"WHEN {s} = 97 THEN 'paused' WHEN {s} = 98 THEN 'pending' WHEN {s} = 99 THEN 'running'"
        else:
            unfinished = (f"WHEN {s} = 97 AND {age} < interval '7 days' THEN 'paused' "
                          f"WHEN {s} = 98 AND {age} < interval '10 minutes' THEN 'pending' "
                          f"WHEN {s} = 99 AND {age} < interval '10 minutes' THEN 'running'")
        selects.append(f"""
            SELECT :ws{n} AS workspace_id, :wf{n} + (g % :wfs{n}) AS workflow_id, 'Workflow ' || (g % :wfs{n}) AS name,
                CASE WHEN {s} < 90 THEN 'completed' WHEN {s} < 96 THEN 'failed' WHEN {s} = 96 THEN 'cancelled'
                     {unfinished} ELSE 'completed' END AS status,
                now() - {age} AS created_at, g,
                CASE WHEN {s} BETWEEN 90 AND 95 THEN 'Step 2 failed: mailbox ' || (g % 97) || ' unavailable'
                     WHEN {s} < 2 THEN 'Step 2 failed: quota ' || (g % 89) || ' exceeded' END AS error
            FROM generate_series(1, :runs{n}) AS g""")
    db.session.execute(text(f"""
        INSERT INTO workflow_executions (workspace_id, workflow_id, workflow_name, trigger_type, source, definition,
            trigger_payload, status, created_at, started_at, finished_at, duration_ms, error, completed_actions,
            current_step, step_attempts, claim_count, event_depth)
        SELECT workspace_id, workflow_id, name, 'deal_created', 'event', CAST(:definition AS jsonb),
            jsonb_build_object('deal', jsonb_build_object('id', g, 'title', 'Deal ' || g, 'value', g % 5000),
                               'contact', jsonb_build_object('email', 'c' || (g % 50000) || '@example.test'),
                               'order_ref', 'ORD-' || g),
            status, created_at, created_at, created_at + interval '12 milliseconds', 12, error,
            CAST(:actions AS jsonb), 3, 0, 1, 0
        FROM ({" UNION ALL ".join(selects)}) AS runs
        ORDER BY created_at
    """), params)
    db.session.commit()


def check_rollup(workspace_id: int) -> tuple[int, int]:
    """(finished runs counted in workflow_executions, runs in workspace_run_daily): they must be equal."""
    from models import db

    counted = db.session.scalar(text("SELECT count(*) FROM workflow_executions WHERE workspace_id = :ws "
                                     "AND status IN ('completed', 'failed', 'cancelled')"), {"ws": workspace_id})
    rolled = db.session.scalar(text("SELECT coalesce(sum(runs), 0) FROM workspace_run_daily WHERE workspace_id = :ws"),
                               {"ws": workspace_id})
    return int(counted), int(rolled)


def seed(size: dict) -> tuple[int, str, int, int]:
    """Returns (big workspace id, owner email, small workspace id, small owner email)."""
    from sqlalchemy import func, select

    from bench.b3_dispatch import add_other_workflows
    from models import Workflow, db

    groups = []
    for name, workflows, runs in (("B4 Big Co", size["workflows"], size["runs"]),
                                  ("B4 Other Co", 501, size["other_runs"]), ("B4 Small Co", 10, 100)):
        workspace_id, owner = common.seed_workspace(name)
        add_other_workflows(workspace_id, workflows - 1)
        first = db.session.scalar(select(func.min(Workflow.id)).where(Workflow.workspace_id == workspace_id))
        groups.append((workspace_id, first, workflows, runs, owner))
    (big_id, *_, big_owner), _other, (small_id, *_, small_owner) = groups
    began = time.perf_counter()
    # The search's words index is built after the bulk load, as its migration builds it on an existing table
    # (inserting a million rows into a live GIN index row by row is a different, slower operation).
    db.session.execute(text("DROP INDEX ix_workflow_executions_search_words"))
    seed_executions([group[:4] for group in groups])
    seeded = time.perf_counter() - began
    db.session.commit()
    line("seeded executions in (rollup triggers firing)", f"{seeded:.0f}", "s")
    began = time.perf_counter()
    db.session.execute(text("CREATE INDEX ix_workflow_executions_search_words ON workflow_executions "
                            "USING gin (search_words)"))
    # Some failed runs resolved by a replay (the Failed tab subtracts them) and a few hundred of them.
    db.session.execute(text("UPDATE workflow_executions SET resolved_by_id = id WHERE status = 'failed' AND id % 50 = 0"))
    db.session.commit()
    line("built the run search's words index (and marked 2 % of failed runs resolved) in",
         f"{time.perf_counter() - began:.0f}", "s")
    # A live database is vacuumed by autovacuum, and its rollup rows stay compact: each run finishes in its own
    # transaction, so page pruning drops the old versions of a rollup row as it goes. This bulk load updated the
    # same few rollup rows a million times in ONE transaction, leaving a million dead versions (71 MB for 1,444
    # rows), enough for the planner to pick parallel scans of the tiny rollup. Bring both to the steady state.
    began = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM FULL workflow_run_daily, workspace_run_daily"))
        connection.execute(text("VACUUM ANALYZE"))
    line("VACUUM FULL of the rollups, VACUUM ANALYZE", f"{time.perf_counter() - began:.0f}", "s")
    counted, rolled = check_rollup(big_id)
    line("finished runs: counted / in the rollup", f"{counted:,} / {rolled:,}", "[OK]" if counted == rolled else "[WRONG]")
    assert counted == rolled, "the rollup does not add up"
    unfinished = db.session.scalar(text("SELECT count(*) FROM workflow_executions WHERE workspace_id = :ws "
                                        "AND status IN ('pending', 'running', 'paused')"), {"ws": big_id})
    line("unfinished runs (counted live)", f"{unfinished:,}", "(BACKLOG shape)" if BACKLOG else "")
    return big_id, big_owner.email, small_id, small_owner.email


def seed_history(workspace_id: int, owner_email: str) -> int:
    """A workflow saved HISTORY_VERSIONS times (each save a version, through the service), with status changes
    between; returns its id."""
    from sqlalchemy import select

    from models import User, db
    from services import workflow_service

    owner = db.session.scalar(select(User).where(User.email == owner_email))
    definition = {"name": "Versioned", "trigger": {"type": "deal_created", "config": {}},
                  "actions": [{"id": "log", "type": "log_event", "config": {"event": "bench", "message": "v1"}},
                              {"id": "tell", "type": "send_in_app_notification",
                               "config": {"recipient": "record_owner", "title": "Deal {{ trigger.deal.title }}"}}]}
    workflow = workflow_service.create_workflow(workspace_id, definition, owner)
    began = time.perf_counter()
    for number in range(2, HISTORY_VERSIONS + 1):
        definition["actions"][0]["config"]["message"] = f"v{number}"
        workflow_service.update_workflow(workflow, definition, owner, note=f"save {number}")
        if number % 100 == 0:
            workflow_service.set_status(workflow, "active" if number % 200 else "paused", owner)
    db.session.commit()
    line(f"seeded {HISTORY_VERSIONS:,} versions of one workflow in", f"{time.perf_counter() - began:.0f}", "s")
    return workflow.id


def history_urls(workflow_id: int) -> dict[str, str]:
    return {f"workflow History ({HISTORY_VERSIONS:,} versions)": f"/automations/{workflow_id}/history",
            "workflow History, v1 → current diff": f"/automations/{workflow_id}/history?from=1&to=draft",
            "workflow History, older page": f"/automations/{workflow_id}/history?before=500"}


def history_save(workflow_id: int):
    """A save that changes the definition (adds version N+1), committed: the call B4 times."""
    from models import Workflow, db
    from services import workflow_service

    counter = iter(range(10**9))

    def save():
        workflow = db.session.get(Workflow, workflow_id)
        definition = {k: v for k, v in workflow.definition().items() if k != "status"}
        definition["actions"][0]["config"]["message"] = f"bench save {next(counter)}"
        workflow_service.update_workflow(workflow, definition, None, note="bench")
        db.session.commit()

    return save


def login(app, email: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": "bench-password-1"})
    assert response.status_code in (302, 303), response.status_code
    return client


def middle_week_query(workspace_id: int) -> str:
    """The Runs tab's date filter (from=…&to=…) for the week in the middle of the workspace's history."""
    from models import db

    days = db.session.execute(text("SELECT min(created_at)::date, max(created_at)::date FROM workflow_executions "
                                   "WHERE workspace_id = :ws"), {"ws": workspace_id}).one()
    middle = days[0] + (days[1] - days[0]) / 2
    return f"from={middle.isoformat()}&to={(middle + timedelta(days=6)).isoformat()}"


def pages(workspace_id: int) -> dict[str, str]:
    from models import db

    ids = db.session.scalars(
        text("SELECT id FROM workflow_executions WHERE workspace_id = :ws ORDER BY id"), {"ws": workspace_id}).all()
    deep = ids[len(ids) // 10]  # a page 90 % of the way down the history
    detail = ids[len(ids) // 2]
    workflow_id = db.session.scalar(text("SELECT workflow_id FROM workflow_executions WHERE id = :id"), {"id": detail})
    week = middle_week_query(workspace_id)
    urls = {"/automations": "/automations", "/automations?page=150 (deep)": "/automations?page=150",
            "/automations?sort=last_run": "/automations?sort=last_run"}
    for status in ("", "pending", "running", "completed", "completed_with_errors", "failed", "cancelled", "paused"):
        suffix = f"status={status}&" if status else ""
        urls[f"runs {status or 'all'}"] = f"/automations/runs?{suffix}"
        urls[f"runs {status or 'all'} deep"] = f"/automations/runs?{suffix}before={deep}"
    urls["runs of one workflow"] = f"/automations/runs?workflow={workflow_id}"
    urls["runs of one workflow, failed tab"] = f"/automations/runs?workflow={workflow_id}&status=failed"
    urls["runs of one week (dates)"] = f"/automations/runs?{week}"
    urls["runs of one workflow in one week"] = f"/automations/runs?workflow={workflow_id}&{week}"
    urls["workflow filter search (JSON)"] = "/automations/runs/workflows?q=other%2012"
    urls["runs failed, resolved shown"] = "/automations/runs?status=failed&resolved=show"
    # Search in run data (issue #22): payload values and step errors, alone and within a workflow or dates.
    probe = ids[len(ids) // 3]
    urls["search: an order ref (~11 runs)"] = f"/automations/runs?q=ORD-{probe // 10}"
    urls["search: a customer email (~20 runs)"] = f"/automations/runs?q=c{probe % 50000}@example.test"
    urls["search: the start of an email"] = f"/automations/runs?q=c{probe % 50000}@exa"
    urls["search: a deal title (~1 run)"] = f"/automations/runs?q=Deal%20{probe}"
    urls["search: a number (a deal value, ~200 runs)"] = f"/automations/runs?q={100 + probe % 4900}"  # 3 digits at least
    urls["search: a word of step errors (6 % of runs)"] = "/automations/runs?q=unavailable"
    urls["search: a word in every run"] = "/automations/runs?q=example.test"
    urls["search: no run matches"] = "/automations/runs?q=zzqqxx"
    urls["search: no run matches, two common words"] = "/automations/runs?q=deal%20quota%20unavailable"
    urls["search: a step error, failed tab"] = "/automations/runs?status=failed&q=mailbox%2042%20unavailable"
    urls["search: a step error, completed with errors tab"] = "/automations/runs?status=completed_with_errors&q=quota%2017"
    urls["search within one workflow"] = f"/automations/runs?workflow={workflow_id}&q=example.test"
    urls["search within one workflow, rare value"] = f"/automations/runs?workflow={workflow_id}&q=c{probe % 50000}@"
    urls["search within one week"] = f"/automations/runs?{week}&q=mailbox"
    urls["search within one week, rare value"] = f"/automations/runs?{week}&q=ORD-{probe}"
    urls["search within one week, an email"] = f"/automations/runs?{week}&q=c{probe % 50000}@example.test"
    urls["search within one week, no match"] = f"/automations/runs?{week}&q=zzqqxx"
    urls["run detail"] = f"/automations/runs/{detail}"
    # Issue #22: Insights (the overview reads the rollups for one page of 25 workflows; a workflow's page also
    # reads its latest finished runs for p50/p95 and its latest failed runs for the failing steps).
    urls["insights (30 days)"] = "/automations/insights"
    urls["insights, 90 days"] = "/automations/insights?period=90"
    urls["insights, page 150"] = "/automations/insights?page=150"
    urls["insights of one workflow"] = f"/automations/insights/{workflow_id}"
    urls["insights of one workflow, 90 days"] = f"/automations/insights/{workflow_id}?period=90"
    return urls


def time_pages(client, urls: dict, repeats: int) -> dict:
    """p50/p95 per page. Called inside an app context, every request reuses that context and its database session,
    which the app's teardown then never ends: the session is ended after each request here, as a served request's
    own context does (before 2026-11-28 it was not, and the session's identity map grew with every page loaded,
    adding up to 100 ms to some pages)."""
    from models import db

    results = {}
    for label, url in urls.items():
        response = client.get(url)
        db.session.remove()
        assert response.status_code == 200, (url, response.status_code)
        samples = []
        for _ in range(repeats):
            began = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - began) * 1000)
            db.session.remove()
            assert response.status_code == 200, (url, response.status_code)
        results[label] = {"p50": common.percentile(samples, 50), "p95": common.percentile(samples, 95)}
    return results


def time_calls(calls: dict, repeats: int) -> dict:
    results = {}
    for label, call in calls.items():
        call()
        samples = []
        for _ in range(repeats):
            began = time.perf_counter()
            call()
            samples.append((time.perf_counter() - began) * 1000)
        results[label] = {"p50": common.percentile(samples, 50), "p95": common.percentile(samples, 95)}
    return results


def run(size: str = "small") -> dict:
    from models import db
    from services import run_history_service

    sizes = SIZES[size]
    heading(f"B4 pages at scale: {sizes['runs']:,} executions and {sizes['workflows']:,} workflows in one workspace")
    url = common.pg_url()
    common.reset_database(url)
    app = common.make_app(url, WTF_CSRF_ENABLED=False, ENGINE_HANDOFF="sweep")
    with app.app_context():
        big_id, big_email, small_id, small_email = seed(sizes)
        big_urls, small_urls = pages(big_id), pages(small_id)
        if TRIAGE_ONLY:
            big_urls = {label: url for label, url in big_urls.items() if label.startswith(TRIAGE_PAGES)}
            small_urls = {label: url for label, url in small_urls.items() if label in big_urls}
            history_id = None
        else:
            history_id, small_history_id = seed_history(big_id, big_email), seed_history(small_id, small_email)
            big_urls.update(history_urls(history_id))
            small_urls.update(history_urls(small_history_id))
        db.session.remove()
        big = time_pages(login(app, big_email), big_urls, sizes["repeats"])
        small = time_pages(login(app, small_email), small_urls, sizes["repeats"])
        busy = db.session.scalar(text("SELECT workflow_id FROM workflow_executions WHERE workspace_id = :ws "
                                      "ORDER BY id DESC LIMIT 1"), {"ws": big_id})
        calls = {
            "stats strip (stats, 30 days)": lambda: run_history_service.stats(big_id, 30),
            "status tab counts": lambda: run_history_service.status_counts(big_id),
            "daily chart": lambda: run_history_service.daily_chart(big_id),
            "stats strip, one workflow": lambda: run_history_service.stats(big_id, 30, workflow_id=busy),
            "status tab counts, one workflow": lambda: run_history_service.status_counts(
                big_id, run_history_service.RunFilter(workflow_id=busy)),
        }
        if history_id is not None:
            calls[f"save of a workflow with {HISTORY_VERSIONS:,} versions (adds one, committed)"] = history_save(history_id)
        services = time_calls(calls, sizes["repeats"])
        db.session.remove()
        db.engine.dispose()
    worst, extra_worst = 0.0, 0.0
    for label in big:
        p95 = big[label]["p95"]
        if label in EXTRA_PAGES:
            extra_worst = max(extra_worst, p95)
        else:
            worst = max(worst, p95)
        line(f"{label}{' (extra)' if label in EXTRA_PAGES else ''}: p50 / p95", f"{big[label]['p50']:.1f} / {p95:.1f} ms",
             f"[{common.verdict(p95, TARGET_P95_MS, False)}]  ratio to small workspace "
             f"{p95 / small[label]['p95']:.1f}")
    for label, figures in services.items():
        line(f"service: {label}: p50 / p95", f"{figures['p50']:.1f} / {figures['p95']:.1f} ms",
             f"[{common.verdict(figures['p95'], TARGET_P95_MS, False)}]")
    line("worst B4 page p95", f"{worst:.1f} ms", f"[{common.verdict(worst, TARGET_P95_MS, False)} vs ≤ 50 ms]")
    line("worst extra page p95 (not in B4's verdict)", f"{extra_worst:.1f} ms",
         f"[{common.verdict(extra_worst, TARGET_P95_MS, False)} vs ≤ 50 ms]")
    return {"pages": big, "small": small, "services": services, "worst_p95": worst, "extra_worst_p95": extra_worst}

"""B4 pages at scale: server time of the workflow list, the Runs tabs (first and a deep page), the
stats strip and a run detail, with N executions and 5,000 workflows in one workspace (1,000,000
executions full size) plus another workspace's data. PostgreSQL.

Rows are generated in SQL (generate_series) with the shapes the engine writes: a 3-step
completed_actions array, statuses mostly completed, created_at spread over ~60 days.
Server time = the in-process WSGI call through Flask's test client (routing, queries, template).
Baseline in the same run: the same pages on a small workspace (100 runs, 10 workflows).
"""
import time

from sqlalchemy import text

from bench import common
from bench.common import heading, line

SIZES = {
    "small": {"runs": 30_000, "workflows": 5000, "other_runs": 3_000, "repeats": 5},
    "full": {"runs": 1_000_000, "workflows": 5000, "other_runs": 100_000, "repeats": 5},
}
TARGET_P95_MS = 50.0
STEP = ('{"index": %d, "type": "log_event", "status": "completed", "attempts": 1, '
        '"started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:00.004000+00:00", '
        '"duration_ms": 4, "input": {"event": "bench", "message": "Deal 1"}, '
        '"output": {"audit_event_id": 1, "event": "bench"}, "error": null}')
ACTIONS = '[' + ", ".join(STEP % n for n in range(3)) + ']'
DEFINITION = ('{"name": "Bench", "description": "", "trigger": {"type": "deal_created", "config": {}}, '
              '"conditions": [], "actions": [{"type": "log_event", "config": {"event": "bench"}}], '
              '"error_strategy": "continue", "status": "active"}')


def seed_executions(workspace_id: int, first_workflow_id: int, workflows: int, runs: int) -> None:
    """`runs` executions of the workspace: 90 % completed, 6 % failed, the rest spread over the other statuses."""
    from models import db

    db.session.execute(text(f"""
        INSERT INTO workflow_executions (workspace_id, workflow_id, workflow_name, trigger_type, source, definition,
            trigger_payload, status, created_at, started_at, finished_at, duration_ms, error, completed_actions,
            current_step, step_attempts, claim_count, event_depth)
        SELECT :ws, :wf0 + (g % :wfs), 'Workflow ' || (g % :wfs), 'deal_created', 'event', CAST(:definition AS jsonb),
            jsonb_build_object('deal', jsonb_build_object('id', g, 'title', 'Deal ' || g)),
            CASE WHEN g % 100 < 90 THEN 'completed' WHEN g % 100 < 96 THEN 'failed' WHEN g % 100 < 97 THEN 'cancelled'
                 WHEN g % 100 < 98 THEN 'paused' WHEN g % 100 < 99 THEN 'pending' ELSE 'running' END,
            now() - ((:runs - g) * interval '5 seconds'),
            now() - ((:runs - g) * interval '5 seconds'),
            now() - ((:runs - g) * interval '5 seconds') + interval '12 milliseconds',
            12, CASE WHEN g % 100 BETWEEN 90 AND 95 THEN 'Step 2 failed: boom' END,
            CAST(:actions AS jsonb), 3, 0, 1, 0
        FROM generate_series(1, :runs) AS g
    """), {"ws": workspace_id, "wf0": first_workflow_id, "wfs": workflows, "runs": runs,
           "definition": DEFINITION, "actions": ACTIONS})
    db.session.commit()


def seed(size: dict) -> tuple[int, str, int, int]:
    """Returns (big workspace id, owner email, small workspace id, small owner email)."""
    from sqlalchemy import func, select

    from bench.b3_dispatch import add_other_workflows
    from models import Workflow, db

    big_id, big_owner = common.seed_workspace("B4 Big Co")
    add_other_workflows(big_id, size["workflows"] - 1)
    first = db.session.scalar(select(func.min(Workflow.id)).where(Workflow.workspace_id == big_id))
    began = time.perf_counter()
    seed_executions(big_id, first, size["workflows"], size["runs"])
    other_id, _ = common.seed_workspace("B4 Other Co")
    add_other_workflows(other_id, 500)
    other_first = db.session.scalar(select(func.min(Workflow.id)).where(Workflow.workspace_id == other_id))
    seed_executions(other_id, other_first, 500, size["other_runs"])
    small_id, small_owner = common.seed_workspace("B4 Small Co")
    add_other_workflows(small_id, 9)
    small_first = db.session.scalar(select(func.min(Workflow.id)).where(Workflow.workspace_id == small_id))
    seed_executions(small_id, small_first, 10, 100)
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    line("seeded executions in", f"{time.perf_counter() - began:.0f}", "s")
    return big_id, big_owner.email, small_id, small_owner.email


def login(app, email: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": "bench-password-1"})
    assert response.status_code in (302, 303), response.status_code
    return client


def pages(workspace_id: int) -> dict[str, str]:
    from models import WorkflowExecution, db

    ids = db.session.scalars(
        text("SELECT id FROM workflow_executions WHERE workspace_id = :ws ORDER BY id"), {"ws": workspace_id}).all()
    deep = ids[len(ids) // 10]  # a page 90 % of the way down the history
    detail = ids[len(ids) // 2]
    urls = {"/automations": "/automations", "/automations?page=150 (deep)": "/automations?page=150"}
    for status in ("", "pending", "running", "completed", "failed", "cancelled", "paused"):
        suffix = f"status={status}&" if status else ""
        urls[f"runs {status or 'all'}"] = f"/automations/runs?{suffix}"
        urls[f"runs {status or 'all'} deep"] = f"/automations/runs?{suffix}before={deep}"
    urls["run detail"] = f"/automations/runs/{detail}"
    del WorkflowExecution
    return urls


def time_pages(client, urls: dict, repeats: int) -> dict:
    results = {}
    for label, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        samples = []
        for _ in range(repeats):
            began = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - began) * 1000)
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
        db.session.remove()
        big = time_pages(login(app, big_email), big_urls, sizes["repeats"])
        small = time_pages(login(app, small_email), small_urls, sizes["repeats"])
        calls = {
            "stats strip (stats, 30 days)": lambda: run_history_service.stats(big_id, 30),
            "status tab counts": lambda: run_history_service.status_counts(big_id),
            "daily chart": lambda: run_history_service.daily_chart(big_id),
        }
        services = time_calls(calls, sizes["repeats"])
        db.session.remove()
        db.engine.dispose()
    worst = 0.0
    for label in big:
        p95 = big[label]["p95"]
        worst = max(worst, p95)
        line(f"{label}: p50 / p95", f"{big[label]['p50']:.1f} / {p95:.1f} ms",
             f"[{common.verdict(p95, TARGET_P95_MS, False)}]  ratio to small workspace "
             f"{p95 / small[label]['p95']:.1f}")
    for label, figures in services.items():
        line(f"service: {label}: p50 / p95", f"{figures['p50']:.1f} / {figures['p95']:.1f} ms",
             f"[{common.verdict(figures['p95'], TARGET_P95_MS, False)}]")
    line("worst page p95", f"{worst:.1f} ms", f"[{common.verdict(worst, TARGET_P95_MS, False)} vs ≤ 50 ms]")
    return {"pages": big, "small": small, "services": services, "worst_p95": worst}

"""The retention prune at B4's size (issue #22): run AFTER `python -m bench.run --full --only B4`, on the database
it left (BENCH_PG_DB). `python -m bench.prune_at_scale [batches]`.

First times the Insights pages again (20 samples each, a second measurement beside B4's own).

Sets the big workspace's retention to 30 days (of the ~58 days B4 seeds), then times `batches` prune batches of
RUN_PRUNE_BATCH rows (each its own committed transaction, as the periodic prune runs them), checks that the stats
strip, status counts and the 30/90-day charts and Insights figures read the same before and after, and times the
Settings page (its Data retention section counts each table) and the Insights page after the prune.
"""
import sys
import time
from datetime import timedelta

from sqlalchemy import select, text

from bench import common
from bench.common import heading, line


def time_pages(client, urls: dict, repeats: int = 20) -> dict:
    results = {}
    for label, url in urls.items():
        assert client.get(url).status_code == 200, url
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append((time.perf_counter() - start) * 1000)
        results[label] = (common.percentile(times, 50), common.percentile(times, 95))
        line(f"{label}: p50 / p95", f"{results[label][0]:.1f} / {results[label][1]:.1f} ms")
    return results


def main(batches: int = 50) -> dict:
    from models import Workspace, db
    from models.base import utcnow
    from services import insights_service, retention_service, run_history_service
    from services.run_history_service import period_start

    app = common.make_app(common.pg_url(), WTF_CSRF_ENABLED=False, ENGINE_HANDOFF="sweep")
    heading(f"Retention prune at scale: {batches} batches on the B4 database")
    with app.app_context():
        big = db.session.scalar(select(Workspace).where(Workspace.name == "B4 Big Co"))
        owner = db.session.execute(text("SELECT u.email FROM users u JOIN memberships m ON m.user_id = u.id "
                                        "WHERE m.workspace_id = :ws AND m.role = 'owner'"), {"ws": big.id}).scalar()
        big.run_retention_days = 30
        db.session.commit()
        ws_id, batch = big.id, app.config["RUN_PRUNE_BATCH"]

        def figures():
            ids = db.session.scalars(text("SELECT id FROM workflows WHERE workspace_id = :ws ORDER BY id LIMIT 25"),
                                     {"ws": ws_id}).all()
            return (run_history_service.stats(ws_id, 90), run_history_service.status_counts(ws_id),
                    run_history_service.daily_chart(ws_id, 90),
                    {k: vars(v) for k, v in insights_service.figures_of(ws_id, ids, period_start(90)).items()})

        before = figures()
        workflow_id = db.session.scalar(text("SELECT workflow_id FROM workflow_executions WHERE workspace_id = :ws "
                                             "ORDER BY id DESC LIMIT 1"), {"ws": ws_id})
        db.session.remove()
        client = app.test_client()
        assert client.post("/login", data={"email": owner, "password": "bench-password-1"}).status_code in (302, 303)
        insights = {"/automations/runs (reference: a B4 page, 25.7 ms p95 on a quiet host)": "/automations/runs",
                    "/automations/insights": "/automations/insights",
                    "/automations/insights?period=90": "/automations/insights?period=90",
                    "/automations/insights?page=150": "/automations/insights?page=150",
                    "insights of one workflow": f"/automations/insights/{workflow_id}",
                    "insights of one workflow, 90 days": f"/automations/insights/{workflow_id}?period=90"}
        before_pages = time_pages(client, insights)
        runs = retention_service.TABLES[0]
        cutoff = utcnow() - timedelta(days=30)
        samples, deleted = [], 0
        began = time.perf_counter()
        for _ in range(batches):
            start = time.perf_counter()
            deleted += retention_service.prune_batch(runs, ws_id, cutoff, batch)
            samples.append((time.perf_counter() - start) * 1000)
        elapsed = time.perf_counter() - began
        same = figures() == before
        line(f"prune batch of {batch:,} runs (committed): p50 / p95 / max",
             f"{common.percentile(samples, 50):.0f} / {common.percentile(samples, 95):.0f} / {max(samples):.0f} ms")
        line("runs deleted / rate", f"{deleted:,} in {elapsed:.1f} s", f"{deleted / elapsed:,.0f} runs/s")
        line("stats, status counts, 90-day chart, Insights figures unchanged", "yes" if same else "NO",
             "[OK]" if same else "[WRONG]")
        db.session.commit()  # (not remove(): the signed-in user, in g of this app context, stays in this session)
        results = time_pages(client, {"/settings/workspace (counts each table)": "/settings/workspace",
                                      "/automations/insights after the prune": "/automations/insights"}, 10)
        db.session.remove()
        db.engine.dispose()
    return {"batch_ms": samples, "deleted": deleted, "unchanged": same, "pages": results, "insights": before_pages}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)

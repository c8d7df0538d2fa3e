"""Insights (issue #22): /automations/insights and a workflow's insights page, read as a person reads them."""
import re
from datetime import timedelta

from sqlalchemy import select

from models import AuditEvent, Workflow, db
from models.base import utcnow
from services import retention_service
from tests.factories import make_workflow, make_workspace
from tests.http.test_runs import add_run, add_runs, page_text


def row(html: str, workflow_id: int) -> dict:
    match = re.search(rf'<tr data-workflow-id="{workflow_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row for workflow {workflow_id}"
    return {key: value.strip() for key, value in re.findall(r'data-col="(\w+)">([^<]*)<', match.group(1))}


def stat(html: str, key: str) -> str:
    match = re.search(rf'data-stat="{key}">([^<]*)<', html)
    assert match, f"no {key} figure"
    return match.group(1).strip()


def step_record(index: int, action: str, error: str) -> dict:
    return {"index": index, "path": str(index), "type": action, "status": "failed", "attempts": 1, "error": error}


def test_each_workflow_shows_its_runs_success_rate_failures_and_duration(logged_in):
    client, ws, _ = logged_in()
    busy = make_workflow(ws.id, name="Busy flow")
    quiet = make_workflow(ws.id, name="Quiet flow")
    add_runs(busy, 3, status="completed", duration_ms=100)
    add_runs(busy, 1, status="failed", duration_ms=500)
    add_runs(busy, 1, status="pending")
    add_runs(busy, 2, status="completed", duration_ms=100, created_at=utcnow() - timedelta(days=45))  # before 30 days
    other = make_workflow(make_workspace("Tenant B").id, name="Flow of Tenant B")
    add_runs(other, 4, status="failed", duration_ms=9)

    html = page_text(client.get("/automations/insights"))
    assert row(html, busy.id) == {"runs": "5", "success_rate": "75%", "failed": "1", "avg_duration": "200 ms",
                                  "time_saved": "—"}
    assert row(html, quiet.id)["runs"] == "0" and row(html, quiet.id)["success_rate"] == "—"
    assert "Flow of Tenant B" not in html
    assert stat(html, "total") == "5" and stat(html, "failed") == "1"

    html90 = page_text(client.get("/automations/insights?period=90"))
    assert row(html90, busy.id)["runs"] == "7", "the 90-day period counts the older runs"
    assert 'aria-label="7 runs over the last 90 days' in html90, "the trend chart"


def test_a_workflow_page_shows_p50_p95_and_failures_by_step(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, name="Onboarding")
    for duration in range(10, 201, 10):  # 20 runs: 10, 20, ..., 200 ms
        add_run(workflow, status="completed", duration_ms=duration)
    for error in ("SMTP down", "SMTP still down"):
        add_run(workflow, status="failed", duration_ms=None,
                records=[{"index": 0, "path": "0", "type": "log_event", "status": "completed"},
                         step_record(1, "send_template_email", error)])
    add_run(workflow, status="failed", records=[step_record(0, "log_event", "bad message")])
    db.session.commit()

    html = page_text(client.get(f"/automations/insights/{workflow.id}"))
    assert stat(html, "p50") == "100 ms" and stat(html, "p95") == "190 ms"
    assert stat(html, "total") == "23" and stat(html, "success_rate") == "87%"
    failures = re.findall(r"<tr><td>(Step [^<]+)</td><td class=\"text-end\" data-failures-count>(\d+)</td>", html)
    assert failures == [("Step 2 · Send Template Email", "2"), ("Step 1 · Log Event", "1")], failures
    assert "SMTP still down" in html, "the latest error of the step"
    assert 'aria-label="23 runs over the last 30 days' in html


def test_minutes_saved_per_run_gives_time_saved(logged_in):
    client, ws, member = logged_in("member")
    workflow = make_workflow(ws.id, name="Invoice chaser")
    add_runs(workflow, 6, status="completed", duration_ms=50)
    add_runs(workflow, 2, status="failed", duration_ms=50)

    response = client.post(f"/automations/insights/{workflow.id}/minutes-saved", data={"minutes_saved_per_run": "15"})
    assert response.status_code == 302
    html = page_text(client.get(f"/automations/insights/{workflow.id}"))
    assert stat(html, "time_saved") == "1 h 30 m", "15 minutes × 6 completed runs (failed ones save nothing)"
    overview = page_text(client.get("/automations/insights"))
    assert row(overview, workflow.id)["time_saved"] == "1 h 30 m" and stat(overview, "time_saved") == "1 h 30 m"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "workflow.minutes_saved_changed"))
    assert event.data == {"from": None, "to": 15} and event.actor_id == member.id

    for bad in ("-1", "abc", "10081", "2.5"):
        response = client.post(f"/automations/insights/{workflow.id}/minutes-saved", data={"minutes_saved_per_run": bad})
        assert response.status_code == 422, bad
        assert "Enter whole minutes from 0 to 10,080" in page_text(response)
    assert db.session.get(Workflow, workflow.id).minutes_saved_per_run == 15

    assert client.post(f"/automations/insights/{workflow.id}/minutes-saved",
                       data={"minutes_saved_per_run": ""}).status_code == 302
    assert stat(page_text(client.get("/automations/insights")), "time_saved") == "—"


def test_insights_are_the_same_after_the_prune(logged_in):
    """The figures and the chart come from the rollups: pruning the runs behind them changes nothing."""
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, name="Old timer")
    add_runs(workflow, 4, status="completed", duration_ms=80, created_at=utcnow() - timedelta(days=20),
             finished_at=utcnow() - timedelta(days=20))
    add_runs(workflow, 1, status="failed", duration_ms=20, created_at=utcnow() - timedelta(days=20),
             finished_at=utcnow() - timedelta(days=20))
    ws.run_retention_days = 7
    db.session.commit()

    def figures():
        html = page_text(client.get("/automations/insights"))
        chart = re.findall(r'data-status="(\w+)" data-count="(\d+)"', html)
        return row(html, workflow.id), stat(html, "total"), chart

    before = figures()
    assert before[0]["runs"] == "5"
    result = retention_service.prune_workspace(ws)
    assert result.deleted["runs"] == 5
    assert figures() == before
    detail = page_text(client.get(f"/automations/insights/{workflow.id}"))
    assert "Runs are kept 7 days" in detail and stat(detail, "total") == "5"


def test_search_pages_and_the_navigation_link(logged_in):
    client, ws, _ = logged_in()
    for n in range(30):
        make_workflow(ws.id, name=f"Flow {n:02d}")
    make_workflow(ws.id, name="Needle")
    html = page_text(client.get("/automations/insights"))
    assert re.search(r'<a class="nav-link active" href="/automations/insights" aria-current="page">\s*'
                     r'<i class="bi bi-graph-up" aria-hidden="true"></i> Insights', html), "in the Automations menu"
    assert "31 workflows · page 1 of 2" in html and "Flow 24" in html and "Needle" not in html
    assert "Needle" in page_text(client.get("/automations/insights?page=2"))
    found = page_text(client.get("/automations/insights?q=need"))
    assert "Needle" in found and "Flow 01" not in found
    assert client.get("/automations/insights?page=abc&period=13").status_code == 200


def test_insights_follow_the_feature_flag_and_sign_in(make_app):
    app = make_app(AUTOMATIONS_ENABLED=False)
    with app.app_context():
        ws = make_workspace()
        client = app.test_client()
        assert client.get("/automations/insights").status_code in (302, 401)
        from tests.conftest import owner_of
        client.post("/login", data={"email": owner_of(ws).email, "password": "test-pass-2718"})
        assert client.get("/automations/insights").status_code == 404
        db.session.remove()

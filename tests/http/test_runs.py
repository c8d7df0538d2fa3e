"""The Runs tab and run detail over HTTP: tabs, filters, keyset pages, formatting, stats, isolation,
roles, replay and cancel. Runs are made directly (ENGINE_HANDOFF=sweep: nothing runs unless asked)."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.factories import new_execution
from models import Deal, WorkflowExecution, db
from models.base import utcnow
from services import run_history_service
from tests.factories import make_workflow
from tests.support.engine import load_execution, log_step
from webapp.viewhelpers import format_duration, relative_time


@pytest.fixture
def app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


def add_run(workflow, status="completed", created_at=None, duration_ms=None, error=None, records=None, payload=None,
            **fields):
    execution = new_execution(workflow, payload or {"deal": {"title": "Acme"}})
    execution.status = status
    execution.created_at = created_at or utcnow()
    execution.started_at = fields.pop("started_at", execution.created_at)
    execution.duration_ms = duration_ms
    execution.error = error
    execution.completed_actions = records or []
    for key, value in fields.items():
        setattr(execution, key, value)
    db.session.add(execution)
    db.session.flush()
    return execution


def add_runs(workflow, count, **fields):
    runs = [add_run(workflow, **fields) for _ in range(count)]
    db.session.commit()
    return runs


def page_text(response) -> str:
    return response.get_data(as_text=True)


def run_ids(response) -> list[int]:
    return [int(value) for value in re.findall(r'data-run-id="(\d+)"', page_text(response))]


def tab_count(response, tab) -> int:
    match = re.search(rf'data-tab="{tab}">\s*\w+ <span class="badge[^"]*">([\d,]+)</span>', page_text(response))
    assert match, f"no {tab} tab"
    return int(match.group(1).replace(",", ""))


# -- formatting -------------------------------------------------------------------------------------
@pytest.mark.parametrize("ms, text", [
    (0, "0 ms"), (999, "999 ms"), (1000, "1 s"), (1500, "1.5 s"), (59_999, "59.9 s"), (60_000, "1 m"),
    (125_000, "2 m 5 s"), (3 * 3600_000, "3 h"), (3 * 3600_000 + 5 * 60_000, "3 h 5 m"), (None, "—"),
])
def test_durations_read_in_ms_s_m_h(ms, text):
    assert format_duration(ms) == text


def test_relative_times():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert relative_time(now - timedelta(seconds=3), now) == "just now"
    assert relative_time(now - timedelta(seconds=42), now) == "42 s ago"
    assert relative_time(now - timedelta(minutes=3, seconds=20), now) == "3 min ago"
    assert relative_time(now - timedelta(hours=5), now) == "5 h ago"
    assert relative_time(now - timedelta(hours=30), now) == "yesterday"
    assert relative_time(now - timedelta(days=3), now) == "3 days ago"
    assert relative_time(now - timedelta(days=40), now) == "Oct 16"
    assert relative_time(now + timedelta(minutes=5), now) == "in 5 min"


def test_the_tab_shows_durations_and_relative_start_times_with_the_exact_time_on_hover(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id, name="Thank-you flow")
    started = utcnow() - timedelta(minutes=3, seconds=5)
    for ms in (0, 999, 1500, 125_000, 3 * 3600_000):
        add_run(workflow, duration_ms=ms, created_at=started, started_at=started)
    db.session.commit()

    html = page_text(client.get("/automations/runs"))
    cells = re.findall(r'<td class="small text-end text-nowrap">([^<]+)</td>', html)
    assert cells == ["3 h", "2 m 5 s", "1.5 s", "999 ms", "0 ms"]
    assert html.count(">3 min ago</time>") == 5
    assert f'title="{started.strftime("%Y-%m-%d %H:%M:%S")} UTC"' in html
    assert "Thank-you flow" in html


# -- tabs, filters, pages -------------------------------------------------------------------------
def test_status_tabs_count_and_filter(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    add_runs(workflow, 3, status="completed", duration_ms=10)
    failed = add_runs(workflow, 2, status="failed", error="Step 2 failed: No such deal.")
    add_runs(workflow, 1, status="running")
    add_runs(workflow, 1, status="cancelled")

    response = client.get("/automations/runs")
    assert response.status_code == 200
    assert [tab_count(response, tab) for tab in ("all", "pending", "running", "completed", "failed", "cancelled", "paused")] \
        == [7, 0, 1, 3, 2, 1, 0]
    assert len(run_ids(response)) == 7

    failed_tab = client.get("/automations/runs?status=failed")
    assert sorted(run_ids(failed_tab)) == sorted(run.id for run in failed)
    assert "Step 2 failed: No such deal." in page_text(failed_tab)
    assert tab_count(failed_tab, "all") == 7  # the tabs keep counting every status

    assert client.get("/automations/runs?status=exploded").status_code == 422


def test_filter_by_workflow_and_dates(logged_in, workspace):
    client, ws, _ = logged_in("member")
    first = make_workflow(ws.id, name="First")
    second = make_workflow(ws.id, name="Second")
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    old = add_run(first, created_at=today - timedelta(days=10))
    recent = add_run(first, created_at=today - timedelta(days=1))
    other_flow = add_run(second, created_at=today - timedelta(days=1))
    db.session.commit()

    assert sorted(run_ids(client.get(f"/automations/runs?workflow={first.id}"))) == [old.id, recent.id]
    yesterday = (today - timedelta(days=1)).date().isoformat()
    by_day = client.get(f"/automations/runs?from={yesterday}&to={yesterday}")
    assert sorted(run_ids(by_day)) == [recent.id, other_flow.id]
    assert tab_count(by_day, "all") == 2
    both = client.get(f"/automations/runs?workflow={first.id}&from={yesterday}")
    assert run_ids(both) == [recent.id] and tab_count(both, "completed") == 1

    bad = client.get("/automations/runs?from=yesterday&to=2026-13-01")
    assert bad.status_code == 422
    assert page_text(bad).count("Enter a date as YYYY-MM-DD.") == 2
    backwards = client.get("/automations/runs?from=2026-05-02&to=2026-05-01")
    assert "The end date must not be before the start date." in page_text(backwards)

    stranger = make_workflow(workspace().id, name="Not yours")
    foreign_filter = client.get(f"/automations/runs?workflow={stranger.id}")
    assert foreign_filter.status_code == 422 and "Not yours" not in page_text(foreign_filter)


def test_dates_at_the_ends_of_the_calendar_are_answered(logged_in):
    client, ws, _ = logged_in("member")
    run = add_run(make_workflow(ws.id))
    db.session.commit()
    for query in ("from=0001-01-01", "to=9999-12-31", "from=0001-01-01&to=9999-12-31"):
        response = client.get(f"/automations/runs?{query}")
        assert response.status_code == 200 and run_ids(response) == [run.id], query


def workflow_filter(response) -> str:
    return re.search(r'<select[^>]*id="filter-workflow".*?</select>', page_text(response), re.S).group(0)


def test_a_small_workspace_gets_every_workflow_in_a_plain_select(logged_in):
    client, ws, _ = logged_in("member")
    for name in ("beta", "Alpha", "gamma"):
        make_workflow(ws.id, name=name)
    select_html = workflow_filter(client.get("/automations/runs"))
    assert re.findall(r'<option value="\d+" >([^<]+)</option>', select_html) == ["Alpha", "beta", "gamma"]
    assert "data-search-url" not in select_html


def test_a_large_workspace_searches_its_workflows_and_keeps_the_chosen_one(logged_in, workspace, monkeypatch):
    from webapp.blueprints import runs as runs_views

    monkeypatch.setattr(runs_views, "PLAIN_WORKFLOW_SELECT_MAX", 3)
    client, ws, _ = logged_in("member")
    flows = [make_workflow(ws.id, name=name) for name in ("Invoice paid", "invoice overdue", "Deal won", "50%_off")]
    add_run(flows[2])
    db.session.commit()
    make_workflow(workspace().id, name="Invoice of another workspace")

    everything = client.get("/automations/runs?status=completed")
    select_html = workflow_filter(everything)
    assert 'data-search-url="/automations/runs/workflows"' in select_html
    # Without JavaScript, a run's funnel link filters by its workflow.
    assert f'href="/automations/runs?status=completed&amp;workflow={flows[2].id}"' in page_text(everything)
    assert re.findall(r"<option[^>]*>([^<]+)</option>", select_html) == ["All workflows"]
    chosen = client.get(f"/automations/runs?workflow={flows[2].id}")
    assert re.findall(r"<option[^>]*>([^<]+)</option>", workflow_filter(chosen)) == ["All workflows", "Deal won"]
    assert f'<option value="{flows[2].id}" selected>Deal won</option>' in workflow_filter(chosen)

    def names(query):
        response = client.get("/automations/runs/workflows", query_string={"q": query})
        assert response.status_code == 200 and response.is_json
        return [item["name"] for item in response.get_json()["workflows"]]

    assert names("INVOICE") == ["invoice overdue", "Invoice paid"]
    assert names("") == ["50%_off", "Deal won", "invoice overdue", "Invoice paid"]
    assert names("%") == ["50%_off"] and names("_o") == ["50%_off"] and names("x" * 5000) == []
    assert names("Invoice of another") == []


def test_the_workflow_search_returns_at_most_20(logged_in):
    client, ws, _ = logged_in("member")
    for n in range(23):
        make_workflow(ws.id, name=f"Flow {n:02d}")
    found = client.get("/automations/runs/workflows?q=flow").get_json()["workflows"]
    assert [item["name"] for item in found] == [f"Flow {n:02d}" for n in range(20)]


def test_keyset_pages_have_exact_boundaries(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    size = run_history_service.PAGE_SIZE
    runs = add_runs(workflow, size)
    newest_first = [run.id for run in reversed(runs)]

    full = client.get("/automations/runs")
    assert run_ids(full) == newest_first
    assert 'rel="next"' not in page_text(full)  # exactly one page: no pager

    extra = add_runs(workflow, size + 1)
    newest_first = [run.id for run in reversed(runs + extra)]  # 2 × size + 1 runs
    first = client.get("/automations/runs")
    assert run_ids(first) == newest_first[:size]
    assert f"before={newest_first[size - 1]}" in page_text(first)
    assert "after=" not in page_text(first)

    second = client.get(f"/automations/runs?before={newest_first[size - 1]}")
    assert run_ids(second) == newest_first[size:2 * size]
    assert f"after={newest_first[size]}" in page_text(second)
    third = client.get(f"/automations/runs?before={newest_first[2 * size - 1]}")
    assert run_ids(third) == newest_first[2 * size:]
    assert "before=" not in page_text(third)  # the oldest page has no older link

    back = client.get(f"/automations/runs?after={newest_first[2 * size]}")
    assert run_ids(back) == newest_first[size:2 * size]
    back_to_top = client.get(f"/automations/runs?after={newest_first[size]}")
    assert run_ids(back_to_top) == newest_first[:size]

    filtered = client.get(f"/automations/runs?status=completed&before={newest_first[size - 1]}")
    assert "status=completed" in page_text(filtered).split('rel="prev"')[0].rsplit("<a", 1)[-1]
    assert client.get("/automations/runs?before=abc").status_code == 422
    assert client.get("/automations/runs?after=-5").status_code == 422


def test_running_rows_poll_until_nothing_runs(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    running = add_run(workflow, status="running")
    db.session.commit()

    page = page_text(client.get("/automations/runs"))
    assert 'hx-trigger="load delay:2s"' in page
    partial = client.get("/automations/runs", headers={"HX-Request": "true", "HX-Target": "runs-table"})
    assert page_text(partial).startswith('\n<div id="runs-table"') or page_text(partial).lstrip().startswith('<div id="runs-table"')
    assert "<html" not in page_text(partial)

    running.status = "completed"
    db.session.commit()
    partial = client.get("/automations/runs", headers={"HX-Request": "true", "HX-Target": "runs-table"})
    assert "hx-trigger" not in page_text(partial)


# -- stats and chart ---------------------------------------------------------------------------------
def direct_counts(workspace_id, since=None, workflow_id=None):
    conditions = [WorkflowExecution.workspace_id == workspace_id]
    if since:
        conditions.append(WorkflowExecution.created_at >= datetime.combine(since, datetime.min.time(), timezone.utc))
    if workflow_id:
        conditions.append(WorkflowExecution.workflow_id == workflow_id)

    def count(*extra):
        return db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(*conditions, *extra))

    durations = db.session.execute(select(func.sum(WorkflowExecution.duration_ms), func.count(WorkflowExecution.duration_ms))
                                   .where(*conditions)).one()
    return {"total": count(), "completed": count(WorkflowExecution.status == "completed"),
            "failed": count(WorkflowExecution.status == "failed"), "duration_sum": durations[0] or 0,
            "timed": durations[1]}


def test_stats_equal_a_direct_count(logged_in, workspace):
    client, ws, _ = logged_in("member")
    first = make_workflow(ws.id, name="First")
    second = make_workflow(ws.id, name="Second")
    now = utcnow()
    statuses = ["completed", "failed", "completed", "cancelled", "running", "completed", "pending", "failed", "paused"]
    for n in range(60):
        add_run(first if n % 3 else second, status=statuses[n % len(statuses)], created_at=now - timedelta(hours=7 * n),
                duration_ms=(n * 137) if statuses[n % len(statuses)] in ("completed", "failed") else None)
    stranger = make_workflow(workspace().id)
    add_run(stranger, status="failed", duration_ms=99_999)
    db.session.commit()

    for period in (1, 7, 30, 90):
        since = run_history_service.period_start(period)
        for workflow_id in (None, first.id, second.id):
            expected = direct_counts(ws.id, since, workflow_id)
            stats = run_history_service.stats(ws.id, period_days=period, workflow_id=workflow_id)
            assert stats["total"] == expected["total"]
            assert stats["completed"] == expected["completed"]
            assert stats["failed"] == expected["failed"]
            finished = expected["completed"] + expected["failed"]
            assert stats["success_rate"] == (round(100 * expected["completed"] / finished, 1) if finished else None)
            assert stats["avg_duration_ms"] == (round(expected["duration_sum"] / expected["timed"]) if expected["timed"] else None)

    counts = run_history_service.status_counts(ws.id)
    assert counts["all"] == direct_counts(ws.id)["total"] == 60

    week = run_history_service.stats(ws.id, period_days=7)
    html = page_text(client.get("/automations/runs?period=7"))
    assert re.search(rf'data-stat="total">{week["total"]}<', html)
    assert re.search(rf'data-stat="failed">{week["failed"]}<', html)
    assert f'data-stat="avg_duration">{format_duration(week["avg_duration_ms"])}<' in html


def test_daily_chart_counts_each_day(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    add_run(workflow, status="completed", created_at=today)
    add_run(workflow, status="failed", created_at=today)
    add_run(workflow, status="failed", created_at=today - timedelta(days=2))
    add_run(workflow, status="completed", created_at=today - timedelta(days=45))  # outside the 30 days
    db.session.commit()

    chart = run_history_service.daily_chart(ws.id, days=30)
    assert len(chart["days"]) == 30 and chart["days"][-1]["day"] == today.date()
    assert chart["days"][-1]["counts"]["completed"] == 1 and chart["days"][-1]["counts"]["failed"] == 1
    assert chart["days"][-3]["counts"]["failed"] == 1
    assert chart["total"] == 3 and chart["max_total"] == 2

    html = page_text(client.get("/automations/runs?period=30"))
    assert html.count('data-status="failed" data-count="1"') == 2
    assert "<svg" in html and "3 runs over the last 30 days" in html
    # the period buttons move the chart with the strip (issue #23)
    week = page_text(client.get("/automations/runs?period=7"))
    assert "3 runs over the last 7 days" in week and "Runs per day, last 7 days" in week
    today_only = page_text(client.get("/automations/runs?period=1"))
    assert "2 runs over the last 1 day," in today_only


# -- isolation, roles --------------------------------------------------------------------------------
def test_other_workspaces_runs_are_404(logged_in, workspace):
    client, ws, _ = logged_in("owner")
    mine = add_run(make_workflow(ws.id, name="Mine"))
    theirs = add_run(make_workflow(workspace().id, name="Theirs"), status="failed",
                     records=[{"index": 0, "type": "log_event", "status": "failed", "error": "x"}])
    db.session.commit()

    assert client.get(f"/automations/runs/{mine.id}").status_code == 200
    assert client.get(f"/automations/runs/{theirs.id}").status_code == 404
    assert client.post(f"/automations/runs/{theirs.id}/replay", data={"mode": "start"}).status_code == 404
    assert client.post(f"/automations/runs/{theirs.id}/cancel").status_code == 404
    assert client.get("/automations/runs/999999999").status_code == 404
    assert "Theirs" not in page_text(client.get("/automations/runs"))
    assert load_execution(theirs.id).status == "failed"
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 2


def test_members_view_but_cannot_replay_or_cancel(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    failed = add_run(workflow, status="failed", error="boom",
                     records=[{"index": 0, "type": "log_event", "status": "failed", "error": "boom"}])
    pending = add_run(workflow, status="pending")
    db.session.commit()

    html = page_text(client.get(f"/automations/runs/{failed.id}"))
    assert "boom" in html and "Replay" not in html.split("</h1>")[1].split("Steps")[0]
    assert "Cancel run" not in page_text(client.get(f"/automations/runs/{pending.id}"))
    assert "Replay failed runs" not in page_text(client.get("/automations/runs"))
    assert client.post(f"/automations/runs/{failed.id}/replay", data={"mode": "start"}).status_code == 403
    assert client.post(f"/automations/runs/{pending.id}/cancel").status_code == 403
    assert client.get("/automations/runs/replay-failed").status_code == 403
    assert client.post("/automations/runs/replay-failed").status_code == 403
    assert load_execution(pending.id).status == "pending"
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 2


def test_the_pages_404_with_the_flag_off(make_app, workspace):
    app = make_app(AUTOMATIONS_ENABLED=False)
    client = app.test_client()
    with app.app_context():
        ws = workspace()
        owner = ws.memberships[0].user
        client.post("/login", data={"email": owner.email, "password": "test-pass-2718"})
        assert client.get("/automations/runs").status_code == 404
        assert client.get("/automations/runs/1").status_code == 404


# -- the run detail, replay and cancel ----------------------------------------------------------------
def test_detail_shows_payload_steps_outputs_errors_and_snapshot(logged_in):
    client, ws, _ = logged_in("member")
    deal = Deal(workspace_id=ws.id, title="Linked deal")
    db.session.add(deal)
    db.session.flush()
    workflow = make_workflow(ws.id, name="Detail flow", error_strategy="stop", actions=[
        log_step("one"), {"type": "update_deal", "config": {"deal_id": deal.id, "changes": {"notes": "x"}}}, log_step("three")])
    started = utcnow() - timedelta(minutes=2)
    run = add_run(workflow, status="failed", error="No such deal.", duration_ms=1500, records=[
        {"index": 0, "type": "log_event", "status": "completed", "attempts": 1, "started_at": started.isoformat(),
         "finished_at": started.isoformat(), "duration_ms": 12, "input": {"event": "one"}, "output": {"deal_id": deal.id},
         "error": None},
        {"index": 1, "type": "update_deal", "status": "failed", "attempts": 1, "started_at": started.isoformat(),
         "finished_at": started.isoformat(), "duration_ms": 999, "input": {}, "output": {}, "error": "No such deal."},
        {"index": 2, "type": "log_event", "status": "skipped", "attempts": 0, "started_at": None, "finished_at": None,
         "duration_ms": None, "input": {}, "output": {}, "error": None,
         "skipped_reason": "Step 2 failed and the error strategy is Stop on error."},
    ])
    db.session.commit()

    html = page_text(client.get(f"/automations/runs/{run.id}"))
    assert "Run #%d" % run.id in html and 'data-status="failed"' in html
    assert "&#34;title&#34;: &#34;Acme&#34;" in html  # the trigger payload, as JSON
    assert re.findall(r'class="card mb-2 run-step" data-step="(\d)" data-status="(\w+)"', html) == [
        ("1", "completed"), ("2", "failed"), ("3", "skipped")]
    assert "Step 2 (Update Deal) failed" in html and "No such deal." in html
    assert "Stop on error." in html
    assert f'href="/crm/deals/{deal.id}">Deal #{deal.id}</a>' in html
    assert "Definition this run used" in html and "&#34;error_strategy&#34;: &#34;stop&#34;" in html
    assert "999 ms" in html and "1.5 s" in html


def test_replay_from_the_failed_step_over_http(logged_in):
    client, ws, _ = logged_in("admin")
    workflow = make_workflow(ws.id, actions=[log_step("one"), log_step("two")])
    original = add_run(workflow, status="failed", error="boom", records=[
        {"index": 0, "type": "log_event", "status": "completed", "attempts": 1, "output": {"audit_event_id": 7}},
        {"index": 1, "type": "log_event", "status": "failed", "attempts": 1, "output": {}, "error": "boom"},
    ])
    db.session.commit()

    response = client.post(f"/automations/runs/{original.id}/replay", data={"mode": "failed_step", "definition": "current"})
    assert response.status_code == 302
    replay = db.session.scalar(select(WorkflowExecution).where(WorkflowExecution.replay_of_id == original.id))
    assert response.headers["Location"].endswith(f"/automations/runs/{replay.id}")
    assert replay.current_step == 1 and replay.completed_actions[0]["replayed_from"] == original.id
    assert f"run #{original.id}" in page_text(client.get(f"/automations/runs/{replay.id}"))
    assert f"#{replay.id}" in page_text(client.get(f"/automations/runs/{original.id}"))

    bad = client.post(f"/automations/runs/{original.id}/replay", data={"mode": "sideways"})
    assert bad.status_code == 422 and "Replay from the failed step or from the start." in page_text(bad)
    unfinished = client.post(f"/automations/runs/{replay.id}/replay", data={"mode": "start"})
    assert unfinished.status_code == 422
    no_csrf = client.post(f"/automations/runs/{original.id}/replay", data={"mode": "start"}, csrf=False)
    assert no_csrf.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 2


def test_cancel_a_pending_run(logged_in):
    client, ws, _ = logged_in("owner")
    run = add_run(make_workflow(ws.id), status="pending")
    db.session.commit()
    html = page_text(client.get(f"/automations/runs/{run.id}"))
    assert "Cancel run" in html and 'hx-trigger="load delay:1s"' in html

    assert client.post(f"/automations/runs/{run.id}/cancel").status_code == 302
    cancelled = load_execution(run.id)
    assert cancelled.status == "cancelled"
    html = page_text(client.get(f"/automations/runs/{run.id}", follow_redirects=True))
    assert 'data-status="cancelled"' in html and "Cancel run" not in html and "hx-trigger" not in html
    again = client.post(f"/automations/runs/{run.id}/cancel", follow_redirects=True)
    assert "nothing to cancel" in page_text(again)


def test_bulk_replay_confirms_the_count_first(logged_in):
    client, ws, _ = logged_in("owner")
    first = make_workflow(ws.id, name="First")
    second = make_workflow(ws.id, name="Second")
    records = [{"index": 0, "type": "log_event", "status": "failed", "error": "boom"}]
    add_runs(first, 3, status="failed", records=records)
    add_runs(second, 2, status="failed", records=records)
    add_runs(first, 2, status="completed")

    confirm = client.get(f"/automations/runs/replay-failed?workflow={first.id}")
    assert confirm.status_code == 200
    assert re.search(r"Replay <strong>3</strong> failed runs", page_text(confirm))
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 7  # a GET changes nothing

    up_to = re.search(r'name="up_to_id" value="(\d+)"', page_text(confirm)).group(1)
    add_runs(first, 1, status="failed", records=records)  # arrives after the confirmation: not included
    done = client.post("/automations/runs/replay-failed", data={
        "workflow": first.id, "up_to_id": up_to, "mode": "start", "definition": "snapshot"})
    assert done.status_code == 302
    replays = list(db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.source == "replay")))
    assert len(replays) == 3 and all(r.workflow_id == first.id for r in replays)
    again = client.get(f"/automations/runs/replay-failed?workflow={first.id}")
    assert re.search(r"Replay <strong>1</strong> failed run\?", page_text(again))

"""Settings → Workspace: the time zone every time is shown in, and new schedules' default (issue #23)."""
from datetime import datetime, timezone

from sqlalchemy import select

from models import AuditEvent, Workspace, db
from tests.factories import make_workflow
from tests.http.test_runs import add_run, page_text


def test_an_owner_sets_the_time_zone_and_times_follow_it(logged_in):
    client, ws, _ = logged_in()
    run = add_run(make_workflow(ws.id), created_at=datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc))
    db.session.commit()
    before = page_text(client.get(f"/automations/runs/{run.id}"))
    assert "2026-01-15 12:00:00 UTC" in before and "Times are in UTC" in before

    response = client.post("/settings/workspace", data={"timezone": "Europe/Berlin"})
    assert response.status_code == 302
    assert db.session.get(Workspace, ws.id).timezone == "Europe/Berlin"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "workspace.time_zone_changed"))
    assert event.data == {"from": "UTC", "to": "Europe/Berlin"}

    after = page_text(client.get(f"/automations/runs/{run.id}"))
    assert "2026-01-15 13:00:00 CET" in after and "Times are in Europe/Berlin" in after
    assert 'selected>Europe/Berlin<' in page_text(client.get("/settings/workspace"))


def test_an_unknown_zone_is_refused_under_the_field(logged_in):
    client, ws, _ = logged_in()
    response = client.post("/settings/workspace", data={"timezone": "Mars/Olympus"})
    assert response.status_code == 422
    assert "Choose a time zone from the list" in page_text(response)
    assert db.session.get(Workspace, ws.id).timezone == "UTC"


def test_a_member_sees_the_zone_but_cannot_change_it(logged_in):
    client, ws, _ = logged_in("member")
    assert "Only owners and admins can change it." in page_text(client.get("/settings/workspace"))
    assert client.post("/settings/workspace", data={"timezone": "Asia/Tokyo"}).status_code == 403
    assert db.session.get(Workspace, ws.id).timezone == "UTC"


def test_new_schedules_start_in_the_workspace_zone(logged_in):
    client, ws, _ = logged_in()
    client.post("/settings/workspace", data={"timezone": "Asia/Tokyo"})
    html = page_text(client.get("/automations/new?trigger=scheduled"))
    assert 'name="trigger_config-timezone" value="Asia/Tokyo"' in html
    switched = client.post("/automations/editor/render", data={"name": "x", "trigger_type": "scheduled", "edit": "change_trigger"})
    assert 'name="trigger_config-timezone" value="Asia/Tokyo"' in page_text(switched)

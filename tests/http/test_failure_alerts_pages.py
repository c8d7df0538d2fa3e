"""The pages of failure alerts and auto-pause: the workspace default on Settings → Workspace, the editor's
settings panel (owners and admins), and a paused workflow's reason with "Fix and activate" in the list and editor."""
import re

from sqlalchemy import select

from models import Notification, Workflow, Workspace, db
from models.base import utcnow
from services import notification_service
from tests.factories import make_workflow
from tests.http.test_workflows import editor_form


def reload(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


# -- Settings → Workspace: the default ----------------------------------------------------------------

def test_an_owner_sets_the_workspace_default(logged_in):
    client, ws, _ = logged_in("owner")
    page = client.get("/settings/workspace").get_data(as_text=True)
    assert 'name="auto_pause_after_failures"' in page and 'value="5"' in page
    response = client.post("/settings/workspace/failed-runs", data={"auto_pause_after_failures": "3"})
    assert response.status_code == 302
    assert reload(Workspace, ws.id).auto_pause_after_failures == 3
    assert "Workflows now pause after 3 failed runs in a row" in client.get("/settings/workspace").get_data(as_text=True)
    client.post("/settings/workspace/failed-runs", data={"auto_pause_after_failures": "0"})
    assert reload(Workspace, ws.id).auto_pause_after_failures == 0


def test_a_bad_default_is_refused_under_the_field(logged_in):
    client, ws, _ = logged_in("admin")
    for raw in ("abc", "-1", "1001", "2.5", ""):
        response = client.post("/settings/workspace/failed-runs", data={"auto_pause_after_failures": raw})
        assert response.status_code == 422, raw
        assert "Enter a whole number from 0 (never) to 1000." in response.get_data(as_text=True)
    assert reload(Workspace, ws.id).auto_pause_after_failures == 5


def test_a_member_sees_the_default_but_cannot_change_it(logged_in):
    client, ws, _ = logged_in("member")
    page = client.get("/settings/workspace").get_data(as_text=True)
    assert 'id="workspace-auto-pause"' in page and "Only owners and admins can change it." in page
    assert client.post("/settings/workspace/failed-runs", data={"auto_pause_after_failures": "0"}).status_code == 403
    assert reload(Workspace, ws.id).auto_pause_after_failures == 5


def test_the_default_needs_a_csrf_token(logged_in):
    client, ws, _ = logged_in("owner")
    response = client.post("/settings/workspace/failed-runs", data={"auto_pause_after_failures": "1"}, csrf=False)
    assert response.status_code == 400
    assert reload(Workspace, ws.id).auto_pause_after_failures == 5


# -- the editor's settings panel -----------------------------------------------------------------------

def settings_fields(alert="on", auto_pause=""):
    fields = {"settings-present": "1", "settings-auto_pause_after_failures": auto_pause}
    if alert:
        fields["settings-alert_on_failure"] = alert
    return fields


ALERT_SWITCH_ON = re.compile(r'id="settings-alert_on_failure"[^>]*\bchecked\b')


def test_an_admin_saves_failure_settings_in_the_editor(logged_in):
    client, ws, _ = logged_in("admin")
    workflow = make_workflow(ws.id, name="Deal alert")
    page = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert ALERT_SWITCH_ON.search(page)  # on by default
    assert 'name="settings-present"' in page and 'id="settings-alert_on_failure"' in page
    assert 'placeholder="5 (workspace default)"' in page

    response = client.post(f"/automations/{workflow.id}", data=editor_form(**settings_fields(alert=None, auto_pause="2")))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert reload(Workflow, workflow.id).settings == {"alert_on_failure": False, "auto_pause_after_failures": 2}
    page = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert 'value="2"' in page and not ALERT_SWITCH_ON.search(page)

    client.post(f"/automations/{workflow.id}", data=editor_form(**settings_fields(alert="on", auto_pause="")))
    assert reload(Workflow, workflow.id).settings == {"alert_on_failure": True}


def test_a_new_workflow_takes_its_settings_from_the_editor(logged_in):
    client, ws, _ = logged_in("owner")
    response = client.post("/automations/new", data=editor_form(**settings_fields(auto_pause="0")))
    assert response.status_code == 302
    workflow = db.session.scalar(select(Workflow).where(Workflow.workspace_id == ws.id))
    assert workflow.settings == {"alert_on_failure": True, "auto_pause_after_failures": 0}


def test_a_bad_threshold_is_shown_under_its_field_and_nothing_is_saved(logged_in):
    client, ws, _ = logged_in("owner")
    workflow = make_workflow(ws.id, name="Deal alert")
    response = client.post(f"/automations/{workflow.id}",
                           data=editor_form(name="Renamed", **settings_fields(auto_pause="5000")))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a whole number from 0 (never) to 1000." in html and 'value="5000"' in html
    saved = reload(Workflow, workflow.id)
    assert saved.name == "Deal alert" and saved.settings == {}


def test_a_member_edits_the_workflow_but_not_its_failure_settings(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id, name="Deal alert")
    page = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert 'name="settings-present"' not in page and "Only owners and admins change these." in page
    # the disabled fields are not sent: saving the rest works
    assert client.post(f"/automations/{workflow.id}", data=editor_form(name="Renamed")).status_code == 302
    assert reload(Workflow, workflow.id).name == "Renamed"
    # a forged form is refused, and nothing of it is saved
    response = client.post(f"/automations/{workflow.id}", data=editor_form(name="Forged", **settings_fields(alert=None)))
    assert response.status_code == 403
    saved = reload(Workflow, workflow.id)
    assert saved.name == "Renamed" and saved.settings == {}


def test_another_workspace_cannot_change_a_workflows_settings(logged_in, workspace):
    other = workspace()
    workflow = make_workflow(other.id, name="Theirs")
    client, _, _ = logged_in("owner")
    response = client.post(f"/automations/{workflow.id}", data=editor_form(**settings_fields(alert=None)))
    assert response.status_code == 404
    assert reload(Workflow, workflow.id).settings == {}


# -- a paused workflow: why, and Fix and activate -------------------------------------------------------

def auto_paused(ws, name="Sync deals"):
    workflow = make_workflow(ws.id, name=name)
    workflow.status = "paused"
    workflow.paused_reason = "Paused automatically after 5 failed runs in a row (the last one, run #12: No such deal)."
    db.session.commit()
    return workflow


def test_the_list_and_the_editor_say_why_and_offer_fix_and_activate(logged_in):
    client, ws, _ = logged_in("owner")
    workflow = auto_paused(ws)
    listing = client.get("/automations").get_data(as_text=True)
    assert "Paused automatically after 5 failed runs in a row" in listing
    assert f'href="/automations/{workflow.id}#paused-reason">Fix and activate</a>' in listing

    editor = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert 'id="paused-reason"' in editor and "run #12: No such deal" in editor
    assert f'href="/automations/runs?status=failed&amp;workflow={workflow.id}"' in editor

    response = client.post(f"/automations/{workflow.id}", data=editor_form(name="Sync deals", intent="activate"))
    assert response.status_code == 302
    saved = reload(Workflow, workflow.id)
    assert saved.status == "active" and saved.paused_reason is None
    assert "Paused automatically" not in client.get("/automations").get_data(as_text=True)
    assert 'id="paused-reason"' not in client.get(f"/automations/{workflow.id}").get_data(as_text=True)


def test_a_workflow_paused_by_a_person_shows_no_reason(logged_in):
    client, ws, _ = logged_in("owner")
    workflow = auto_paused(ws)
    client.post(f"/automations/{workflow.id}/status", data={"status": "archived"})
    client.post(f"/automations/{workflow.id}/status", data={"status": "paused"})
    assert reload(Workflow, workflow.id).paused_reason is None
    assert "Fix and activate" not in client.get("/automations").get_data(as_text=True)


def test_an_updated_grouped_notification_comes_back_to_the_top_of_the_bell(logged_in):
    client, ws, owner = logged_in("owner")
    grouped = Notification(workspace_id=ws.id, user_id=owner.id, title="Sync deals failed", group_key="workflow_failed:1")
    db.session.add(grouped)
    db.session.commit()
    notification_service.notify(ws.id, [owner.id], "Deal won")
    db.session.commit()
    grouped = reload(Notification, grouped.id)
    grouped.title, grouped.group_count, grouped.created_at = "2 new failures of Sync deals", 2, utcnow()
    db.session.commit()
    page = client.get("/notifications").get_data(as_text=True)
    assert page.index("2 new failures of Sync deals") < page.index("Deal won")

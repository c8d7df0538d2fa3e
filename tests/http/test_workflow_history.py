"""The History tab, restore and workflow files through the pages (issue #21)."""
import io
import json
import zipfile

from sqlalchemy import func, select

from models import Workflow, WorkflowVersion, db
from services import workflow_service
from tests.conftest import owner_of

BASE = {
    "name": "Deal won → thanks",
    "trigger": {"type": "deal_closed_won", "config": {}},
    "conditions": [{"field": "deal.value", "op": "gte", "value": 1000}],
    "actions": [
        {"id": "thanks", "type": "send_template_email",
         "config": {"to": "{{ trigger.contact.email }}", "subject": "Thank you", "body": "Thanks!"}},
        {"id": "log", "type": "log_event", "config": {"event": "deal_won", "message": "won"}},
    ],
}


def make(ws, **changes):
    workflow = workflow_service.create_workflow(ws.id, {**BASE, **changes}, owner_of(ws), note="first")
    db.session.commit()
    return workflow


def test_history_lists_versions_status_events_and_a_readable_diff(client, workspace, auth):
    ws = workspace()
    workflow = make(ws)
    owner = owner_of(ws)
    changed = json.loads(json.dumps(BASE))
    changed["actions"] = [changed["actions"][1], changed["actions"][0]]  # moved
    changed["actions"][1]["config"]["subject"] = "Thanks a lot"
    changed["actions"].append({"id": "note", "type": "log_event", "config": {"event": "extra"}})
    changed["conditions"] = [{"field": "deal.value", "op": "gte", "value": 5000}]
    workflow_service.update_workflow(workflow, changed, owner, note="bigger deals only")
    workflow_service.set_status(workflow, "active", owner)
    db.session.commit()
    auth.logout()
    auth.login(owner)
    page = client.get(f"/automations/{workflow.id}/history")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "bigger deals only" in html and 'data-status-event="active"' in html and 'data-version="2"' in html
    assert "Added step 3" in html and "Moved step" in html and "Thank you" in html and "Thanks a lot" in html
    assert "Deal value ≥ 5,000" in html or "≥ 5,000" in html
    assert client.get(f"/automations/{workflow.id}/history?from=1&to=draft").status_code == 200
    assert "has no version 7" in client.get(f"/automations/{workflow.id}/history?from=7&to=1").get_data(as_text=True)


def test_saving_in_the_editor_keeps_the_note_and_restore_confirms_then_adds_a_version(client, workspace, auth, user):
    ws = workspace()
    workflow = make(ws, status="active")
    owner = owner_of(ws)
    workflow_service.update_workflow(workflow, {**BASE, "name": "Second"}, owner)
    db.session.commit()
    auth.logout()
    auth.login(owner)
    confirm = client.get(f"/automations/{workflow.id}/history/1/restore")
    assert confirm.status_code == 200 and "Second" in confirm.get_data(as_text=True)
    assert db.session.get(Workflow, workflow.id).version == 2  # the confirmation changes nothing
    response = client.post(f"/automations/{workflow.id}/history/1/restore")
    assert response.status_code == 302
    db.session.expire_all()
    workflow = db.session.get(Workflow, workflow.id)
    assert (workflow.version, workflow.name, workflow.status) == (3, BASE["name"], "active")
    member = user(ws, "member")
    auth.logout()
    auth.login(member)
    assert client.get(f"/automations/{workflow.id}/history").status_code == 200
    assert client.post(f"/automations/{workflow.id}/history/1/restore").status_code == 403
    assert client.get("/automations/import").status_code == 403


def test_export_download_and_import_page(client, workspace, auth):
    source, target = workspace(), workspace()
    workflow = make(source)
    auth.logout()
    auth.login(owner_of(source))
    download = client.get(f"/automations/{workflow.id}/export")
    assert download.status_code == 200
    assert 'filename="deal-won-thanks.workestra.json"' in download.headers["Content-Disposition"]
    text = download.get_data(as_text=True)
    auth.logout()
    auth.login(owner_of(target))
    assert client.get(f"/automations/{workflow.id}/export").status_code == 404
    response = client.post("/automations/import", data={"file": (io.BytesIO(text.encode()), "x.workestra.json")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    imported = db.session.scalar(select(Workflow).where(Workflow.workspace_id == target.id, Workflow.name == BASE["name"]))
    assert imported is not None and imported.status == "draft"
    before = db.session.scalar(select(func.count()).select_from(WorkflowVersion))
    bad = client.post("/automations/import", data={"json": '{"workestra": "workflow", "format": 9, "workflow": {}}'})
    assert bad.status_code == 422 and "Unsupported format 9" in bad.get_data(as_text=True)
    assert client.post("/automations/import", data={"json": "nope"}).status_code == 422
    assert db.session.scalar(select(func.count()).select_from(WorkflowVersion)) == before
    archive = client.get("/automations/export.zip")
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(archive.data)).namelist()
    assert names and all(name.endswith(".workestra.json") for name in names)
    again = client.post("/automations/import", data={"file": (io.BytesIO(archive.data), "all.zip")},
                        content_type="multipart/form-data")
    assert again.status_code == 302


def test_the_import_page_carries_settings_and_names_a_bad_one(client, workspace, auth):
    """A file's operating settings arrive with it; a bad one is a 422 naming it, and a zip holding one bad file
    imports nothing."""
    source, target = workspace(), workspace()
    workflow = make(source)
    workflow.settings, workflow.max_concurrent_runs, workflow.minutes_saved_per_run = {"auto_pause_after_failures": 2}, 4, 7
    db.session.commit()
    auth.login(owner_of(source))
    text = client.get(f"/automations/{workflow.id}/export").get_data(as_text=True)
    auth.logout()
    auth.login(owner_of(target))
    response = client.post("/automations/import", data={"file": (io.BytesIO(text.encode()), "x.workestra.json")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    copy = db.session.scalar(select(Workflow).where(Workflow.workspace_id == target.id))
    assert (copy.settings, copy.max_concurrent_runs, copy.minutes_saved_per_run) == ({"auto_pause_after_failures": 2}, 4, 7)

    before = db.session.scalar(select(func.count()).select_from(Workflow))
    document = json.loads(text)
    document["workflow"]["settings"]["max_concurrent_runs"] = 0
    bad = client.post("/automations/import", data={"json": json.dumps(document)})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "workflow.settings.max_concurrent_runs" in page and "from 1 to 1000" in page
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.workestra.json", text)
        archive.writestr("bad.workestra.json", json.dumps(document))
    bad_zip = client.post("/automations/import", data={"file": (io.BytesIO(buffer.getvalue()), "all.zip")},
                          content_type="multipart/form-data")
    assert bad_zip.status_code == 422 and "bad.workestra.json: workflow.settings.max_concurrent_runs" in bad_zip.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Workflow)) == before

def test_a_published_template_remembers_the_version_it_came_from(client, workspace, auth):
    from models import WorkflowTemplate

    ws = workspace()
    workflow = make(ws)
    workflow_service.update_workflow(workflow, {**BASE, "name": "Second"}, owner_of(ws))
    db.session.commit()
    auth.login(owner_of(ws))
    response = client.post(f"/automations/{workflow.id}/publish", data={"name": "Mine", "category": "Sales"})
    assert response.status_code == 302
    template = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.name == "Mine"))
    assert (template.source_workflow_id, template.source_workflow_version) == (workflow.id, 2)


def test_the_run_detail_links_to_the_version_it_ran(client, workspace, auth):
    from services import execution_service

    ws = workspace()
    workflow = make(ws, status="active")
    workflow_service.update_workflow(workflow, {**BASE, "name": "Second"}, owner_of(ws))
    db.session.commit()
    execution = execution_service.run_now(workflow, {}, owner_of(ws))
    db.session.commit()
    assert execution.workflow_version == 2
    auth.login(owner_of(ws))
    html = client.get(f"/automations/runs/{execution.id}").get_data(as_text=True)
    assert f'href="/automations/{workflow.id}/history?to=2" data-run-version>version 2</a>' in html


def test_unsaved_changes_compares_the_editor_form_with_the_saved_version_and_writes_nothing(client, workspace, auth):
    from tests.http.test_workflows import editor_form

    ws = workspace()
    auth.login(owner_of(ws))
    assert client.post("/automations/new", data=editor_form()).status_code == 302
    workflow = db.session.scalar(select(Workflow).where(Workflow.workspace_id == ws.id))
    same = client.post(f"/automations/{workflow.id}/history/unsaved", data=editor_form())
    assert same.status_code == 200 and "No differences" in same.get_data(as_text=True)
    before = db.session.scalar(select(func.count()).select_from(WorkflowVersion))
    changed = client.post(f"/automations/{workflow.id}/history/unsaved",
                          data=editor_form(**{"actions-1-config-seconds": "90", "name": "Deal alert 2"}))
    html = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "Name changed" in html and "Changed step 2" in html and "90" in html
    assert db.session.scalar(select(func.count()).select_from(WorkflowVersion)) == before

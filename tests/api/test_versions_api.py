"""Versions and workflow files through /api/v1 (issue #21, DESIGN.md "Versions and files")."""
import json

from sqlalchemy import func, select

from engine.runtime.runner import run_execution
from models import Workflow, WorkflowExecution, WorkflowVersion, db
from tests.api.test_workflows_api import DEFINITION, create


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_every_changing_save_adds_a_version_and_status_changes_add_none(api):
    client = api()
    body = create(client)
    wid = body["id"]
    assert body["version"] == 1
    changed = client.patch(f"/workflows/{wid}", json={"name": "Renamed", "note": "clearer name"})
    assert changed.status_code == 200 and changed.get_json()["version"] == 2
    same = client.patch(f"/workflows/{wid}", json={"name": "Renamed"})
    assert same.get_json()["version"] == 2  # nothing changed: no version
    assert client.post(f"/workflows/{wid}/activate").get_json()["version"] == 2
    versions = client.get(f"/workflows/{wid}/versions").get_json()["data"]
    assert [(v["number"], v["note"]) for v in versions] == [(2, "clearer name"), (1, "")]
    assert versions[0]["created_by"] == client.user.display_name
    first = client.get(f"/workflows/{wid}/versions/1").get_json()
    assert first["definition"]["name"] == DEFINITION["name"] and "status" not in first["definition"]
    assert client.get(f"/workflows/{wid}/versions/9").status_code == 404


def test_a_run_records_the_version_it_ran(sweep_api):
    client = sweep_api()
    wid = create(client, status="active")["id"]
    client.patch(f"/workflows/{wid}", json={"description": "v2"})
    response = client.post(f"/workflows/{wid}/run", json={"payload": {}})
    assert response.status_code == 202
    run = response.get_json()
    assert run["version"] == 2
    assert db.session.get(WorkflowExecution, run["id"]).workflow_version == 2


def test_restore_adds_a_version_and_keeps_the_status(api):
    client = api()
    wid = create(client, status="active")["id"]
    client.patch(f"/workflows/{wid}", json={"name": "Second"})
    member = api("member", ws=client.workspace)
    assert member.post(f"/workflows/{wid}/versions/1/restore").status_code == 403
    assert member.get(f"/workflows/{wid}/versions").status_code == 200  # members may read history
    restored = client.post(f"/workflows/{wid}/versions/1/restore")
    assert restored.status_code == 200, restored.get_data(as_text=True)
    body = restored.get_json()
    assert body["version"] == 3 and body["name"] == DEFINITION["name"] and body["status"] == "active"
    assert [v["restored_from"] for v in client.get(f"/workflows/{wid}/versions").get_json()["data"]] == [1, None, None]


def test_versions_of_another_workspace_are_404(api):
    mine, theirs = api(), api()
    wid = create(theirs)["id"]
    for path in (f"/workflows/{wid}/versions", f"/workflows/{wid}/versions/1", f"/workflows/{wid}/export"):
        assert mine.get(path).status_code == 404
    assert mine.post(f"/workflows/{wid}/versions/1/restore").status_code == 404


def test_export_then_import_into_another_workspace(api):
    source, target = api(), api()
    wid = create(source, actions=[
        *DEFINITION["actions"],
        {"type": "call_webhook", "config": {"url": "https://hooks.example.com/T0/secret-token-123",
                                            "headers": {"Authorization": "Bearer sekrit"}}},
        {"type": "assign_owner", "config": {"record_type": "deal", "record_id": "17", "user_id": str(source.user.id)}},
    ])["id"]
    exported = source.get(f"/workflows/{wid}/export")
    assert exported.status_code == 200
    document = exported.get_json()
    text = json.dumps(document)
    assert document["workestra"] == "workflow" and document["format"] == 2
    assert "secret-token-123" not in text and "sekrit" not in text
    assert sorted(document["blanked"]) == ["actions.2.config.headers", "actions.2.config.url",
                                           "actions.3.config.record_id", "actions.3.config.user_id"]
    imported = target.post("/workflows/import", json=document)
    assert imported.status_code == 201, imported.get_data(as_text=True)
    body = imported.get_json()
    assert body["status"] == "draft" and body["name"] == DEFINITION["name"]
    assert set(body["needs"]) == {"actions.2.config.url", "actions.3.config.record_id", "actions.3.config.user_id"}
    workflow = db.session.get(Workflow, body["id"])
    assert workflow.workspace_id == target.workspace.id and workflow.version == 1


def test_bad_files_name_the_problem_and_write_nothing(api):
    client = api()
    document = {"workestra": "workflow", "format": 2, "workflow": dict(DEFINITION)}
    before = (count(Workflow), count(WorkflowVersion))
    cases = [
        ({**document, "workestra": "zapier"}, "workestra"),
        ({**document, "format": 1}, "format"),
        ({**document, "workflow": {**DEFINITION, "trigger": {"type": "nope"}}}, "workflow.trigger.type"),
        ({**document, "workflow": {**DEFINITION, "actions": [{"type": "explode"}]}}, "workflow.actions.0.type"),
        ({**document, "workflow": {**DEFINITION, "actions": [{"type": "send_template_email",
                                                                "config": {"to": "not an email", "subject": "s", "body": "b"}}]}},
         "workflow.actions.0.config.to"),
        ({**document, "workflow": "x"}, "workflow"),
        ({**document, "extra": 1}, "extra"),
    ]
    for bad, path in cases:
        response = client.post("/workflows/import", json=bad)
        assert response.status_code == 422, (bad, response.get_data(as_text=True))
        assert path in response.get_json()["errors"], (path, response.get_json())
    assert client.post("/workflows/import", data="{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert (count(Workflow), count(WorkflowVersion)) == before
    member = api("member", ws=client.workspace)
    assert member.post("/workflows/import", json=document).status_code == 403


def _without(definition: dict, paths: list[str]) -> dict:
    """The definition with these dotted paths (actions.1.then.0.config.url) removed."""
    definition = json.loads(json.dumps(definition))
    for path in paths:
        parts = path.split(".")
        node = definition
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node.pop(parts[-1], None)
    return definition


def test_every_system_template_round_trips_through_a_file_into_another_workspace(api):
    from services.template_service import SYSTEM_TEMPLATE_SLUGS

    source, target = api(), api()
    assert len(SYSTEM_TEMPLATE_SLUGS) >= 20
    for slug in SYSTEM_TEMPLATE_SLUGS:
        used = source.post(f"/templates/{slug}/use", json={})
        assert used.status_code == 201, (slug, used.get_data(as_text=True))
        original = db.session.get(Workflow, used.get_json()["id"])
        document = source.get(f"/workflows/{original.id}/export").get_json()
        imported = target.post("/workflows/import", json=document)
        assert imported.status_code == 201, (slug, imported.get_data(as_text=True))
        copy = db.session.get(Workflow, imported.get_json()["id"])
        assert copy.workspace_id == target.workspace.id and copy.status == "draft"
        expected = {k: v for k, v in original.definition().items() if k != "status"}
        got = {k: v for k, v in copy.definition().items() if k != "status"}
        assert got == _without(expected, document["blanked"]), slug
        # what was blanked is exactly what differs: nothing else was lost
        assert _without(got, document["blanked"]) == got


def test_no_secret_ever_appears_in_an_export(api):
    client = api()
    secrets = ["hooks.slack.com/services/T000/B000/XXXXSECRET", "Bearer sk_live_SECRET", "token=SECRET42"]
    wid = create(client, actions=[
        {"id": "hook", "type": "call_webhook", "config": {
            "url": f"https://{secrets[0]}?{secrets[2]}", "headers": {"Authorization": secrets[1]},
            "payload": {"deal": "{{ trigger.deal.title }}"}}},
        {"id": "split", "type": "branch", "config": {"match": "all", "conditions": [
            {"field": "deal.value", "op": "gte", "value": 1}]},
         "then": [{"id": "inner", "type": "call_webhook", "config": {"url": f"https://{secrets[0]}"}}], "else": []},
    ])["id"]
    text = client.get(f"/workflows/{wid}/export").get_data(as_text=True)
    assert all(secret not in text for secret in secrets)
    assert "actions.1.then.0.config.url" in json.loads(text)["blanked"]


def test_a_replay_records_the_version_of_the_definition_it_runs(sweep_api):
    client = sweep_api()
    wid = create(client, status="active")["id"]
    original = client.post(f"/workflows/{wid}/run", json={"payload": {}}).get_json()["id"]
    run_execution(original)
    client.patch(f"/workflows/{wid}", json={"description": "now version 2"})
    on_snapshot = client.post(f"/executions/{original}/replay", json={"from": "start", "definition": "snapshot"})
    on_current = client.post(f"/executions/{original}/replay", json={"from": "start", "definition": "current"})
    assert (on_snapshot.status_code, on_current.status_code) == (202, 202), on_current.get_data(as_text=True)
    assert (on_snapshot.get_json()["version"], on_current.get_json()["version"]) == (1, 2)


def test_an_export_carries_the_operating_settings_and_an_import_applies_them(api):
    """Alerts, auto-pause, runs at once and minutes saved travel with the file (DESIGN.md "Versions and files")."""
    from services import insights_service

    source, target = api(), api()
    wid = create(source)["id"]
    assert source.get(f"/workflows/{wid}/export").get_json()["workflow"]["settings"] == {
        "alert_on_failure": True, "auto_pause_after_failures": None, "max_concurrent_runs": None,
        "minutes_saved_per_run": None}  # the defaults, spelled out
    response = source.patch(f"/workflows/{wid}/settings", json={
        "alert_on_failure": False, "auto_pause_after_failures": 0, "max_concurrent_runs": 3})
    assert response.status_code == 200, response.get_data(as_text=True)
    insights_service.set_minutes_saved(db.session.get(Workflow, wid), "12", source.user)
    db.session.commit()

    document = source.get(f"/workflows/{wid}/export").get_json()
    settings = {"alert_on_failure": False, "auto_pause_after_failures": 0, "max_concurrent_runs": 3,
                "minutes_saved_per_run": 12}
    assert document["workflow"]["settings"] == settings
    imported = target.post("/workflows/import", json=document)
    assert imported.status_code == 201, imported.get_data(as_text=True)
    copy_id = imported.get_json()["id"]
    assert target.get(f"/workflows/{copy_id}/settings").get_json() == {
        "alert_on_failure": False, "auto_pause_after_failures": 0, "auto_pause_after_failures_effective": 0,
        "max_concurrent_runs": 3}
    assert db.session.get(Workflow, copy_id).minutes_saved_per_run == 12
    assert target.get(f"/workflows/{copy_id}/export").get_json()["workflow"]["settings"] == settings

    # A file from before #22 (settings {}) or without settings imports with the defaults.
    for old in ({**document["workflow"], "settings": {}}, {k: v for k, v in document["workflow"].items() if k != "settings"}):
        response = target.post("/workflows/import", json={**document, "workflow": old})
        assert response.status_code == 201, response.get_data(as_text=True)
        copy = db.session.get(Workflow, response.get_json()["id"])
        assert (copy.settings, copy.max_concurrent_runs, copy.minutes_saved_per_run) == ({}, None, None)


def test_bad_settings_in_a_file_are_422_by_path_and_write_nothing(api):
    client = api()
    before = (count(Workflow), count(WorkflowVersion))
    cases = [
        ({"alert_on_failure": "yes"}, "alert_on_failure", "true or false"),
        ({"alert_on_failure": None}, "alert_on_failure", "true or false"),
        ({"auto_pause_after_failures": -1}, "auto_pause_after_failures", "from 0 (never)"),
        ({"auto_pause_after_failures": "5"}, "auto_pause_after_failures", "whole number"),
        ({"auto_pause_after_failures": True}, "auto_pause_after_failures", "whole number"),
        ({"auto_pause_after_failures": 10**30}, "auto_pause_after_failures", "whole number"),
        ({"max_concurrent_runs": 0}, "max_concurrent_runs", "from 1 to 1000"),
        ({"max_concurrent_runs": 2.5}, "max_concurrent_runs", "from 1 to 1000"),
        ({"minutes_saved_per_run": 99999}, "minutes_saved_per_run", "from 0 to 10080"),
        ({"minutes_saved_per_run": [1]}, "minutes_saved_per_run", "whole minutes"),
        ({"paused_reason": "x"}, "paused_reason", "Unknown setting"),
    ]
    for settings, key, words in cases:
        document = {"workestra": "workflow", "format": 2, "workflow": {**DEFINITION, "settings": settings}}
        response = client.post("/workflows/import", json=document)
        assert response.status_code == 422, (settings, response.get_data(as_text=True))
        messages = response.get_json()["errors"].get(f"workflow.settings.{key}")
        assert messages and words in messages[0], (settings, response.get_json())
    response = client.post("/workflows/import", json={"workestra": "workflow", "format": 2,
                                                      "workflow": {**DEFINITION, "settings": [1]}})
    assert response.status_code == 422 and "workflow.settings" in response.get_json()["errors"]
    assert (count(Workflow), count(WorkflowVersion)) == before

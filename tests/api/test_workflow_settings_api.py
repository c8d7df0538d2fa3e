"""/api/v1/workflows/<id>/settings (failure alerts, auto-pause), and a workflow the API makes fail until it pauses."""
from datetime import timedelta

from sqlalchemy import select

from engine.runtime.sweep import sweep_pending_executions
from models import AuditEvent, Notification, Workflow, db
from models.base import utcnow
from tests.api.conftest import errors_of

FAILING = {
    "name": "Sync to ERP", "trigger": {"type": "deal_created", "config": {}}, "error_strategy": "stop",
    "actions": [{"type": "update_deal", "config": {"deal_id": "999999", "changes": {"notes": "x"}}}],
}


def create_workflow(client, **changes) -> dict:
    response = client.post("/workflows", json={**FAILING, **changes})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_settings_have_defaults_and_owners_and_admins_change_them(api):
    owner = api("owner")
    workflow = create_workflow(owner)
    assert workflow["settings"] == {"max_concurrent_runs": None} and workflow["paused_reason"] is None
    assert owner.get(f"/workflows/{workflow['id']}/settings").get_json() == {
        "alert_on_failure": True, "auto_pause_after_failures": None, "auto_pause_after_failures_effective": 5,
        "max_concurrent_runs": None}

    admin = api("admin", ws=owner.workspace)
    response = admin.patch(f"/workflows/{workflow['id']}/settings", json={"alert_on_failure": False,
                                                                          "auto_pause_after_failures": 0})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"alert_on_failure": False, "auto_pause_after_failures": 0,
                                   "auto_pause_after_failures_effective": 0, "max_concurrent_runs": None}
    stored = owner.get(f"/workflows/{workflow['id']}").get_json()
    assert stored["settings"] == {"alert_on_failure": False, "auto_pause_after_failures": 0,
                                  "max_concurrent_runs": None}
    assert stored["version"] == workflow["version"]  # settings add no version
    assert db.session.scalar(select(AuditEvent.event).where(AuditEvent.subject_id == workflow["id"],
                                                            AuditEvent.event == "workflow.settings_changed"))

    # null goes back to the workspace's default; keys left out keep their value
    response = owner.patch(f"/workflows/{workflow['id']}/settings", json={"auto_pause_after_failures": None})
    assert response.get_json() == {"alert_on_failure": False, "auto_pause_after_failures": None,
                                   "auto_pause_after_failures_effective": 5, "max_concurrent_runs": None}


def test_a_member_reads_but_cannot_change_settings(api):
    owner = api("owner")
    workflow = create_workflow(owner)
    member = api("member", ws=owner.workspace)
    assert member.get(f"/workflows/{workflow['id']}/settings").status_code == 200
    response = member.patch(f"/workflows/{workflow['id']}/settings", json={"alert_on_failure": False})
    assert response.status_code == 403
    assert db.session.get(Workflow, workflow["id"]).settings == {}


def test_another_workspace_gets_404(api):
    owner = api("owner")
    workflow = create_workflow(owner)
    stranger = api("owner")
    assert stranger.get(f"/workflows/{workflow['id']}/settings").status_code == 404
    assert stranger.patch(f"/workflows/{workflow['id']}/settings", json={"alert_on_failure": False}).status_code == 404
    assert db.session.get(Workflow, workflow["id"]).settings == {}


def test_bad_settings_are_422_and_change_nothing(api):
    owner = api("owner")
    workflow = create_workflow(owner)
    for body, field in [({"auto_pause_after_failures": -1}, "auto_pause_after_failures"),
                        ({"auto_pause_after_failures": 1001}, "auto_pause_after_failures"),
                        ({"auto_pause_after_failures": "5"}, "auto_pause_after_failures"),
                        ({"auto_pause_after_failures": 2.5}, "auto_pause_after_failures"),
                        ({"alert_on_failure": "maybe"}, "alert_on_failure"),
                        ({"max_runs": 3}, "max_runs")]:
        response = owner.patch(f"/workflows/{workflow['id']}/settings", json=body)
        assert response.status_code == 422, body
        assert field in str(errors_of(response)), (body, errors_of(response))
    assert db.session.get(Workflow, workflow["id"]).settings == {}


def test_runs_failing_through_the_api_pause_the_workflow_and_tell_its_owners(sweep_api):
    owner = sweep_api("owner")
    admin = sweep_api("admin", ws=owner.workspace)
    member = sweep_api("member", ws=owner.workspace)
    workflow = create_workflow(owner, status="active")
    assert admin.patch(f"/workflows/{workflow['id']}/settings", json={"auto_pause_after_failures": 3}).status_code == 200
    now = utcnow() + timedelta(minutes=1)
    for n in range(3):
        assert member.post("/deals", json={"title": f"Deal {n}", "value": "10"}).status_code == 201
        now += timedelta(minutes=1)
        sweep_pending_executions(now=now)
        status = owner.get(f"/workflows/{workflow['id']}").get_json()
        assert status["status"] == ("paused" if n == 2 else "active"), n
    assert status["paused_reason"].startswith("Paused automatically after 3 failed runs in a row")
    failed = owner.get(f"/executions?workflow_id={workflow['id']}").get_json()["data"]
    assert [run["status"] for run in failed] == ["failed"] * 3

    titles = {title for (title,) in db.session.execute(select(Notification.title).where(
        Notification.user_id == owner.user.id))}
    assert titles == {"3 new failures of Sync to ERP", "Sync to ERP was paused after failing repeatedly"}
    assert not db.session.scalars(select(Notification).where(Notification.user_id == member.user.id)).all()

    # Activating it again (the API's activate) clears the reason and starts the count anew.
    activated = owner.post(f"/workflows/{workflow['id']}/activate", json={}).get_json()
    assert activated["status"] == "active" and activated["paused_reason"] is None

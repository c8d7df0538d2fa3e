"""Projects: task status changes fire task_status_change, and task_completed when done."""
import pytest

from services import project_service, task_service
from services.errors import NotFound, ValidationFailed
from tests import factories as f
from tests.conftest import owner_of
from tests.integration.test_crm_services import assert_catalog_shape


def test_task_status_change_and_completion(workspace, user):
    ws = workspace()
    assignee = user(ws)
    project = f.project(ws, name="Acme onboarding")
    task = f.task(ws, project, title="Checklist", assignee_id=assignee.id)
    changed = f.make_workflow(ws.id, "task_status_change")
    completed = f.make_workflow(ws.id, "task_completed")
    task_service.update_issue_status(ws.id, task.id, "in_progress", owner_of(ws))
    f.db.session.commit()
    assert f.executions_of(completed) == []
    payload = f.only_payload(changed)
    assert payload["task"] == {"id": task.id, "title": "Checklist", "status": "in_progress", "project_id": project.id,
                               "assignee_id": assignee.id, "assignee_email": assignee.email}
    assert payload["project"] == {"id": project.id, "name": "Acme onboarding"}
    assert (payload["from_status"], payload["to_status"]) == ("todo", "in_progress")
    assert_catalog_shape(payload, "task_status_change")

    task_service.update_issue_status(ws.id, task.id, "done", None)
    f.db.session.commit()
    payload = f.only_payload(completed)
    assert payload["task"]["status"] == "done" and payload["from_status"] == "in_progress"
    assert_catalog_shape(payload, "task_completed")
    assert len(f.executions_of(changed)) == 2


def test_task_rules(workspace):
    ws, other = workspace(), workspace()
    with pytest.raises(ValidationFailed):
        task_service.update_issue_status(ws.id, f.task(ws).id, "finished", None)
    with pytest.raises(NotFound):
        task_service.update_issue_status(ws.id, f.task(other).id, "done", None)
    with pytest.raises(ValidationFailed, match="not a member"):
        task_service.create_task(ws.id, f.project(ws).id, {"title": "T", "assignee_id": owner_of(other).id}, None)


def test_one_active_sprint_per_project_and_closing_it(workspace):
    ws = workspace()
    project = f.project(ws)
    with pytest.raises(NotFound, match="no active sprint cycle"):
        project_service.close_sprint(ws.id, project.id, None)
    sprint = f.sprint(ws, project)
    with pytest.raises(ValidationFailed, match="already has an active sprint"):
        project_service.start_sprint(ws.id, project.id, {"name": "Again"}, None)
    closed = project_service.close_sprint(ws.id, project.id, None)
    assert closed.id == sprint.id and closed.status == "closed" and closed.closed_at is not None
    with pytest.raises(ValidationFailed) as failure:
        project_service.start_sprint(ws.id, project.id, {"name": "S", "starts_on": "2025-02-10",
                                                          "ends_on": "2025-02-01"}, None)
    assert "ends_on" in failure.value.errors

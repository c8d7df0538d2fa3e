"""Projects pages: projects, tasks, status buttons, sprints."""
import pytest
from sqlalchemy import select

from models import Project, SprintCycle, Task, db
from tests import factories as f
from tests.http.test_crm import page


def test_create_a_project_add_tasks_and_complete_one(logged_in):
    client, ws, user = logged_in("member")
    response = client.post("/projects/new", data={"name": "Acme onboarding"})
    project = db.session.scalar(select(Project))
    assert response.status_code == 302 and project.lead_id == user.id
    assert "Acme onboarding" in page(client.get("/projects"))
    assert client.post(f"/projects/{project.id}/tasks", data={"title": "Kick-off", "assignee_id": user.id}).status_code == 302
    task = db.session.scalar(select(Task))
    completed = f.make_workflow(ws.id, "task_completed")
    assert client.post(f"/projects/tasks/{task.id}/status", data={"status": "done"}).status_code == 302
    assert f.only_payload(completed)["task"]["id"] == task.id
    assert "Kick-off" in page(client.get(f"/projects/{project.id}")) and page(client.get(f"/projects/tasks/{task.id}"))


def test_form_errors(logged_in):
    client, ws, _ = logged_in()
    response = client.post("/projects/new", data={"name": " ", "description": "kept text"})
    assert response.status_code == 422 and "Name is required." in page(response) and "kept text" in page(response)
    project = f.project(ws)
    response = client.post(f"/projects/{project.id}/tasks", data={"title": ""})
    assert response.status_code == 422 and "Title is required." in page(response)
    task = f.task(ws, project)
    response = client.post(f"/projects/tasks/{task.id}/status", data={"status": "finished"})
    assert response.status_code == 422


def test_sprint_start_and_close(logged_in):
    client, ws, _ = logged_in()
    project = f.project(ws)
    response = client.post(f"/projects/{project.id}/sprints/close")
    assert response.status_code == 422 and "no active sprint cycle" in page(response)
    assert client.post(f"/projects/{project.id}/sprints", data={"name": "Sprint 1"}).status_code == 302
    assert "Close sprint cycle" in page(client.get(f"/projects/{project.id}"))
    assert client.post(f"/projects/{project.id}/sprints/close").status_code == 302
    assert db.session.scalar(select(SprintCycle)).status == "closed"


@pytest.mark.parametrize("method, path", [
    ("get", "/projects/{project}"), ("post", "/projects/{project}/tasks"), ("post", "/projects/{project}/sprints"),
    ("post", "/projects/{project}/sprints/close"), ("get", "/projects/tasks/{task}"),
    ("post", "/projects/tasks/{task}/status"),
])
def test_other_workspaces_records_are_404(logged_in, workspace, method, path):
    client, _, _ = logged_in()
    other = workspace()
    project = f.project(other)
    url = path.format(project=project.id, task=f.task(other, project).id)
    assert getattr(client, method)(url, data={"title": "x", "name": "x", "status": "done"}).status_code == 404

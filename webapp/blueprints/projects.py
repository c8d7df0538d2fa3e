"""Projects: projects, tasks (todo → in_progress → done) and sprint cycles."""
from flask import Blueprint, flash, redirect, request, url_for

from models import Project, Task
from models.vocabulary import TaskStatus, choices, labels
from services import common, project_service, task_service
from services.errors import NotFound
from webapp.extensions import db
from webapp.forms import actor, commit_or_errors, error_messages, form_page, workspace_id
from webapp.security import workspace_get_or_404

bp = Blueprint("projects", __name__, url_prefix="/projects")


@bp.get("")
def index():
    projects = project_service.list_projects(workspace_id())
    counts = {p.id: {s.value: 0 for s in TaskStatus} for p in projects}
    for project in projects:
        for task in task_service.list_tasks(workspace_id(), project.id):
            counts[project.id][task.status] += 1
    return form_page("projects/index.html", projects=projects, counts=counts, task_statuses=choices(TaskStatus))


@bp.route("/new", methods=["GET", "POST"])
def new_project():
    members = common.members(workspace_id())
    if request.method == "GET":
        return form_page("projects/project_form.html", members=members)
    project, errors = commit_or_errors(
        lambda: project_service.create_project(workspace_id(), request.form.to_dict(), actor()))
    if errors:
        return form_page("projects/project_form.html", 422, form=request.form, errors=errors, members=members)
    flash(f"Project {project.name} created.", "success")
    return redirect(url_for("projects.project", project_id=project.id))


def _project_page(project: Project, status=200, *, task_form=None, task_errors=None, sprint_form=None,
                  sprint_errors=None, errors=None):
    tasks = task_service.list_tasks(workspace_id(), project.id)
    return form_page(
        "projects/project.html", status, project=project,
        columns=[(s.value, s.label, [t for t in tasks if t.status == s]) for s in TaskStatus],
        sprints=project_service.sprints(workspace_id(), project.id),
        active_sprint=project_service.active_sprint(workspace_id(), project.id),
        members=common.members(workspace_id()), status_labels=labels(TaskStatus),
        task_form=task_form or {}, task_errors=task_errors or {}, sprint_form=sprint_form or {},
        sprint_errors=sprint_errors or {}, messages=error_messages(errors or {}),
    )


@bp.get("/<int:project_id>")
def project(project_id):
    return _project_page(workspace_get_or_404(Project, project_id))


@bp.post("/<int:project_id>/tasks")
def add_task(project_id):
    project = workspace_get_or_404(Project, project_id)
    _, errors = commit_or_errors(
        lambda: task_service.create_task(workspace_id(), project.id, request.form.to_dict(), actor()))
    if errors:
        return _project_page(workspace_get_or_404(Project, project_id), 422, task_form=request.form,
                             task_errors=errors)
    flash("Task added.", "success")
    return redirect(url_for("projects.project", project_id=project.id))


@bp.get("/tasks/<int:task_id>")
def task(task_id):
    task = workspace_get_or_404(Task, task_id)
    return form_page("projects/task.html", task=task, status_labels=labels(TaskStatus),
                     members=common.members(workspace_id()))


@bp.post("/tasks/<int:task_id>/status")
def task_status(task_id):
    task = workspace_get_or_404(Task, task_id)
    _, errors = commit_or_errors(
        lambda: task_service.update_issue_status(workspace_id(), task.id, request.form.get("status", ""), actor()))
    if errors:
        return _project_page(workspace_get_or_404(Task, task_id).project, 422, errors=errors)
    flash(f"“{task.title}” is now {TaskStatus(task.status).label}.", "success")
    return redirect(request.form.get("next") == "task" and url_for("projects.task", task_id=task.id)
                    or url_for("projects.project", project_id=task.project_id))


@bp.post("/tasks/<int:task_id>/assignee")
def task_assignee(task_id):
    task = workspace_get_or_404(Task, task_id)
    _, errors = commit_or_errors(
        lambda: task_service.assign_owner(workspace_id(), task.id, request.form.get("assignee_id"), actor()))
    if errors:
        return _project_page(workspace_get_or_404(Task, task_id).project, 422, errors=errors)
    flash("Assignee updated.", "success")
    return redirect(url_for("projects.task", task_id=task.id))


@bp.post("/<int:project_id>/sprints")
def start_sprint(project_id):
    project = workspace_get_or_404(Project, project_id)
    _, errors = commit_or_errors(
        lambda: project_service.start_sprint(workspace_id(), project.id, request.form.to_dict(), actor()))
    if errors:
        return _project_page(workspace_get_or_404(Project, project_id), 422, sprint_form=request.form,
                             sprint_errors=errors)
    flash("Sprint cycle started.", "success")
    return redirect(url_for("projects.project", project_id=project.id))


@bp.post("/<int:project_id>/sprints/close")
def close_sprint(project_id):
    project = workspace_get_or_404(Project, project_id)
    try:
        sprint = project_service.close_sprint(workspace_id(), project.id, actor())
        db.session.commit()
    except NotFound as missing:
        db.session.rollback()
        return _project_page(workspace_get_or_404(Project, project_id), 422, errors={"sprint": [str(missing) + "."]})
    flash(f"Sprint cycle {sprint.name} closed.", "success")
    return redirect(url_for("projects.project", project_id=project.id))

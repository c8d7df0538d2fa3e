"""Project tasks (TaskService): a TaskStatus from todo to done."""
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from models import Task, User, db
from models.base import utcnow
from models.vocabulary import TaskStatus, values
from services import project_service
from services.common import Origin, Stripped, fire, get_in_workspace, load, optional_member_id, origin_columns, user_email, workspace_member
from services.errors import ValidationFailed


class TaskSchema(Schema):
    title = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                     error_messages={"required": "Title is required."})
    description = Stripped(load_default="", validate=validate.Length(max=20000))
    assignee_id = fields.Integer(load_default=None, error_messages={"invalid": "Choose a member of this workspace."})


TASK_SCHEMA = TaskSchema()  # built once: building a schema costs more than loading with it


def build_task_payload(task: Task) -> dict:
    return {
        "id": task.id,
        "title": task.title,
        "status": task.status,
        "project_id": task.project_id,
        "assignee_id": task.assignee_id,
        "assignee_email": user_email(task.assignee),
    }


def get_task(workspace_id: int, task_id) -> Task:
    return get_in_workspace(Task, workspace_id, task_id, "Task")


def list_tasks(workspace_id: int, project_id: int) -> list[Task]:
    return list(db.session.scalars(
        select(Task).where(Task.workspace_id == workspace_id, Task.project_id == project_id).order_by(Task.id)))


def create_task(workspace_id: int, project_id, data: dict, actor: User | None, *, origin: Origin = None) -> Task:
    project = project_service.get_project(workspace_id, project_id)
    clean = load(TASK_SCHEMA, data)
    clean["assignee_id"] = optional_member_id(workspace_id, clean.get("assignee_id"), "assignee_id")
    task = Task(workspace_id=workspace_id, project_id=project.id, status=TaskStatus.TODO, **clean, **origin_columns(origin))
    db.session.add(task)
    db.session.flush()
    return task


def update_issue_status(workspace_id: int, task_id, status: str, actor: User | None) -> Task:
    """Change a task's status; fires task_status_change, and task_completed when it becomes done."""
    if status not in values(TaskStatus):
        raise ValidationFailed({"status": ["Choose " + ", ".join(values(TaskStatus)) + "."]})
    task = get_task(workspace_id, task_id)
    previous = task.status
    if previous == status:
        return task
    task.status = status
    task.completed_at = utcnow() if status == TaskStatus.DONE else None
    db.session.flush()
    db.session.refresh(task, ["assignee", "project"])
    objects = {"task": build_task_payload(task), "project": project_service.build_project_payload(task.project),
               "from_status": previous, "to_status": status}
    fire(workspace_id, "task_status_change", actor, **objects)
    if status == TaskStatus.DONE:
        fire(workspace_id, "task_completed", actor, **objects)
    return task


def assign_owner(workspace_id: int, task_id, user_id, actor: User | None) -> Task:
    task = get_task(workspace_id, task_id)
    task.assignee_id = workspace_member(workspace_id, user_id, "user_id").id
    db.session.flush()
    db.session.refresh(task, ["assignee"])
    return task

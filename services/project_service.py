"""Projects and their sprint cycles."""
from datetime import date, timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from models import Project, SprintCycle, User, db
from models.base import utcnow
from models.vocabulary import SprintStatus
from services.common import (Origin, Stripped, get_in_workspace, load, optional_member_id, origin_columns,
                             workspace_member)
from services.errors import NotFound, ValidationFailed


class ProjectSchema(Schema):
    name = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                    error_messages={"required": "Name is required."})
    description = Stripped(load_default="", validate=validate.Length(max=20000))
    lead_id = fields.Integer(load_default=None, error_messages={"invalid": "Choose a member of this workspace."})


PROJECT_SCHEMA = ProjectSchema()  # built once: building a schema costs more than loading with it


class SprintSchema(Schema):
    name = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                    error_messages={"required": "Name is required."})
    starts_on = fields.Date(load_default=None, error_messages={"invalid": "Enter a date (YYYY-MM-DD)."})
    ends_on = fields.Date(load_default=None, error_messages={"invalid": "Enter a date (YYYY-MM-DD)."})

    @validates_schema
    def _order(self, data, **kwargs):
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError("The end must not be before the start.", "ends_on")


def build_project_payload(project: Project) -> dict:
    return {"id": project.id, "name": project.name}


def get_project(workspace_id: int, project_id) -> Project:
    return get_in_workspace(Project, workspace_id, project_id, "Project")


def list_projects(workspace_id: int) -> list[Project]:
    return list(db.session.scalars(select(Project).where(Project.workspace_id == workspace_id).order_by(Project.id.desc())))


def create_project(workspace_id: int, data: dict, actor: User | None, *, origin: Origin = None) -> Project:
    clean = load(PROJECT_SCHEMA, data)
    clean["lead_id"] = optional_member_id(workspace_id, clean.get("lead_id"), "lead_id")
    if clean["lead_id"] is None and actor is not None:
        clean["lead_id"] = actor.id
    project = Project(workspace_id=workspace_id, **clean, **origin_columns(origin))
    db.session.add(project)
    db.session.flush()
    return project


def assign_owner(workspace_id: int, project_id, user_id, actor: User | None) -> Project:
    project = get_project(workspace_id, project_id)
    project.lead_id = workspace_member(workspace_id, user_id, "user_id").id
    db.session.flush()
    return project


def sprints(workspace_id: int, project_id: int) -> list[SprintCycle]:
    return list(db.session.scalars(
        select(SprintCycle).where(SprintCycle.workspace_id == workspace_id, SprintCycle.project_id == project_id)
        .order_by(SprintCycle.id.desc())))


def active_sprint(workspace_id: int, project_id: int) -> SprintCycle | None:
    return db.session.scalar(select(SprintCycle).where(
        SprintCycle.workspace_id == workspace_id, SprintCycle.project_id == project_id, SprintCycle.status == SprintStatus.ACTIVE))


def start_sprint(workspace_id: int, project_id, data: dict, actor: User | None) -> SprintCycle:
    """Start a sprint cycle; a project has at most one active cycle."""
    project = get_project(workspace_id, project_id)
    clean = load(SprintSchema(), data)
    if active_sprint(workspace_id, project.id) is not None:
        raise ValidationFailed({"name": ["This project already has an active sprint cycle; close it first."]})
    starts_on = clean.get("starts_on") or date.today()
    ends_on = clean.get("ends_on") or starts_on + timedelta(days=14)
    if ends_on < starts_on:
        raise ValidationFailed({"ends_on": ["The end must not be before the start."]})
    sprint = SprintCycle(workspace_id=workspace_id, project_id=project.id, name=clean["name"],
                         starts_on=starts_on, ends_on=ends_on, status=SprintStatus.ACTIVE)
    db.session.add(sprint)
    db.session.flush()
    return sprint


def close_sprint(workspace_id: int, project_id, actor: User | None, *, execution_id: int | None = None) -> SprintCycle:
    """Close the project's active sprint cycle; NotFound when it has none."""
    project = get_project(workspace_id, project_id)
    sprint = active_sprint(workspace_id, project.id)
    if sprint is None:
        raise NotFound(f"Project {project.id} has no active sprint cycle to close")
    sprint.status = SprintStatus.CLOSED
    sprint.closed_at = utcnow()
    sprint.closed_by_execution_id = execution_id
    db.session.flush()
    return sprint

"""Close Sprint Cycle: close the project's active sprint cycle (a step error when it has none)."""
from sqlalchemy import select

from engine.executors import StepContext, register
from engine.executors._common import config_of, link, service_errors
from models import SprintCycle, db
from services import project_service


@register("close_sprint_cycle")
def close_sprint_cycle(step: StepContext) -> dict:
    config = config_of(step)
    with service_errors():
        project = project_service.get_project(step.workspace_id, config["project_id"])
        sprint = db.session.scalar(select(SprintCycle).where(
            SprintCycle.workspace_id == step.workspace_id, SprintCycle.project_id == project.id,
            SprintCycle.closed_by_execution_id == step.execution_id))
        if sprint is None:
            sprint = project_service.close_sprint(step.workspace_id, project.id, None, execution_id=step.execution_id)
    return {"sprint_id": sprint.id, "name": sprint.name, "project_id": project.id, "status": sprint.status,
            "link": link("project", project.id)}

"""Create Project: open a project, led by a member of the workspace."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, earlier_record, link, optional_user_id, origin, service_errors
from models import Project
from services import project_service


@register("create_project")
def create_project(step: StepContext) -> dict:
    config = config_of(step)
    project = earlier_record(Project, step)
    if project is None:
        lead_id = optional_user_id(step, config.get("lead_id"), "lead_id")
        with service_errors():
            project = project_service.create_project(
                step.workspace_id, {"name": config["name"], "description": config.get("description", ""),
                                    "lead_id": lead_id}, None, origin=origin(step))
    return {"project_id": project.id, "name": project.name, "lead_id": project.lead_id,
            "link": link("project", project.id)}

"""Assign Owner: a deal, contact, ticket, task ("issue" is a task) or project gets a new owner,
who must be a member of the workspace. Projects keep their owner as `lead_id`, tasks as `assignee_id`."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, link, resolve_user, service_errors
from services import contact_service, deal_service, project_service, task_service, ticket_service

ASSIGNERS = {
    "deal": deal_service.assign_owner,
    "contact": contact_service.assign_owner,
    "ticket": ticket_service.assign_owner,
    "task": task_service.assign_owner,
    "issue": task_service.assign_owner,
    "project": project_service.assign_owner,
}


@register("assign_owner")
def assign_owner(step: StepContext) -> dict:
    config = config_of(step)
    record_type = config["record_type"]
    user = resolve_user(step, config["user_id"])
    with service_errors():
        record = ASSIGNERS[record_type](step.workspace_id, config["record_id"], user.id, None)
    kind = "task" if record_type == "issue" else record_type
    return {"record_type": record_type, "record_id": record.id, "owner_id": user.id, "owner_email": user.email,
            "link": link(kind, record.id)}

"""Create Ticket: open a support ticket (fires ticket_created)."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, earlier_record, link, origin, service_errors
from models import Ticket
from services import ticket_service


@register("create_ticket")
def create_ticket(step: StepContext) -> dict:
    config = config_of(step)
    ticket = earlier_record(Ticket, step)
    if ticket is None:
        data = {key: config[key] for key in ("subject", "description", "requester_email", "priority") if key in config}
        with service_errors():
            ticket = ticket_service.create_ticket(step.workspace_id, data, None, origin=origin(step))
    return {"ticket_id": ticket.id, "subject": ticket.subject, "priority": ticket.priority,
            "link": link("ticket", ticket.id)}

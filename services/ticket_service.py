"""Support tickets (TicketService): a TicketPriority that escalation raises one level, a TicketStatus."""
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from models import Ticket, User, db
from models.base import utcnow
from models.vocabulary import TicketPriority, TicketStatus, one_of, values
from services.common import Origin, Stripped, fire, get_in_workspace, load, optional_member_id, origin_columns, user_email, workspace_member
from services.errors import ValidationFailed


class TicketSchema(Schema):
    subject = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                       error_messages={"required": "Subject is required."})
    description = Stripped(load_default="", validate=validate.Length(max=50000))
    requester_email = fields.Email(load_default="", error_messages={"invalid": "Enter a valid email address."})
    priority = fields.String(load_default=TicketPriority.NORMAL.value, validate=validate.OneOf(
        values(TicketPriority), error=f"Choose {one_of(TicketPriority)}."))
    owner_id = fields.Integer(load_default=None, error_messages={"invalid": "Choose a member of this workspace."})


TICKET_SCHEMA = TicketSchema()  # built once: building a schema costs more than loading with it


def build_ticket_payload(ticket: Ticket) -> dict:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "description": ticket.description,
        "requester_email": ticket.requester_email or None,
        "priority": ticket.priority,
        "status": ticket.status,
        "owner_id": ticket.owner_id,
        "owner_email": user_email(ticket.owner),
    }


def get_ticket(workspace_id: int, ticket_id) -> Ticket:
    return get_in_workspace(Ticket, workspace_id, ticket_id, "Ticket")


def list_tickets(workspace_id: int, status: str | None = None) -> list[Ticket]:
    query = select(Ticket).where(Ticket.workspace_id == workspace_id)
    if status in values(TicketStatus):
        query = query.where(Ticket.status == status)
    return list(db.session.scalars(query.order_by(Ticket.id.desc())))


def _refresh(ticket: Ticket) -> None:
    db.session.flush()
    db.session.refresh(ticket, ["owner"])


def create_ticket(workspace_id: int, data: dict, actor: User | None, *, origin: Origin = None) -> Ticket:
    """Open a ticket; fires ticket_created."""
    clean = load(TICKET_SCHEMA, data)
    clean["owner_id"] = optional_member_id(workspace_id, clean.get("owner_id"), "owner_id")
    ticket = Ticket(workspace_id=workspace_id, status=TicketStatus.OPEN, **clean, **origin_columns(origin))
    db.session.add(ticket)
    _refresh(ticket)
    fire(workspace_id, "ticket_created", actor, ticket=build_ticket_payload(ticket))
    return ticket


def escalate_ticket(workspace_id: int, ticket_id, actor: User | None) -> Ticket:
    """Raise the priority one level; fires ticket_escalated. An urgent ticket cannot be escalated."""
    ticket = get_ticket(workspace_id, ticket_id)
    if ticket.status == TicketStatus.RESOLVED:
        raise ValidationFailed({"priority": ["A resolved ticket cannot be escalated; reopen it first."]})
    levels = list(TicketPriority)
    level = levels.index(TicketPriority(ticket.priority))
    if level == len(levels) - 1:
        raise ValidationFailed({"priority": [f"This ticket is already {levels[-1]}; it cannot be escalated further."]})
    previous, ticket.priority = ticket.priority, levels[level + 1]
    _refresh(ticket)
    fire(workspace_id, "ticket_escalated", actor, ticket=build_ticket_payload(ticket),
         from_priority=previous, to_priority=ticket.priority)
    return ticket


def resolve_ticket(workspace_id: int, ticket_id, actor: User | None) -> Ticket:
    """Mark resolved; fires ticket_resolved (once: an already resolved ticket is an error)."""
    ticket = get_ticket(workspace_id, ticket_id)
    if ticket.status == TicketStatus.RESOLVED:
        raise ValidationFailed({"status": ["This ticket is already resolved."]})
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = utcnow()
    _refresh(ticket)
    fire(workspace_id, "ticket_resolved", actor, ticket=build_ticket_payload(ticket))
    return ticket


def set_status(workspace_id: int, ticket_id, status: str, actor: User | None) -> Ticket:
    """Open / pending (resolving goes through resolve_ticket so its trigger fires)."""
    if status == TicketStatus.RESOLVED:
        return resolve_ticket(workspace_id, ticket_id, actor)
    if status not in values(TicketStatus):
        raise ValidationFailed({"status": [f"Choose {one_of(TicketStatus)}."]})
    ticket = get_ticket(workspace_id, ticket_id)
    ticket.status = status
    ticket.resolved_at = None
    _refresh(ticket)
    return ticket


def assign_owner(workspace_id: int, ticket_id, user_id, actor: User | None) -> Ticket:
    ticket = get_ticket(workspace_id, ticket_id)
    ticket.owner_id = workspace_member(workspace_id, user_id, "user_id").id
    _refresh(ticket)
    return ticket

"""Support: tickets, escalation and resolution."""
from flask import Blueprint, flash, redirect, request, url_for

from models import Ticket
from models.vocabulary import TicketPriority, TicketStatus, choices, values
from services import common, ticket_service
from webapp.forms import actor, commit_or_errors, error_messages, form_page, workspace_id
from webapp.security import workspace_get_or_404

bp = Blueprint("support", __name__, url_prefix="/support")


@bp.get("")
def index():
    status = request.args.get("status")
    return form_page("support/index.html", tickets=ticket_service.list_tickets(workspace_id(), status),
                     status=status if status in values(TicketStatus) else None, statuses=choices(TicketStatus))


@bp.route("/tickets/new", methods=["GET", "POST"])
def new_ticket():
    context = {"members": common.members(workspace_id()), "priorities": choices(TicketPriority)}
    if request.method == "GET":
        return form_page("support/ticket_form.html", form={"priority": TicketPriority.NORMAL.value}, **context)
    ticket, errors = commit_or_errors(
        lambda: ticket_service.create_ticket(workspace_id(), request.form.to_dict(), actor()))
    if errors:
        return form_page("support/ticket_form.html", 422, form=request.form, errors=errors, **context)
    flash(f"Ticket #{ticket.id} opened.", "success")
    return redirect(url_for("support.ticket", ticket_id=ticket.id))


def _ticket_page(ticket: Ticket, status=200, errors=None):
    return form_page("support/ticket.html", status, ticket=ticket, members=common.members(workspace_id()),
                     errors=errors or {}, messages=error_messages(errors or {}))


@bp.get("/tickets/<int:ticket_id>")
def ticket(ticket_id):
    return _ticket_page(workspace_get_or_404(Ticket, ticket_id))


def _change(ticket_id, operation, done_message):
    ticket = workspace_get_or_404(Ticket, ticket_id)
    _, errors = commit_or_errors(lambda: operation(ticket))
    if errors:
        return _ticket_page(workspace_get_or_404(Ticket, ticket_id), 422, errors)
    flash(done_message(ticket), "success")
    return redirect(url_for("support.ticket", ticket_id=ticket.id))


@bp.post("/tickets/<int:ticket_id>/escalate")
def escalate(ticket_id):
    return _change(ticket_id, lambda t: ticket_service.escalate_ticket(workspace_id(), t.id, actor()),
                   lambda t: f"Ticket escalated to {t.priority}.")


@bp.post("/tickets/<int:ticket_id>/resolve")
def resolve(ticket_id):
    return _change(ticket_id, lambda t: ticket_service.resolve_ticket(workspace_id(), t.id, actor()),
                   lambda t: "Ticket resolved.")


@bp.post("/tickets/<int:ticket_id>/status")
def set_status(ticket_id):
    return _change(ticket_id,
                   lambda t: ticket_service.set_status(workspace_id(), t.id, request.form.get("status", ""), actor()),
                   lambda t: f"Ticket is now {t.status}.")


@bp.post("/tickets/<int:ticket_id>/owner")
def assign_owner(ticket_id):
    return _change(ticket_id,
                   lambda t: ticket_service.assign_owner(workspace_id(), t.id, request.form.get("owner_id"), actor()),
                   lambda t: "Owner updated.")

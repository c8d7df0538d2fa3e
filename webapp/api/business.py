"""/api/v1 business objects: what it takes to fire every trigger, through the same services as the pages."""
from flask import g

from models import Role
from services import (application_service, contact_service, deal_service, invoice_service, payment_service,
                      project_service, task_service, ticket_service)
from services.errors import NotFound, ValidationFailed
from webapp.api.blueprint import ID, operation
from webapp.api.schemas import (ApplicationCreateSchema, ApplicationOut, ApplicationStageSchema, ContactOut,
                                ContactSchema, DealOut, DealSchema, DealStageSchema, EmptySchema, InvoiceOut,
                                InvoiceSchema, PaymentOut, PaymentSchema, ProjectOut, ProjectSchema, RefundOut,
                                RefundSchema, TaskCreateSchema, TaskOut, TaskQuerySchema, TaskStatusSchema,
                                TicketOut, TicketSchema, list_of)
from webapp.forms import actor


def ws() -> int:
    return g.workspace.id


# --- CRM ---------------------------------------------------------------------------------------

@operation("/contacts", "GET", summary="List contacts", tag="CRM", response=list_of(ContactOut))
def list_contacts():
    return {"data": contact_service.list_contacts(ws())}


@operation("/contacts", "POST", summary="Create a contact (fires contact_created)", tag="CRM",
           body=ContactSchema(), response=ContactOut, status=201, errors=(422,))
def create_contact(body):
    return contact_service.create_contact(ws(), body, actor())


@operation(f"/contacts/<{ID}:contact_id>", "GET", summary="Get a contact", tag="CRM", response=ContactOut,
           errors=(404,))
def get_contact(contact_id):
    return contact_service.get_contact(ws(), contact_id)


@operation("/deals", "GET", summary="List deals", tag="CRM", response=list_of(DealOut))
def list_deals():
    return {"data": deal_service.list_deals(ws())}


@operation("/deals", "POST", summary="Create a deal (fires deal_created)", tag="CRM", body=DealSchema(),
           response=DealOut, status=201, errors=(422,))
def create_deal(body):
    return deal_service.create_deal(ws(), body, actor())


@operation(f"/deals/<{ID}:deal_id>", "GET", summary="Get a deal", tag="CRM", response=DealOut, errors=(404,))
def get_deal(deal_id):
    return deal_service.get_deal(ws(), deal_id)


@operation(f"/deals/<{ID}:deal_id>/stage", "POST", summary="Move a deal to a stage", tag="CRM",
           body=DealStageSchema(), response=DealOut, errors=(404, 422),
           description="Fires deal_stage_change, and deal_closed_won when the stage is closed_won.")
def move_deal_stage(deal_id, body):
    return deal_service.move_deal_to_stage(ws(), deal_id, body.get("stage"), actor())


# --- Projects ------------------------------------------------------------------------------------

@operation("/projects", "GET", summary="List projects", tag="Projects", response=list_of(ProjectOut))
def list_projects():
    return {"data": project_service.list_projects(ws())}


@operation("/projects", "POST", summary="Create a project", tag="Projects", body=ProjectSchema(),
           response=ProjectOut, status=201, errors=(422,))
def create_project(body):
    return project_service.create_project(ws(), body, actor())


@operation(f"/projects/<{ID}:project_id>", "GET", summary="Get a project", tag="Projects", response=ProjectOut,
           errors=(404,))
def get_project(project_id):
    return project_service.get_project(ws(), project_id)


@operation("/tasks", "GET", summary="List a project's tasks", tag="Projects", query=TaskQuerySchema(),
           response=list_of(TaskOut), errors=(404, 422),
           description="Tasks of the project given by ?project_id=, or of every project when it is left out.")
def list_tasks(query):
    if query.get("project_id"):
        project = project_service.get_project(ws(), query["project_id"])
        return {"data": task_service.list_tasks(ws(), project.id)}
    return {"data": [task for project in project_service.list_projects(ws())
                     for task in task_service.list_tasks(ws(), project.id)]}


@operation("/tasks", "POST", summary="Create a task in a project", tag="Projects", body=TaskCreateSchema(),
           response=TaskOut, status=201, errors=(404, 422))
def create_task(body):
    fields = {key: value for key, value in body.items() if key != "project_id"}
    return task_service.create_task(ws(), _project(body.get("project_id")).id, fields, actor())


def _project(project_id):
    """The task's project: a missing or unknown one is a field error, not a 404 of the URL."""
    if project_id in (None, ""):
        raise ValidationFailed({"project_id": ["Choose the project the task belongs to."]})
    if isinstance(project_id, bool) or not isinstance(project_id, int) or not 0 < project_id < 2**31:
        raise ValidationFailed({"project_id": ["Must be a project id (a whole number)."]})
    try:
        return project_service.get_project(ws(), project_id)
    except NotFound as missing:
        raise ValidationFailed({"project_id": [str(missing) + "."]}) from None


@operation(f"/tasks/<{ID}:task_id>", "GET", summary="Get a task", tag="Projects", response=TaskOut, errors=(404,))
def get_task(task_id):
    return task_service.get_task(ws(), task_id)


@operation(f"/tasks/<{ID}:task_id>/status", "POST", summary="Change a task's status", tag="Projects",
           body=TaskStatusSchema(), response=TaskOut, errors=(404, 422),
           description="Fires task_status_change, and task_completed when the status is done.")
def change_task_status(task_id, body):
    return task_service.update_issue_status(ws(), task_id, body.get("status"), actor())


# --- Support -------------------------------------------------------------------------------------

@operation("/tickets", "GET", summary="List tickets", tag="Support", response=list_of(TicketOut))
def list_tickets():
    return {"data": ticket_service.list_tickets(ws())}


@operation("/tickets", "POST", summary="Open a ticket (fires ticket_created)", tag="Support", body=TicketSchema(),
           response=TicketOut, status=201, errors=(422,))
def create_ticket(body):
    return ticket_service.create_ticket(ws(), body, actor())


@operation(f"/tickets/<{ID}:ticket_id>", "GET", summary="Get a ticket", tag="Support", response=TicketOut,
           errors=(404,))
def get_ticket(ticket_id):
    return ticket_service.get_ticket(ws(), ticket_id)


@operation(f"/tickets/<{ID}:ticket_id>/escalate", "POST", summary="Escalate a ticket (fires ticket_escalated)",
           tag="Support", body=EmptySchema(), response=TicketOut, errors=(404, 422))
def escalate_ticket(ticket_id, body):
    """Raises the priority one level; an urgent or resolved ticket cannot be escalated (422)."""
    return ticket_service.escalate_ticket(ws(), ticket_id, actor())


@operation(f"/tickets/<{ID}:ticket_id>/resolve", "POST", summary="Resolve a ticket (fires ticket_resolved)",
           tag="Support", body=EmptySchema(), response=TicketOut, errors=(404, 422))
def resolve_ticket(ticket_id, body):
    return ticket_service.resolve_ticket(ws(), ticket_id, actor())


# --- Finance -------------------------------------------------------------------------------------

@operation("/invoices", "GET", summary="List invoices", tag="Finance", response=list_of(InvoiceOut))
def list_invoices():
    return {"data": invoice_service.list_invoices(ws())}


@operation("/invoices", "POST", summary="Create a draft invoice", tag="Finance", body=InvoiceSchema(),
           response=InvoiceOut, status=201, errors=(422,),
           description="Customer, amount and currency default from `deal_id` when given.")
def create_invoice(body):
    return invoice_service.create_invoice(ws(), body, actor())


@operation(f"/invoices/<{ID}:invoice_id>", "GET", summary="Get an invoice", tag="Finance", response=InvoiceOut,
           errors=(404,))
def get_invoice(invoice_id):
    return invoice_service.get_invoice(ws(), invoice_id)


@operation(f"/invoices/<{ID}:invoice_id>/payments", "POST", summary="Record a payment", tag="Finance",
           body=PaymentSchema(), response=PaymentOut, status=201, errors=(404, 422),
           description="Fires invoice_paid when the payments cover the invoice.")
def record_payment(invoice_id, body):
    return payment_service.record_payment(ws(), invoice_id, body, actor())


@operation(f"/invoices/<{ID}:invoice_id>/refunds", "POST", summary="Refund a payment (fires invoice_refunded)",
           tag="Finance", body=RefundSchema(), response=RefundOut, status=201, errors=(403, 404, 422),
           min_role=Role.ADMIN, description="Owners and admins only, as on the invoice page.")
def refund_invoice(invoice_id, body):
    return payment_service.refund_invoice(ws(), invoice_id, body, actor())


# --- Recruiting ----------------------------------------------------------------------------------

@operation("/applications", "GET", summary="List applications", tag="Recruiting", response=list_of(ApplicationOut))
def list_applications():
    return {"data": application_service.list_applications(ws())}


@operation("/applications", "POST", summary="Submit an application (fires candidate_applied)", tag="Recruiting",
           body=ApplicationCreateSchema(), response=ApplicationOut, status=201, errors=(422,))
def create_application(body):
    """A new candidate (name, email, phone, notes) and their application (position, recruiter_id)."""
    return application_service.create_candidate_with_application(ws(), body, actor())


@operation(f"/applications/<{ID}:application_id>", "GET", summary="Get an application", tag="Recruiting",
           response=ApplicationOut, errors=(404,))
def get_application(application_id):
    return application_service.get_application(ws(), application_id)


@operation(f"/applications/<{ID}:application_id>/stage", "POST", summary="Move an application to a stage",
           tag="Recruiting", body=ApplicationStageSchema(), response=ApplicationOut, errors=(404, 422),
           description="Fires candidate_stage_change.")
def move_application_stage(application_id, body):
    return application_service.update_application_status(ws(), application_id, body.get("stage"), actor())

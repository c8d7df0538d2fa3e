"""The demo workspace that README's first command serves."""
from dataclasses import dataclass

from sqlalchemy import select

from models import Contact, Workspace, db
from models.vocabulary import DealStage, Role, TaskStatus, TicketPriority, WorkflowStatus
from services import (application_service, common, contact_service, deal_service, invoice_service, payment_service,
                      project_service, task_service, template_service, ticket_service, workflow_service,
                      workspace_service)

DEMO_WORKSPACE = "Acme Demo"
DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    (Role.OWNER, "owner@demo.workestra.test", "Olivia Owner"),
    (Role.ADMIN, "admin@demo.workestra.test", "Adam Admin"),
    (Role.MEMBER, "member@demo.workestra.test", "Mia Member"),
)


@dataclass
class DemoResult:
    workspace: Workspace
    created: bool
    logins: list[tuple[str, str]]


def create_demo_workspace() -> DemoResult:
    """Idempotent: a second call finds the workspace and changes nothing."""
    logins = [(role, email) for role, email, _ in DEMO_USERS]
    existing = db.session.scalar(select(Workspace).where(Workspace.name == DEMO_WORKSPACE))
    if existing is not None:
        seed_business_data(existing)
        return DemoResult(existing, False, logins)
    (_, owner_email, owner_name), *others = DEMO_USERS
    workspace, _ = workspace_service.create_workspace(DEMO_WORKSPACE, owner_email, DEMO_PASSWORD, owner_name)
    for role, email, name in others:
        workspace_service.add_user(workspace, email, DEMO_PASSWORD, role, name)
    db.session.flush()
    activate_demo_workflows(workspace)
    seed_business_data(workspace)
    return DemoResult(workspace, True, logins)


DEMO_TEMPLATES = ("lead-welcome-email", "deal-won-thank-you-email", "ticket-created-auto-acknowledge",
                  "task-completed-audit-log", "invoice-paid-thank-you-email")


def activate_demo_workflows(workspace: Workspace) -> None:
    """A few live workflows from the gallery, so the demo's business data leaves runs behind."""
    owner = next(m.user for m in workspace.memberships if m.role == Role.OWNER)
    for slug in DEMO_TEMPLATES:
        workflow = template_service.use_template(template_service.get_template(workspace.id, slug), workspace.id, owner)
        workflow_service.set_status(workflow, WorkflowStatus.ACTIVE, owner)


def seed_business_data(workspace: Workspace) -> bool:
    """Contacts, deals in several stages, a project with tasks and an active sprint, tickets,
    invoices and a candidate. Idempotent: a workspace that has contacts already is left alone."""
    if db.session.scalar(select(Contact.id).where(Contact.workspace_id == workspace.id).limit(1)) is not None:
        return False
    ws = workspace.id
    users = {user.email.split("@")[0]: user for user in common.members(ws)}
    owner, admin, member = users.get("owner"), users.get("admin"), users.get("member")
    acme = contact_service.create_contact(ws, {"name": "Jordan Lee", "email": "jordan.lee@acme.example",
                                               "company": "Acme Corp"}, owner)
    globex = contact_service.create_contact(ws, {"name": "Sam Rivera", "email": "sam@globex.example",
                                                 "company": "Globex", "owner_id": admin.id if admin else None}, owner)
    initech = contact_service.create_contact(ws, {"name": "Priya Shah", "email": "priya@initech.example",
                                                  "company": "Initech"}, member or owner)
    deals = [
        ("Acme Corp — 50 seats", acme, 12500, DealStage.PROPOSAL),
        ("Globex renewal", globex, 30000, DealStage.NEGOTIATION),
        ("Initech pilot", initech, 4800, DealStage.LEAD),
        ("Acme Corp — support add-on", acme, 2400, DealStage.QUALIFIED),
        ("Globex data migration", globex, 9000, DealStage.NEGOTIATION),
    ]
    created = {}
    for title, contact, value, stage in deals:
        created[title] = deal_service.create_deal(ws, {"title": title, "contact_id": contact.id, "value": value,
                                                       "stage": stage}, owner)
    deal_service.move_deal_to_stage(ws, created["Globex data migration"].id, DealStage.CLOSED_WON, owner)
    project = project_service.create_project(ws, {"name": "Globex onboarding",
                                                  "description": "Kick-off after the migration deal was won.",
                                                  "lead_id": admin.id if admin else None}, owner)
    for title, status in (("Kick-off call", TaskStatus.DONE), ("Import historical data", TaskStatus.IN_PROGRESS),
                          ("Train the support team", TaskStatus.TODO), ("Go-live checklist", TaskStatus.TODO)):
        task = task_service.create_task(ws, project.id, {"title": title,
                                                         "assignee_id": member.id if member else None}, owner)
        if status != TaskStatus.TODO:
            task_service.update_issue_status(ws, task.id, status, owner)
    project_service.start_sprint(ws, project.id, {"name": "Sprint 1"}, owner)
    ticket_service.create_ticket(ws, {"subject": "Cannot export invoices to CSV", "priority": TicketPriority.HIGH,
                                      "requester_email": "jordan.lee@acme.example",
                                      "description": "The export button spins forever since this morning."}, owner)
    ticket_service.create_ticket(ws, {"subject": "How do I add a teammate?", "priority": TicketPriority.LOW,
                                      "requester_email": "sam@globex.example"}, owner)
    invoice = invoice_service.create_invoice(ws, {"deal_id": created["Globex data migration"].id}, owner)
    invoice_service.send_invoice(ws, invoice.id, owner)
    payment_service.record_payment(ws, invoice.id, {"amount": 9000, "reference": "Wire 2291"}, owner)
    draft = invoice_service.create_invoice(ws, {"customer_name": "Acme Corp", "customer_email": "billing@acme.example",
                                                "amount": 2400}, owner)
    invoice_service.send_invoice(ws, draft.id, owner)
    invoice_service.create_quotation(ws, {"deal_id": created["Acme Corp — 50 seats"].id}, owner)
    application_service.create_candidate_with_application(
        ws, {"name": "Priya Patel", "email": "priya.patel@example.com", "position": "Senior Backend Engineer",
             "recruiter_id": admin.id if admin else None}, owner)
    db.session.flush()
    return True

"""Each system template, end to end: Use Template → activate → fire its trigger through the real
service → the run completes with the effects the template promises. (The two scheduled templates and
the incoming-webhook one are proven in test_template_platform_runs.py.)"""
import json

import pytest
from sqlalchemy import select

from models import AuditEvent, Contact, Deal, Invoice, Notification, OutboxEmail, Project, WorkflowExecution, db
from services import deal_service, payment_service, template_service, ticket_service, workflow_service
from services import application_service, task_service, workspace_service
from tests import factories
from tests.support.engine import wait_for_status


@pytest.fixture
def template_app(make_app):
    app = make_app(WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def scene(template_app, webhook_receiver):
    """A workspace with an owner (who acts), an admin (the 'sales manager' / ops), and one template in use."""
    ws, owner = workspace_service.create_workspace("Template Co", "boss@template.test", "test-pass-2718", "Bo Boss")
    admin = workspace_service.add_user(ws, "ops@template.test", "test-pass-2718", "admin", "Ollie Ops")
    db.session.commit()

    def use(slug):
        workflow = template_service.use_template(template_service.get_template(ws.id, slug), ws.id, owner)
        definition = workflow.definition()
        for action in definition["actions"]:
            if action["type"] == "call_webhook":
                action["config"]["url"] = webhook_receiver.url + "/hook"
        workflow_service.update_workflow(workflow, definition, owner)
        workflow_service.set_status(workflow, "active", owner)
        db.session.commit()
        return workflow

    return type("Scene", (), {"ws": ws, "owner": owner, "admin": admin, "use": staticmethod(use), "hooks": webhook_receiver})


def finished_run(workflow):
    db.session.commit()
    execution_id = db.session.scalar(select(WorkflowExecution.id).where(WorkflowExecution.workflow_id == workflow.id))
    assert execution_id, f"{workflow.name} did not fire"
    execution = wait_for_status(execution_id)
    assert execution.status == "completed", execution.error
    assert [s["status"] for s in execution.completed_actions] == ["completed"] * len(workflow.actions), [s["error"] for s in execution.completed_actions]
    return execution


def emails(ws, to):
    return db.session.scalars(select(OutboxEmail).where(OutboxEmail.workspace_id == ws.id, OutboxEmail.to == to)).all()


def notifications(user):
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id)).all()


def audit(ws, event):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.workspace_id == ws.id, AuditEvent.event == event)).all()


def won_deal(scene, **fields):
    contact = factories.contact(scene.ws, scene.owner, name="Jo Client", email="jo@client.test", company="Client Inc")
    deal = factories.deal(scene.ws, scene.owner, title="Big one", value="5000", contact_id=contact.id, owner_id=scene.owner.id, **fields)
    deal_service.move_deal_to_stage(scene.ws.id, deal.id, "closed_won", scene.owner)
    db.session.commit()
    return contact, deal


def test_lead_welcome_email(scene):
    workflow = scene.use("lead-welcome-email")
    factories.contact(scene.ws, scene.owner, name="Ann Lead", email="ann@lead.test")
    finished_run(workflow)
    [mail] = emails(scene.ws, "ann@lead.test")
    assert "Ann Lead" in mail.subject and mail.template == "welcome"


def test_deal_created_slack_alert(scene):
    workflow = scene.use("deal-created-slack-alert")
    factories.deal(scene.ws, scene.owner, title="Shiny deal")
    finished_run(workflow)
    [request] = scene.hooks.requests
    assert "Shiny deal" in json.loads(request["body"])["text"] and request["headers"]["X-Workestra-Signature"].startswith("t=")


def test_deal_stage_negotiation_nudge(scene):
    workflow = scene.use("deal-stage-negotiation-nudge")
    deal = factories.deal(scene.ws, scene.owner, title="Nudge me", probability="20")
    deal_service.move_deal_to_stage(scene.ws.id, deal.id, "proposal", scene.owner)  # condition does not hold
    deal_service.move_deal_to_stage(scene.ws.id, deal.id, "negotiation", scene.owner)
    db.session.commit()
    finished_run(workflow)
    assert db.session.get(Deal, deal.id).probability == 60
    assert [n.title for n in notifications(scene.admin)] == ["Nudge me is in negotiation"]
    assert db.session.query(WorkflowExecution).filter_by(workflow_id=workflow.id).count() == 1


def test_deal_won_thank_you_email(scene):
    workflow = scene.use("deal-won-thank-you-email")
    won_deal(scene)
    finished_run(workflow)
    assert emails(scene.ws, "jo@client.test")[0].template == "thank_you"
    assert "Big one" in audit(scene.ws, "deal_won")[0].message


def test_deal_won_auto_invoice(scene):
    workflow = scene.use("deal-won-auto-invoice")
    contact, deal = won_deal(scene)
    finished_run(workflow)
    [invoice] = db.session.scalars(select(Invoice).where(Invoice.workspace_id == scene.ws.id)).all()
    assert (invoice.status, float(invoice.amount), invoice.customer_email) == ("draft", 5000.0, "jo@client.test")


def test_customer_onboarding_kickoff(scene):
    workflow = scene.use("customer-onboarding-kickoff")
    contact, _ = won_deal(scene)
    finished_run(workflow)
    assert emails(scene.ws, "jo@client.test")[0].template == "welcome"
    assert db.session.get(Contact, contact.id).owner_id == scene.owner.id
    assert audit(scene.ws, "onboarding_started")


def test_ticket_created_auto_acknowledge(scene):
    workflow = scene.use("ticket-created-auto-acknowledge")
    factories.ticket(scene.ws, scene.owner, subject="Broken export", requester_email="cust@client.test")
    finished_run(workflow)
    assert "Broken export" in emails(scene.ws, "cust@client.test")[0].subject


def test_ticket_resolved_csat_survey(scene):
    workflow = scene.use("ticket-resolved-csat-survey")
    ticket = factories.ticket(scene.ws, scene.owner, subject="Slow page", requester_email="cust@client.test")
    ticket_service.resolve_ticket(scene.ws.id, ticket.id, scene.owner)
    db.session.commit()
    finished_run(workflow)
    assert emails(scene.ws, "cust@client.test")[0].template == "csat_survey"


def test_new_contact_csm_notification(scene):
    workflow = scene.use("new-contact-csm-notification")
    factories.contact(scene.ws, scene.owner, name="Nia New", company="Newco")
    finished_run(workflow)
    assert [n.title for n in notifications(scene.admin)] == ["New contact: Nia New"]


def test_deal_won_kickoff_project(scene):
    workflow = scene.use("deal-won-kickoff-project")
    won_deal(scene)
    finished_run(workflow)
    [project] = db.session.scalars(select(Project).where(Project.workspace_id == scene.ws.id)).all()
    assert project.name == "Kickoff: Big one" and project.lead_id == scene.owner.id
    assert any("Kickoff project opened" in n.title for n in notifications(scene.owner))


def test_ticket_escalation_ops_pagerduty(scene):
    workflow = scene.use("ticket-escalation-ops-pagerduty")
    ticket = factories.ticket(scene.ws, scene.owner, subject="Site down", priority="high")
    ticket_service.escalate_ticket(scene.ws.id, ticket.id, scene.owner)
    db.session.commit()
    finished_run(workflow)
    assert notifications(scene.admin)[0].title == "Escalated: Site down"
    assert audit(scene.ws, "ticket_escalated")
    assert json.loads(scene.hooks.requests[0]["body"])["severity"] == "urgent"


def test_task_completed_audit_log(scene):
    workflow = scene.use("task-completed-audit-log")
    task = factories.task(scene.ws, actor=scene.owner, title="Write docs")
    task_service.update_issue_status(scene.ws.id, task.id, "done", scene.owner)
    db.session.commit()
    finished_run(workflow)
    assert "Write docs" in audit(scene.ws, "task_completed")[0].message


def test_candidate_applied_auto_confirmation(scene):
    workflow = scene.use("candidate-applied-auto-confirmation")
    factories.application(scene.ws, scene.owner, name="Cara Candidate", email="cara@cand.test", position="Designer")
    finished_run(workflow)
    assert "Designer" in emails(scene.ws, "cara@cand.test")[0].subject
    assert any(n.title == "New applicant: Cara Candidate" for n in notifications(scene.admin))


def test_candidate_stage_recruiter_alert(scene):
    workflow = scene.use("candidate-stage-recruiter-alert")
    application = factories.application(scene.ws, scene.owner, name="Sam Stage")
    application_service.update_application_status(scene.ws.id, application.id, "screening", scene.owner)
    db.session.commit()
    finished_run(workflow)
    assert any(n.title == "Sam Stage moved to screening" for n in notifications(scene.admin))


def test_invoice_paid_thank_you_email(scene):
    workflow = scene.use("invoice-paid-thank-you-email")
    invoice = factories.invoice(scene.ws, scene.owner, sent=True, amount="300", customer_email="pay@client.test")
    factories.pay(scene.ws, invoice, 300, scene.owner)
    finished_run(workflow)
    assert emails(scene.ws, "pay@client.test")[0].template == "thank_you"
    assert audit(scene.ws, "invoice_paid")


def test_invoice_paid_accounting_webhook(scene):
    workflow = scene.use("invoice-paid-accounting-webhook")
    invoice = factories.invoice(scene.ws, scene.owner, sent=True, amount="300")
    factories.pay(scene.ws, invoice, 300, scene.owner)
    finished_run(workflow)
    body = json.loads(scene.hooks.requests[0]["body"])
    assert body["event"] == "invoice.paid" and body["invoice"]["number"] == invoice.number


def test_invoice_refunded_apology_email(scene):
    workflow = scene.use("invoice-refunded-apology-email")
    invoice = factories.invoice(scene.ws, scene.owner, sent=True, amount="300", customer_email="sorry@client.test")
    factories.pay(scene.ws, invoice, 300, scene.owner)
    payment_service.refund_invoice(scene.ws.id, invoice.id, {"amount": "300", "reason": "Duplicate"}, scene.owner)
    db.session.commit()
    finished_run(workflow)
    assert emails(scene.ws, "sorry@client.test")[0].template == "apology"
    assert "Duplicate" in audit(scene.ws, "invoice_refunded")[0].message

"""Every trigger fires from the service that owns the change, and every action does its real work,
through the whole engine (dispatcher → queue → runner), not by calling executors directly."""
import json

import pytest
from sqlalchemy import select

from models import (AuditEvent, Deal, Document, Invoice, Notification, OutboxEmail, Project, Quotation,
                    SprintCycle, Ticket, WorkflowExecution, db)
from services import (application_service, deal_service, email_service, payment_service, task_service,
                      ticket_service, workspace_service)
from tests import factories
from tests.support.engine import wait_for_status


@pytest.fixture
def e2e_app(make_app):
    app = make_app(WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def team(e2e_app):
    ws, owner = workspace_service.create_workspace("E2E Co", "owner@e2e.test", "test-pass-2718", "Olga Owner")
    admin = workspace_service.add_user(ws, "admin@e2e.test", "test-pass-2718", "admin", "Adi Admin")
    db.session.commit()
    return type("Team", (), {"ws": ws, "owner": owner, "admin": admin})


def run_of(workflow):
    db.session.commit()
    execution_id = db.session.scalar(select(WorkflowExecution.id).where(WorkflowExecution.workflow_id == workflow.id))
    assert execution_id, f"{workflow.trigger_type} did not fire {workflow.name}"
    execution = wait_for_status(execution_id)
    assert execution.status == "completed", execution.error
    assert all(s["status"] == "completed" for s in execution.completed_actions), [s["error"] for s in execution.completed_actions]
    return execution


def _deal_in_stage(t, stage):
    deal = factories.deal(t.ws, t.owner)
    deal_service.move_deal_to_stage(t.ws.id, deal.id, stage, t.owner)


def _task_to(t, status):
    task = factories.task(t.ws, actor=t.owner)
    task_service.update_issue_status(t.ws.id, task.id, status, t.owner)


def _paid_invoice(t, refund=False):
    invoice = factories.invoice(t.ws, t.owner, sent=True, amount="100")
    factories.pay(t.ws, invoice, 100, t.owner)
    if refund:
        payment_service.refund_invoice(t.ws.id, invoice.id, {"amount": "100", "reason": "test"}, t.owner)


CAUSES = {
    "deal_created": lambda t: factories.deal(t.ws, t.owner),
    "deal_stage_change": lambda t: _deal_in_stage(t, "qualified"),
    "deal_closed_won": lambda t: _deal_in_stage(t, "closed_won"),
    "contact_created": lambda t: factories.contact(t.ws, t.owner),
    "task_status_change": lambda t: _task_to(t, "in_progress"),
    "task_completed": lambda t: _task_to(t, "done"),
    "ticket_created": lambda t: factories.ticket(t.ws, t.owner),
    "ticket_escalated": lambda t: ticket_service.escalate_ticket(t.ws.id, factories.ticket(t.ws, t.owner).id, t.owner),
    "ticket_resolved": lambda t: ticket_service.resolve_ticket(t.ws.id, factories.ticket(t.ws, t.owner).id, t.owner),
    "invoice_paid": lambda t: _paid_invoice(t),
    "invoice_refunded": lambda t: _paid_invoice(t, refund=True),
    "candidate_applied": lambda t: factories.application(t.ws, t.owner),
    "candidate_stage_change": lambda t: application_service.update_application_status(
        t.ws.id, factories.application(t.ws, t.owner).id, "screening", t.owner),
    "email_sent": lambda t: email_service.send_email(t.ws.id, "someone@e2e.test", "Hello", "Body", actor=t.owner),
}


@pytest.mark.parametrize("trigger", sorted(CAUSES))
def test_each_domain_trigger_fires_from_its_service_and_the_run_completes(team, trigger):
    workflow = factories.make_workflow(team.ws.id, trigger=trigger,
                             actions=[{"type": "log_event", "config": {"event": "saw_it", "message": "{{ trigger.actor.name }}"}}])
    CAUSES[trigger](team)
    db.session.commit()
    execution = run_of(workflow)
    assert execution.trigger_type == trigger
    assert execution.completed_actions[0]["input"]["message"] == "Olga Owner"


def effect_setup(t, receiver):
    deal = factories.deal(t.ws, t.owner, title="Acted on", value="800", owner_id=t.owner.id)
    project = factories.project(t.ws, t.owner)
    factories.sprint(t.ws, project, t.owner)
    application = factories.application(t.ws, t.owner, name="Cleo Candidate")
    db.session.commit()
    return {"deal": deal, "project": project, "application": application, "receiver": receiver}


ACTIONS = {
    "send_template_email": ({"to": "{{ trigger.contact.email }}", "subject": "Hi {{ trigger.contact.name }}", "body": "B"},
                            lambda t, s, out: db.session.get(OutboxEmail, out["email_id"]).to == "jordan.lee@acme.example"),
    "send_in_app_notification": ({"recipient": "user", "user_id": "owner", "title": "Ping"},
                                 lambda t, s, out: db.session.scalar(select(Notification.title).where(Notification.user_id == t.owner.id)) == "Ping"),
    "call_webhook": ({"url": "{url}", "payload": {"deal": "{{ trigger.deal.title }}"}},
                     lambda t, s, out: json.loads(s["receiver"].requests[0]["body"]) == {"deal": "Acme Corp — 50 seats"}),
    "log_event": ({"event": "custom", "message": "m"},
                  lambda t, s, out: db.session.get(AuditEvent, out["audit_event_id"]).event == "custom"),
    "wait_delay": ({"seconds": 1}, lambda t, s, out: out == {"waited_seconds": 1}),
    "create_deal": ({"title": "Made by a workflow", "value": 10},
                    lambda t, s, out: db.session.get(Deal, out["deal_id"]).title == "Made by a workflow"),
    "update_deal": ({"deal_id": "{deal_id}", "changes": {"stage": "proposal", "notes": "auto"}},
                    lambda t, s, out: (db.session.get(Deal, s["deal"].id).stage, db.session.get(Deal, s["deal"].id).notes) == ("proposal", "auto")),
    "update_win_probability": ({"deal_id": "{deal_id}", "probability": 75},
                               lambda t, s, out: db.session.get(Deal, s["deal"].id).probability == 75),
    "assign_owner": ({"record_type": "deal", "record_id": "{deal_id}", "user_id": "{admin_id}"},
                     lambda t, s, out: db.session.get(Deal, s["deal"].id).owner_id == t.admin.id),
    "flag_as_stale": ({"deal_id": "{deal_id}"},
                      lambda t, s, out: db.session.scalar(select(AuditEvent.subject_id).where(AuditEvent.event == "stale_flagged")) == s["deal"].id),
    "create_ticket": ({"subject": "From a workflow", "priority": "high"},
                      lambda t, s, out: db.session.get(Ticket, out["ticket_id"]).priority == "high"),
    "create_project": ({"name": "Auto project"}, lambda t, s, out: db.session.get(Project, out["project_id"]).name == "Auto project"),
    "close_sprint_cycle": ({"project_id": "{project_id}"},
                           lambda t, s, out: db.session.scalar(select(SprintCycle.status).where(SprintCycle.project_id == s["project"].id)) == "closed"),
    "create_invoice": ({"customer_name": "Acme", "amount": "{{ trigger.deal.value }}", "deal_id": "{deal_id}"},
                       lambda t, s, out: db.session.get(Invoice, out["invoice_id"]).status == "draft"),
    "create_quotation": ({"customer_name": "Acme", "amount": 99},
                         lambda t, s, out: db.session.get(Quotation, out["quotation_id"]).status == "draft"),
    "notify_ats": ({"title": "Recruiting ping"},
                   lambda t, s, out: db.session.scalar(select(Notification.title).where(Notification.user_id == t.admin.id)) == "Recruiting ping"),
    "generate_document": ({"title": "Proposal for {{ trigger.deal.title }}", "template": "# {{ trigger.deal.title }}\nValue: {{ trigger.deal.value }}"},
                          lambda t, s, out: "Value: 12500.0" in db.session.get(Document, out["document_id"]).content),
    "branch": ({"match": "any", "conditions": [{"field": "deal.value", "op": "gte", "value": 10000},
                                               {"field": "deal.stage", "op": "eq", "value": "nowhere"}]},
               lambda t, s, out: out == {"matched": True, "path": "then"}),
}


def _fill(config, setup, team):
    text = json.dumps(config).replace("{url}", setup["receiver"].url + "/in").replace('"{deal_id}"', str(setup["deal"].id))
    text = text.replace('"{project_id}"', str(setup["project"].id)).replace('"{admin_id}"', str(team.admin.id))
    return json.loads(text)


@pytest.mark.parametrize("action_type", sorted(ACTIONS))
def test_each_action_does_its_real_work_through_the_engine(team, webhook_receiver, action_type):
    from engine.core.catalog import ACTIONS as CATALOG
    from services import execution_service

    assert set(ACTIONS) == set(CATALOG)
    setup = effect_setup(team, webhook_receiver)
    config, check = ACTIONS[action_type]
    config = _fill(config, setup, team)
    workflow = factories.make_workflow(team.ws.id, actions=[{"type": action_type, "config": config}], status="draft")
    execution = execution_service.run_now(workflow)  # the catalog's sample Deal Created payload
    db.session.commit()
    execution = wait_for_status(execution.id, timeout=30)
    assert execution.status == "completed", execution.error
    step = execution.completed_actions[0]
    assert step["status"] == "completed", step["error"]
    assert check(team, setup, step["output"]), step["output"]
    # what the editor's Insert field picker offers of this step is really in its output
    assert {key for key, _label in CATALOG[action_type].outputs} <= set(step["output"]), step["output"]


def test_send_template_email_reaches_a_real_smtp_server_through_the_engine(make_app, smtp_server):
    from engine.runtime.sweep import sweep_pending_executions
    from services import execution_service

    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=smtp_server.url, ENGINE_HANDOFF="sweep", SWEEP_PENDING_GRACE_SECONDS=0)
    with app.app_context():
        ws = factories.make_workspace("Mail Co")
        workflow = factories.make_workflow(ws.id, actions=[{"type": "send_template_email", "config": {
            "to": "{{ trigger.contact.email }}", "subject": "Deal {{ trigger.deal.title }}", "body": "Hello"}}])
        execution = execution_service.run_now(workflow)
        db.session.commit()
        assert sweep_pending_executions()["completed"] == 1
        email_id = wait_for_status(execution.id).completed_actions[0]["output"]["email_id"]
        email = db.session.get(OutboxEmail, email_id)
        assert (email.status, email.backend) == ("sent", "smtp")
        [message] = smtp_server.messages
        assert message["to"] == ["jordan.lee@acme.example"] and "Deal Acme Corp" in message["data"]
        db.session.remove()

"""The three platform templates end to end, and the scheduled and webhook triggers through the engine:
Daily Digest and Stale Deal Alert fire from the sweep's schedule; External Webhook → Create Ticket
from a signed POST to its URL."""
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.runtime.sweep import sweep_pending_executions
from models import AuditEvent, Deal, Notification, Ticket, WorkflowExecution, db
from models.base import utcnow
from models.triggers import WorkflowSchedule
from services import incoming_webhook_service, template_service, workflow_service, workspace_service
from tests import factories
from tests.support.engine import wait_for_status


@pytest.fixture
def team(make_app):
    app = make_app()
    with app.app_context():
        ws, owner = workspace_service.create_workspace("Platform Co", "owner@platform.test", "test-pass-2718", "Pat Owner")
        admin = workspace_service.add_user(ws, "admin@platform.test", "test-pass-2718", "admin", "Ada Admin")
        db.session.commit()
        yield type("Team", (), {"app": app, "ws": ws, "owner": owner, "admin": admin})
        db.session.remove()


def activate(team, slug):
    workflow = template_service.use_template(template_service.get_template(team.ws.id, slug), team.ws.id, team.owner)
    workflow_service.set_status(workflow, "active", team.owner)
    db.session.commit()
    return workflow


def fire_schedule(workflow):
    schedule = db.session.scalar(select(WorkflowSchedule).where(WorkflowSchedule.workflow_id == workflow.id))
    assert schedule.next_run_at is not None
    counts = sweep_pending_executions(now=schedule.next_run_at + timedelta(seconds=1))
    assert counts["scheduled_fired"] == 1
    db.session.commit()
    execution_id = db.session.scalar(select(WorkflowExecution.id).where(WorkflowExecution.workflow_id == workflow.id))
    return wait_for_status(execution_id)


def test_daily_digest_fires_on_its_schedule_and_writes_the_digest(team):
    workflow = activate(team, "daily-digest-scheduled")
    execution = fire_schedule(workflow)
    assert execution.status == "completed" and execution.source == "schedule"
    assert execution.trigger_payload["scheduled_for"] and "fired_at" in execution.trigger_payload
    [digest] = db.session.scalars(select(AuditEvent).where(AuditEvent.workspace_id == team.ws.id, AuditEvent.event == "daily_digest")).all()
    assert execution.trigger_payload["scheduled_for"][:10] in digest.message


def test_stale_deal_alert_flags_quiet_deals_and_tells_the_sales_manager(team):
    quiet = factories.deal(team.ws, team.owner, title="Forgotten")
    busy = factories.deal(team.ws, team.owner, title="Lively")
    db.session.execute(Deal.__table__.update().where(Deal.id == quiet.id).values(updated_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    workflow = activate(team, "stale-deal-alert-scheduled")
    execution = fire_schedule(workflow)
    assert execution.status == "completed", execution.error
    assert [s["status"] for s in execution.completed_actions] == ["completed", "completed"]
    flagged = db.session.scalars(select(AuditEvent.subject_id).where(AuditEvent.event == "stale_flagged")).all()
    assert flagged == [quiet.id] and busy.id not in flagged
    [note] = db.session.scalars(select(Notification).where(Notification.user_id == team.admin.id)).all()
    assert note.body.startswith("1 deals had no change")


def test_external_webhook_creates_a_ticket_from_a_signed_request(team):
    workflow = activate(team, "external-webhook-create-ticket")
    endpoint = incoming_webhook_service.endpoint_for(workflow.id)
    body = json.dumps({"subject": "Printer on fire", "description": "Send help", "email": "it@customer.test"}).encode()
    timestamp = int(time.time())
    response = team.app.test_client().post(
        f"/hooks/{endpoint.token}", data=body, csrf=False,
        headers={"Content-Type": "application/json", "X-Workestra-Signature": incoming_webhook_service.sign(endpoint.secret, body, timestamp),
                 "X-Workestra-Webhook-Id": "delivery-1"})
    assert response.status_code == 202, response.get_json()
    execution = wait_for_status(response.get_json()["execution_id"])
    assert execution.status == "completed", execution.error
    [ticket] = db.session.scalars(select(Ticket).where(Ticket.workspace_id == team.ws.id)).all()
    assert (ticket.subject, ticket.requester_email) == ("Printer on fire", "it@customer.test")

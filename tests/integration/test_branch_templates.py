"""The system templates with a branch (seeds/branch_templates.json), end to end through the business services:
Use Template → activate → fire both ways → each run takes the path its data calls for."""
from sqlalchemy import select

from models import AuditEvent, Notification, OutboxEmail, Project, WorkflowExecution, db
from services import deal_service, ticket_service
from tests import factories
from tests.integration.test_template_runs import scene, template_app  # noqa: F401 (fixtures)
from tests.support.engine import wait_for_status


def runs_of(workflow):
    db.session.commit()
    ids = db.session.scalars(select(WorkflowExecution.id).where(WorkflowExecution.workflow_id == workflow.id)
                             .order_by(WorkflowExecution.id)).all()
    return [wait_for_status(execution_id) for execution_id in ids]


def taken(execution):
    return {s["id"]: s["status"] for s in execution.completed_actions}


def test_deal_won_big_deals_kickoff_small_deals_thank_you(scene):
    workflow = scene.use("deal-won-big-or-small")
    contact = factories.contact(scene.ws, scene.owner, name="Jo Client", email="jo@client.test", company="Client Inc")
    for title, value in (("Huge", "25000"), ("Tiny", "900")):
        deal = factories.deal(scene.ws, scene.owner, title=title, value=value, contact_id=contact.id, owner_id=scene.owner.id)
        deal_service.move_deal_to_stage(scene.ws.id, deal.id, "closed_won", scene.owner)
        db.session.commit()
    big, small = runs_of(workflow)
    assert big.status == small.status == "completed", (big.error, small.error)
    assert taken(big) == {"size": "completed", "kickoff": "completed", "tell_owner": "completed", "thanks": "skipped",
                          "log_win": "completed"}
    assert taken(small) == {"size": "completed", "kickoff": "skipped", "tell_owner": "skipped", "thanks": "completed",
                            "log_win": "completed"}
    [project] = db.session.scalars(select(Project).where(Project.workspace_id == scene.ws.id)).all()
    assert project.name == "Kickoff: Huge"
    [note] = [n for n in db.session.scalars(select(Notification).where(Notification.user_id == scene.owner.id))
              if "Kickoff project opened" in n.title]
    assert note.link == f"/projects/{project.id}"  # {{ steps.kickoff.output.project_id }}
    [mail] = db.session.scalars(select(OutboxEmail).where(OutboxEmail.workspace_id == scene.ws.id)).all()
    assert mail.to == "jo@client.test" and "Tiny" in mail.body
    messages = db.session.scalars(select(AuditEvent.message).where(AuditEvent.workspace_id == scene.ws.id,
                                                                   AuditEvent.event == "deal_won")).all()
    assert sorted(messages) == ["Deal Huge won; path: then", "Deal Tiny won; path: else"]


def test_ticket_created_pages_urgent_ones_and_acknowledges_the_rest(scene):
    workflow = scene.use("ticket-created-urgent-or-acknowledge")
    factories.ticket(scene.ws, scene.owner, subject="Site down", priority="urgent")
    factories.ticket(scene.ws, scene.owner, subject="Question", priority="normal", requester_email="asker@client.test")
    factories.ticket(scene.ws, scene.owner, subject="No email", priority="low", requester_email="")
    urgent, normal, silent = runs_of(workflow)
    assert taken(urgent)["page_admins"] == "completed" and taken(urgent)["acknowledge"] == "skipped"
    assert taken(normal)["page_admins"] == "skipped" and taken(normal)["acknowledge"] == "completed"
    assert taken(silent)["has_email"] == "completed" and taken(silent)["acknowledge"] == "skipped"
    assert any("Site down" in n.title for n in db.session.scalars(select(Notification).where(Notification.user_id == scene.admin.id)))
    assert [m.to for m in db.session.scalars(select(OutboxEmail).where(OutboxEmail.workspace_id == scene.ws.id))] == \
        ["asker@client.test"]


def test_the_gallery_card_says_what_each_path_does(template_app):
    from services import template_service

    template = template_service.get_template(None, "deal-won-big-or-small")
    assert template_service.summary(template) == [
        "Deal Closed Won",
        "If Deal value ≥ 10,000 (Then: Create Project, Send In-App Notification; Else: Send Template Email)",
        "Log Event"]

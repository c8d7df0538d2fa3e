"""Each business executor called directly with a StepContext: the real effect, the output, workspace scope."""
import base64
import hashlib
import hmac
import json

import pytest
from flask import url_for
from sqlalchemy import select

from engine.core.records import RECORD_KINDS, record_path
from engine.executors import StepError
from models import (AuditEvent, Deal, Document, Invoice, Notification, OutboxEmail, Project, Quotation,
                    SprintCycle, Ticket, db)
from services import webhook_service
from tests import factories as f
from tests.conftest import owner_of


def count(model, **where):
    query = select(db.func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db.session.scalar(query)


# --- Platform -------------------------------------------------------------------------------

def test_send_template_email_goes_to_the_outbox_and_the_smtp_server(app, workspace, smtp_server):
    app.config.update(EMAIL_BACKEND="smtp", SMTP_URL=smtp_server.url, ENGINE_HANDOFF="sweep")  # delivered at commit
    ws = workspace()
    step = f.step(ws, "send_template_email", {"to": "jordan@acme.example", "subject": "Thank you",
                                              "body": "Thanks, Jordan.", "template": "thank_you"})
    output = f.run(step)
    email = db.session.get(OutboxEmail, output["email_id"])
    assert (email.to, email.subject, email.idempotency_key) == ("jordan@acme.example", "Thank you", step.idempotency_key)
    assert (email.created_by_execution_id, email.created_by_step) == (step.execution_id, 0)
    assert len(smtp_server.messages) == 1 and "Thanks, Jordan." in smtp_server.messages[0]["data"]
    assert f.run(step)["email_id"] == email.id  # a re-run of the same step sends nothing new
    assert count(OutboxEmail) == 1 and len(smtp_server.messages) == 1


def test_send_template_email_rejects_a_bad_recipient(app, workspace):
    with pytest.raises(StepError) as failure:
        f.run(f.step(workspace(), "send_template_email", {"to": "", "subject": "S", "body": "B"}))
    assert not failure.value.retryable and "to" in str(failure.value)


def test_in_app_notification_to_a_user_a_role_and_the_record_owner(app, workspace, user):
    ws = workspace()
    admin, member = user(ws, "admin"), user(ws, "member")
    out = f.run(f.step(ws, "send_in_app_notification", {"recipient": "user", "user_id": member.id, "title": "Hi"}))
    assert out["user_ids"] == [member.id]
    out = f.run(f.step(ws, "send_in_app_notification", {"recipient": "role", "role": "admin", "title": "Admins"}))
    assert out["user_ids"] == [admin.id]
    deal = f.deal(ws, owner_id=member.id)
    payload = {"deal": {"id": deal.id, "owner_id": member.id}}
    step = f.step(ws, "send_in_app_notification", {"recipient": "record_owner", "title": "Your deal",
                                                   "link": f"/crm/deals/{deal.id}"}, payload)
    out = f.run(step)
    notification = db.session.get(Notification, out["notification_ids"][0])
    assert (notification.user_id, notification.title, notification.link) == (member.id, "Your deal", f"/crm/deals/{deal.id}")
    assert f.run(step)["notification_ids"] == out["notification_ids"]  # at most once per (execution, step)
    owner_out = f.run(f.step(ws, "send_in_app_notification", {"recipient": "user", "user_id": "owner", "title": "O"}))
    assert owner_out["user_ids"] == [owner_of(ws).id]


def test_notification_to_someone_outside_the_workspace_fails(app, workspace):
    ws, other = workspace(), workspace()
    with pytest.raises(StepError, match="not a member of this workspace"):
        f.run(f.step(ws, "send_in_app_notification", {"recipient": "user", "user_id": owner_of(other).id, "title": "x"}))
    with pytest.raises(StepError, match="no owner"):
        f.run(f.step(ws, "send_in_app_notification", {"recipient": "record_owner", "title": "x"}, {"deal": {"id": 1}}))
    assert count(Notification) == 0


def verify_standard_webhook(secret: str, headers: dict, body: bytes) -> bool:
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == f"v1,{expected}"


def test_call_webhook_posts_a_signed_payload(app, workspace, webhook_receiver):
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    ws = workspace()
    payload = {"deal": {"id": 7, "title": "Acme"}}
    step = f.step(ws, "call_webhook", {"url": webhook_receiver.url + "/hook?x=1", "headers": {"X-Team": "sales"}},
                  payload, step_index=2)
    webhook_receiver.body = b"x" * 5000
    output = f.run(step)
    (request,) = webhook_receiver.requests
    headers, body = request["headers"], request["body"]
    assert request["path"] == "/hook?x=1" and json.loads(body) == payload
    assert headers["X-Workestra-Webhook-Id"] == step.idempotency_key == headers["webhook-id"]
    assert headers["X-Team"] == "sales" and headers["Content-Type"] == "application/json"
    assert webhook_service.verify_workestra_signature("test-webhook-secret", body, headers["X-Workestra-Signature"])
    assert verify_standard_webhook("test-webhook-secret", headers, body)
    assert output["status_code"] == 200 and len(output["response_excerpt"]) == 2048
    assert output["webhook_id"] == step.idempotency_key


def test_call_webhook_sends_the_configured_payload(app, workspace, webhook_receiver):
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    f.run(f.step(workspace(), "call_webhook", {"url": webhook_receiver.url, "payload": {"a": 1}}, {"deal": {}}))
    assert json.loads(webhook_receiver.requests[0]["body"]) == {"a": 1}


@pytest.mark.parametrize("status, retryable", [(500, True), (404, False), (302, False)])
def test_non_2xx_and_redirects_are_step_errors(app, workspace, webhook_receiver, status, retryable):
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    webhook_receiver.status = status
    webhook_receiver.headers = {"Location": "http://169.254.169.254/"} if status == 302 else {}
    with pytest.raises(StepError) as failure:
        f.run(f.step(workspace(), "call_webhook", {"url": webhook_receiver.url}))
    assert failure.value.retryable is retryable and failure.value.output["status_code"] == status
    assert len(webhook_receiver.requests) == 1  # the redirect was not followed


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]:9/x", "http://localhost:9/x", "https://0.0.0.0/"])
def test_ssrf_guard_refuses_private_addresses(app, workspace, url):
    with pytest.raises(StepError) as failure:
        f.run(f.step(workspace(), "call_webhook", {"url": url}))
    # Address literals are refused by the config check (as at save time); names by the guard after resolving.
    assert ("non-public address" in str(failure.value) or "local or private address" in str(failure.value))
    assert not failure.value.retryable


def test_an_unreachable_webhook_says_connection_refused_and_the_ssrf_refusal_says_what_to_do(app, workspace):
    """Issue #23: error texts a workspace owner can act on."""
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    with pytest.raises(StepError) as failure:
        f.run(f.step(workspace(), "call_webhook", {"url": "http://127.0.0.1:9/"}))
    assert "connection refused" in str(failure.value) and "ConnectionError" not in str(failure.value)
    app.config["WEBHOOK_ALLOWED_HOSTS"] = ""
    with pytest.raises(StepError) as refused:
        f.run(f.step(workspace(), "call_webhook", {"url": "http://10.0.0.1/x"}))
    assert "WEBHOOK_ALLOWED_HOSTS" not in str(refused.value) and "public URL" in str(refused.value)


def test_ssrf_guard_refuses_a_name_resolving_to_loopback(app, workspace, monkeypatch, webhook_receiver):
    port = int(webhook_receiver.url.rsplit(":", 1)[1])
    monkeypatch.setattr(webhook_service.socket, "getaddrinfo",
                        lambda host, *a, **k: [(2, 1, 6, "", ("93.184.216.34", port)), (2, 1, 6, "", ("127.0.0.1", port))])
    with pytest.raises(StepError, match="127.0.0.1"):
        f.run(f.step(workspace(), "call_webhook", {"url": f"http://hooks.example.com:{port}/x"}))
    assert webhook_receiver.requests == []


def test_allow_listed_name_connects_to_the_resolved_address_with_its_host_header(app, workspace, monkeypatch,
                                                                                 webhook_receiver):
    port = int(webhook_receiver.url.rsplit(":", 1)[1])
    monkeypatch.setattr(webhook_service.socket, "getaddrinfo", lambda host, *a, **k: [(2, 1, 6, "", ("127.0.0.1", port))])
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "hooks.internal"
    output = f.run(f.step(workspace(), "call_webhook", {"url": f"http://hooks.internal:{port}/x"}))
    assert output["address"] == "127.0.0.1"
    assert webhook_receiver.requests[0]["headers"]["Host"] == f"hooks.internal:{port}"


def test_generate_document_stores_a_document(app, workspace, client, auth):
    ws = workspace()
    step = f.step(ws, "generate_document", {"title": "Proposal for Acme", "template": "# Proposal\n\nDeal: Acme"})
    output = f.run(step)
    document = db.session.get(Document, output["document_id"])
    assert (document.title, document.content, document.format) == ("Proposal for Acme", "# Proposal\n\nDeal: Acme", "markdown")
    assert output["link"] == f"/documents/{document.id}" and document.created_by_execution_id == step.execution_id
    assert f.run(step)["document_id"] == document.id and count(Document) == 1


# --- CRM --------------------------------------------------------------------------------------

def test_create_deal(app, workspace, user):
    ws = workspace()
    member = user(ws)
    contact = f.contact(ws)
    step = f.step(ws, "create_deal", {"title": "From workflow", "value": 500, "stage": "qualified",
                                      "contact_id": contact.id, "owner_id": "record_owner"},
                  {"contact": {"id": contact.id, "owner_id": member.id}})
    output = f.run(step)
    deal = db.session.get(Deal, output["deal_id"])
    assert (deal.workspace_id, deal.title, deal.stage, deal.contact_id, deal.owner_id) == \
        (ws.id, "From workflow", "qualified", contact.id, member.id)
    assert (deal.created_by_execution_id, deal.created_by_step) == (step.execution_id, 0)
    assert f.run(step)["deal_id"] == deal.id and count(Deal) == 1


def test_update_deal_and_win_probability(app, workspace):
    ws = workspace()
    deal = f.deal(ws)
    output = f.run(f.step(ws, "update_deal", {"deal_id": deal.id, "changes": {"stage": "proposal", "notes": "Call"}}))
    assert sorted(output["changed"]) == ["notes", "stage"]
    with pytest.raises(StepError, match="cannot be updated"):
        f.run(f.step(ws, "update_deal", {"deal_id": deal.id, "changes": {"owner_id": 1}}))
    output = f.run(f.step(ws, "update_win_probability", {"deal_id": deal.id, "probability": 75}))
    assert output == {"deal_id": deal.id, "previous_probability": 10, "probability": 75, "link": f"/crm/deals/{deal.id}"}
    with pytest.raises(StepError, match="between 0 and 100"):
        f.run(f.step(ws, "update_win_probability", {"deal_id": deal.id, "probability": 101}))
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).probability == 75


@pytest.mark.parametrize("record_type", ["deal", "contact", "ticket", "task", "issue", "project"])
def test_assign_owner(app, workspace, user, record_type):
    ws = workspace()
    member = user(ws)
    record = {"deal": f.deal, "contact": f.contact, "ticket": f.ticket, "task": f.task, "issue": f.task,
              "project": f.project}[record_type](ws)
    output = f.run(f.step(ws, "assign_owner", {"record_type": record_type, "record_id": record.id, "user_id": member.id}))
    db.session.expire_all()
    refreshed = db.session.get(type(record), record.id)
    attribute = {"task": "assignee_id", "issue": "assignee_id", "project": "lead_id"}.get(record_type, "owner_id")
    assert getattr(refreshed, attribute) == member.id and output["owner_id"] == member.id


def test_assign_owner_needs_a_member(app, workspace):
    ws, other = workspace(), workspace()
    deal = f.deal(ws)
    with pytest.raises(StepError, match="not a member"):
        f.run(f.step(ws, "assign_owner", {"record_type": "deal", "record_id": deal.id, "user_id": owner_of(other).id}))


def test_flag_as_stale_records_an_audit_event(app, workspace):
    ws = workspace()
    deal = f.deal(ws, title="Quiet deal")
    step = f.step(ws, "flag_as_stale", {"deal_id": deal.id, "reason": "No reply in 3 weeks"})
    output = f.run(step)
    entry = db.session.get(AuditEvent, output["audit_event_id"])
    assert (entry.event, entry.subject_type, entry.subject_id, entry.execution_id) == \
        ("stale_flagged", "deal", deal.id, step.execution_id)
    assert "No reply in 3 weeks" in entry.message and entry.data["stale_days"] == 14
    assert f.run(step)["audit_event_id"] == entry.id and count(AuditEvent, event="stale_flagged") == 1


# --- Support, Projects, Finance, Recruiting ---------------------------------------------------------

def test_create_ticket(app, workspace):
    ws = workspace()
    step = f.step(ws, "create_ticket", {"subject": "Escalation from webhook", "priority": "high",
                                        "requester_email": "ops@example.test"})
    output = f.run(step)
    ticket = db.session.get(Ticket, output["ticket_id"])
    assert (ticket.workspace_id, ticket.subject, ticket.priority, ticket.status) == (ws.id, "Escalation from webhook", "high", "open")
    assert f.run(step)["ticket_id"] == ticket.id and count(Ticket) == 1


def test_create_project(app, workspace, user):
    ws = workspace()
    lead = user(ws)
    output = f.run(f.step(ws, "create_project", {"name": "Kickoff: Acme", "lead_id": lead.id}))
    project = db.session.get(Project, output["project_id"])
    assert (project.name, project.lead_id, project.workspace_id) == ("Kickoff: Acme", lead.id, ws.id)


def test_close_sprint_cycle(app, workspace):
    ws = workspace()
    project = f.project(ws)
    with pytest.raises(StepError, match="no active sprint cycle") as failure:
        f.run(f.step(ws, "close_sprint_cycle", {"project_id": project.id}))
    assert not failure.value.retryable
    sprint = f.sprint(ws, project)
    output = f.run(f.step(ws, "close_sprint_cycle", {"project_id": project.id}))
    assert output["sprint_id"] == sprint.id and db.session.get(SprintCycle, sprint.id).status == "closed"


def test_create_invoice_prefilled_from_a_deal(app, workspace):
    ws = workspace()
    contact = f.contact(ws, email="ap@globex.example")
    deal = f.deal(ws, contact_id=contact.id)
    step = f.step(ws, "create_invoice", {"customer_name": "Globex", "amount": 9000, "deal_id": deal.id})
    output = f.run(step)
    invoice = db.session.get(Invoice, output["invoice_id"])
    assert (invoice.status, invoice.customer_email, invoice.deal_id, float(invoice.amount)) == \
        ("draft", "ap@globex.example", deal.id, 9000.0)
    assert f.run(step)["invoice_id"] == invoice.id and count(Invoice) == 1


def test_create_quotation(app, workspace):
    ws = workspace()
    output = f.run(f.step(ws, "create_quotation", {"customer_name": "Acme", "amount": 120.5, "currency": "EUR"}))
    quotation = db.session.get(Quotation, output["quotation_id"])
    assert (quotation.status, float(quotation.amount), quotation.currency) == ("draft", 120.5, "EUR")


def test_notify_ats_reaches_the_recruiting_team(app, workspace, user):
    ws = workspace()
    admin, recruiter, member = user(ws, "admin"), user(ws, "member"), user(ws, "member")
    application = f.application(ws, recruiter_id=recruiter.id)
    output = f.run(f.step(ws, "notify_ats", {"title": "New applicant", "candidate_id": application.candidate_id}))
    assert sorted(output["user_ids"]) == sorted([owner_of(ws).id, admin.id, recruiter.id])
    assert member.id not in output["user_ids"]
    links = {n.link for n in db.session.scalars(select(Notification))}
    assert links == {f"/recruiting/applications/{application.id}"}


# --- Workspace isolation --------------------------------------------------------------------------

def foreign_configs(other):
    deal, contact, project = f.deal(other), f.contact(other), f.project(other)
    application = f.application(other)
    return [
        ("update_deal", {"deal_id": deal.id, "changes": {"title": "Hijacked"}}),
        ("update_win_probability", {"deal_id": deal.id, "probability": 1}),
        ("flag_as_stale", {"deal_id": deal.id}),
        ("assign_owner", {"record_type": "deal", "record_id": deal.id, "user_id": "owner"}),
        ("assign_owner", {"record_type": "project", "record_id": project.id, "user_id": "owner"}),
        ("close_sprint_cycle", {"project_id": project.id}),
        ("create_deal", {"title": "X", "contact_id": contact.id}),
        ("create_invoice", {"customer_name": "X", "amount": 1, "deal_id": deal.id}),
        ("notify_ats", {"title": "X", "candidate_id": application.candidate_id}),
    ], deal


def test_foreign_record_ids_are_step_errors_and_touch_nothing(app, workspace):
    ws, other = workspace(), workspace()
    configs, foreign_deal = foreign_configs(other)
    for action_type, config in configs:
        with pytest.raises(StepError, match="not found in this workspace") as failure:
            f.run(f.step(ws, action_type, config))
        assert not failure.value.retryable, action_type
        db.session.rollback()
    db.session.expire_all()
    untouched = db.session.get(Deal, foreign_deal.id)
    assert (untouched.title, untouched.probability, untouched.owner_id) == (foreign_deal.title, 10, foreign_deal.owner_id)
    assert count(Deal, workspace_id=ws.id) == 0 and count(Invoice) == 0 and count(Notification) == 0
    assert count(AuditEvent, event="stale_flagged") == 0


def test_record_links_are_the_urls_of_the_records_pages(app):
    """Executors link to what they made through engine.core.records, built from the app's URL map: the same
    URL the page has, with no path spelled in the engine."""
    with app.test_request_context():
        for kind in RECORD_KINDS.values():
            page = url_for(kind.endpoint, **({kind.argument: 7} if kind.argument else {}),
                           _anchor=kind.anchor.format(7) if kind.anchor else None)
            assert record_path(kind.key, 7) == page, kind.key
    with app.app_context():  # a worker has no request
        assert record_path("deal", 7) == "/crm/deals/7"
        assert record_path("document", 7, "platform.download_document") == "/documents/7/download"

"""/api/v1 business objects: create, list, get and the moves that fire every trigger, via the page services."""
import pytest
from sqlalchemy import select

from models import Contact, Deal, Invoice, WorkflowExecution, db
from tests.api.conftest import ApiClient, errors_of, issue_token
from tests.factories import make_workflow


def fired(ws, trigger):
    db.session.expire_all()
    return list(db.session.scalars(select(WorkflowExecution).where(
        WorkflowExecution.workspace_id == ws.id, WorkflowExecution.trigger_type == trigger)))


@pytest.fixture
def client_with_workflows(sweep_api):
    """An owner's API client whose workspace has an active workflow on every trigger these endpoints fire."""
    client = sweep_api()
    for trigger in ("contact_created", "deal_created", "deal_stage_change", "deal_closed_won", "task_status_change",
                    "task_completed", "ticket_created", "ticket_escalated", "ticket_resolved", "invoice_paid",
                    "invoice_refunded", "candidate_applied", "candidate_stage_change"):
        make_workflow(client.workspace.id, trigger=trigger, name=f"On {trigger}")
    return client


def created(response):
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_crm_contacts_and_deals_fire_their_triggers(client_with_workflows):
    client = client_with_workflows
    contact = created(client.post("/contacts", json={"name": "Ada Lovelace", "email": "ada@example.test"}))
    assert contact["owner_id"] == client.user.id and len(fired(client.workspace, "contact_created")) == 1
    deal = created(client.post("/deals", json={"title": "Engines", "value": 1200.5, "contact_id": contact["id"]}))
    assert deal["value"] == 1200.5 and deal["stage"] == "lead" and deal["probability"] == 10
    assert len(fired(client.workspace, "deal_created")) == 1
    moved = client.post(f"/deals/{deal['id']}/stage", json={"stage": "closed_won"})
    assert moved.status_code == 200 and moved.get_json()["status"] == "won"
    assert len(fired(client.workspace, "deal_stage_change")) == 1 and len(fired(client.workspace, "deal_closed_won")) == 1
    assert [d["id"] for d in client.get("/deals").get_json()["data"]] == [deal["id"]]
    assert client.get(f"/deals/{deal['id']}").get_json()["title"] == "Engines"
    assert [c["id"] for c in client.get("/contacts").get_json()["data"]] == [contact["id"]]
    assert client.get(f"/contacts/{contact['id']}").get_json()["email"] == "ada@example.test"


def test_crm_validation_is_the_services(api):
    client = api("member")
    response = client.post("/deals", json={"title": "", "value": "lots", "probability": 300, "currency": "dollars"})
    assert response.status_code == 422
    assert set(errors_of(response)) >= {"title", "value", "probability", "currency"}
    assert "title" in errors_of(client.post("/deals", json={"title": ["x"]}))
    assert errors_of(client.post("/deals", json={"title": "x", "secret": 1})) == {"secret": ["Unknown field."]}
    assert "email" in errors_of(client.post("/contacts", json={"name": "Bob", "email": "nope"}))
    deal = created(client.post("/deals", json={"title": "x"}))
    response = client.post(f"/deals/{deal['id']}/stage", json={"stage": "won-ish"})
    assert response.status_code == 422 and "stage" in errors_of(response)
    assert "stage" in errors_of(client.post(f"/deals/{deal['id']}/stage", json={}))
    assert db.session.scalar(select(Contact)) is None
    assert len(list(db.session.scalars(select(Deal)))) == 1


def test_projects_and_tasks(client_with_workflows):
    client = client_with_workflows
    project = created(client.post("/projects", json={"name": "Launch"}))
    task = created(client.post("/tasks", json={"project_id": project["id"], "title": "Write docs"}))
    assert task["status"] == "todo" and task["project_id"] == project["id"]
    response = client.post(f"/tasks/{task['id']}/status", json={"status": "done"})
    assert response.status_code == 200 and response.get_json()["completed_at"]
    assert len(fired(client.workspace, "task_status_change")) == 1 and len(fired(client.workspace, "task_completed")) == 1
    assert [t["id"] for t in client.get(f"/tasks?project_id={project['id']}").get_json()["data"]] == [task["id"]]
    assert [t["id"] for t in client.get("/tasks").get_json()["data"]] == [task["id"]]
    assert client.get(f"/tasks/{task['id']}").get_json()["title"] == "Write docs"
    assert client.get(f"/projects/{project['id']}").get_json()["name"] == "Launch"
    assert "project_id" in errors_of(client.post("/tasks", json={"title": "Orphan"}))
    assert "project_id" in errors_of(client.post("/tasks", json={"title": "Lost", "project_id": 987654}))
    assert "project_id" in errors_of(client.post("/tasks", json={"title": "Odd", "project_id": "1"}))
    assert "status" in errors_of(client.post(f"/tasks/{task['id']}/status", json={"status": "finished"}))


def test_support_tickets(client_with_workflows):
    client = client_with_workflows
    ticket = created(client.post("/tickets", json={"subject": "Printer on fire", "priority": "high"}))
    assert len(fired(client.workspace, "ticket_created")) == 1
    escalated = client.post(f"/tickets/{ticket['id']}/escalate")
    assert escalated.status_code == 200 and escalated.get_json()["priority"] == "urgent"
    again = client.post(f"/tickets/{ticket['id']}/escalate")
    assert again.status_code == 422 and "priority" in errors_of(again)
    resolved = client.post(f"/tickets/{ticket['id']}/resolve")
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    assert len(fired(client.workspace, "ticket_escalated")) == 1 and len(fired(client.workspace, "ticket_resolved")) == 1
    assert client.post(f"/tickets/{ticket['id']}/resolve").status_code == 422
    assert [t["id"] for t in client.get("/tickets").get_json()["data"]] == [ticket["id"]]
    assert client.get(f"/tickets/{ticket['id']}").get_json()["subject"] == "Printer on fire"
    assert "priority" in errors_of(client.post("/tickets", json={"subject": "x", "priority": "meh"}))


def test_finance_invoices_payments_and_refunds(client_with_workflows, user):
    client = client_with_workflows
    invoice = created(client.post("/invoices", json={"customer_name": "Acme", "amount": "100.00"}))
    assert invoice["status"] == "draft" and invoice["number"].startswith("INV-")
    partial = created(client.post(f"/invoices/{invoice['id']}/payments", json={"amount": 40}))
    assert partial["invoice"]["status"] == "draft" and not fired(client.workspace, "invoice_paid")
    paid = created(client.post(f"/invoices/{invoice['id']}/payments", json={"amount": 60, "reference": "wire"}))
    assert paid["invoice"]["status"] == "paid" and len(fired(client.workspace, "invoice_paid")) == 1
    too_much = client.post(f"/invoices/{invoice['id']}/refunds", json={"amount": 500})
    assert too_much.status_code == 422 and "amount" in errors_of(too_much)
    member = ApiClient(client.client, issue_token(client.workspace, user(client.workspace, "member")),
                       client.workspace, None)
    assert member.post(f"/invoices/{invoice['id']}/refunds", json={"amount": 10}).status_code == 403
    refund = created(client.post(f"/invoices/{invoice['id']}/refunds", json={"amount": 10, "reason": "late"}))
    assert refund["invoice"]["refunded_amount"] == 10 and len(fired(client.workspace, "invoice_refunded")) == 1
    assert [i["id"] for i in client.get("/invoices").get_json()["data"]] == [invoice["id"]]
    assert client.get(f"/invoices/{invoice['id']}").get_json()["paid_amount"] == 100
    assert set(errors_of(client.post("/invoices", json={}))) >= {"customer_name", "amount"}
    assert "amount" in errors_of(client.post(f"/invoices/{invoice['id']}/payments", json={"amount": -1}))


def test_recruiting_applications(client_with_workflows):
    client = client_with_workflows
    application = created(client.post("/applications", json={
        "name": "Grace Hopper", "email": "grace@example.test", "position": "Compiler engineer"}))
    assert application["stage"] == "applied" and application["candidate"]["name"] == "Grace Hopper"
    assert len(fired(client.workspace, "candidate_applied")) == 1
    moved = client.post(f"/applications/{application['id']}/stage", json={"stage": "interview"})
    assert moved.status_code == 200 and moved.get_json()["stage"] == "interview"
    assert len(fired(client.workspace, "candidate_stage_change")) == 1
    assert [a["id"] for a in client.get("/applications").get_json()["data"]] == [application["id"]]
    assert client.get(f"/applications/{application['id']}").get_json()["position"] == "Compiler engineer"
    response = client.post("/applications", json={"name": "x"})
    assert response.status_code == 422 and {"email", "position"} <= set(errors_of(response))
    assert "stage" in errors_of(client.post(f"/applications/{application['id']}/stage", json={"stage": "maybe"}))


def test_other_workspaces_records_are_404(api):
    theirs = api()
    deal = created(theirs.post("/deals", json={"title": "Theirs"}))
    contact = created(theirs.post("/contacts", json={"name": "Theirs"}))
    ticket = created(theirs.post("/tickets", json={"subject": "Theirs"}))
    invoice = created(theirs.post("/invoices", json={"customer_name": "Theirs", "amount": 5}))
    project = created(theirs.post("/projects", json={"name": "Theirs"}))
    task = created(theirs.post("/tasks", json={"project_id": project["id"], "title": "Theirs"}))
    application = created(theirs.post("/applications", json={"name": "T", "email": "t@example.test", "position": "p"}))
    mine = api()
    for method, path, body in (
        ("GET", f"/deals/{deal['id']}", None), ("POST", f"/deals/{deal['id']}/stage", {"stage": "qualified"}),
        ("GET", f"/contacts/{contact['id']}", None), ("GET", f"/tickets/{ticket['id']}", None),
        ("POST", f"/tickets/{ticket['id']}/escalate", None), ("POST", f"/tickets/{ticket['id']}/resolve", None),
        ("GET", f"/invoices/{invoice['id']}", None), ("POST", f"/invoices/{invoice['id']}/payments", {"amount": 1}),
        ("POST", f"/invoices/{invoice['id']}/refunds", {"amount": 1}), ("GET", f"/projects/{project['id']}", None),
        ("GET", f"/tasks/{task['id']}", None), ("POST", f"/tasks/{task['id']}/status", {"status": "done"}),
        ("GET", f"/applications/{application['id']}", None),
        ("POST", f"/applications/{application['id']}/stage", {"stage": "offer"}),
    ):
        response = mine.request(method, path, json=body)
        assert response.status_code == 404 and response.is_json, (method, path, response.status_code)
    assert mine.get(f"/tasks?project_id={project['id']}").status_code == 404
    response = mine.post("/deals", json={"title": "Mine", "contact_id": contact["id"]})
    assert response.status_code == 422 and "contact_id" in errors_of(response)
    response = mine.post("/invoices", json={"deal_id": deal["id"]})
    assert response.status_code == 422 and "deal_id" in errors_of(response)
    for path in ("/deals", "/contacts", "/tickets", "/invoices", "/projects", "/tasks", "/applications"):
        assert mine.get(path).get_json()["data"] == [], path
    db.session.expire_all()
    assert db.session.get(Deal, deal["id"]).stage == "lead" and db.session.get(Invoice, invoice["id"]).paid_amount == 0


def test_out_of_range_numbers_are_never_a_500(api):
    client = api()
    response = client.post("/deals", json={"title": "x", "contact_id": 10**30})
    assert response.status_code == 422 and "contact_id" in errors_of(response)
    # The services set no upper bound on money; PostgreSQL refuses what NUMERIC(14, 2) cannot hold (422
    # here), SQLite stores it. Either way the API answers, never with a 500.
    for path, body in (("/deals", {"title": "x", "value": 10**20}), ("/invoices", {"customer_name": "x", "amount": 10**20})):
        response = client.post(path, json=body)
        assert response.status_code in (201, 422), (path, body, response.get_data(as_text=True))
        assert response.is_json

"""Support pages: tickets, escalation (urgent cannot go higher), resolution."""
import pytest
from sqlalchemy import select

from models import Ticket, db
from tests import factories as f
from tests.http.test_crm import page


def test_open_escalate_and_resolve_a_ticket(logged_in):
    client, ws, _ = logged_in("member")
    response = client.post("/support/tickets/new", data={"subject": "Export broken", "priority": "high",
                                                        "requester_email": "jordan@acme.example"})
    ticket = db.session.scalar(select(Ticket))
    assert response.status_code == 302 and ticket.priority == "high"
    assert "Export broken" in page(client.get("/support"))
    escalated = f.make_workflow(ws.id, "ticket_escalated")
    assert client.post(f"/support/tickets/{ticket.id}/escalate").status_code == 302
    assert f.only_payload(escalated)["to_priority"] == "urgent"
    response = client.post(f"/support/tickets/{ticket.id}/escalate")
    assert response.status_code == 422 and "already urgent" in page(response)
    assert client.post(f"/support/tickets/{ticket.id}/resolve").status_code == 302
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "resolved"
    assert "resolved" in page(client.get("/support?status=resolved"))


def test_invalid_ticket_form(logged_in):
    client, _, _ = logged_in()
    response = client.post("/support/tickets/new", data={"subject": "", "priority": "asap", "description": "kept"})
    body = page(response)
    assert response.status_code == 422 and "Subject is required." in body and "Choose low, normal, high or urgent." in body
    assert "kept" in body


@pytest.mark.parametrize("method, path", [
    ("get", "/support/tickets/{id}"), ("post", "/support/tickets/{id}/escalate"),
    ("post", "/support/tickets/{id}/resolve"), ("post", "/support/tickets/{id}/owner"),
])
def test_other_workspaces_tickets_are_404(logged_in, workspace, method, path):
    client, _, _ = logged_in()
    assert getattr(client, method)(path.format(id=f.ticket(workspace()).id)).status_code == 404

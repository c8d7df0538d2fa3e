"""CRM pages: pipeline, contacts, forms with inline errors, stage buttons, other workspaces' ids → 404."""
import pytest
from sqlalchemy import select

from models import Contact, Deal, db
from tests import factories as f


def page(response):
    return response.get_data(as_text=True)


def test_pipeline_and_contacts_pages_list_the_workspace_records_only(logged_in, workspace):
    client, ws, _ = logged_in("member")
    f.deal(ws, title="Our deal", stage="proposal")
    f.deal(workspace(), title="Their deal")
    body = page(client.get("/crm"))
    assert "Our deal" in body and "Their deal" not in body and "Closed Won" in body
    f.contact(ws, name="Jordan Lee")
    assert "Jordan Lee" in page(client.get("/crm/contacts"))
    assert 'href="/crm"' in page(client.get("/"))  # the sidebar entry appears


def test_create_a_contact_then_a_deal_through_the_forms(logged_in):
    client, ws, user = logged_in("member")
    response = client.post("/crm/contacts/new", data={"name": "Jordan Lee", "email": "jordan@acme.example",
                                                      "company": "Acme"})
    contact = db.session.scalar(select(Contact))
    assert response.status_code == 302 and response.headers["Location"] == f"/crm/contacts/{contact.id}"
    assert contact.owner_id == user.id  # the creator owns it by default
    response = client.post("/crm/deals/new", data={"title": "Acme — 50 seats", "value": "12500", "currency": "usd",
                                                   "stage": "qualified", "contact_id": contact.id})
    deal = db.session.scalar(select(Deal))
    assert response.status_code == 302 and (deal.currency, deal.contact_id, deal.owner_id) == ("USD", contact.id, user.id)
    assert "Acme — 50 seats" in page(client.get(f"/crm/deals/{deal.id}"))


def test_invalid_deal_form_is_a_422_with_inline_errors_and_the_input_kept(logged_in):
    client, _, _ = logged_in()
    response = client.post("/crm/deals/new", data={"title": "", "value": "-5", "currency": "dollars",
                                                   "probability": "150", "notes": "keep me"})
    body = page(response)
    assert response.status_code == 422
    for message in ("Title is required.", "Must be 0 or more.", "three-letter currency", "Must be between 0 and 100."):
        assert message in body
    assert "keep me" in body and 'value="dollars"' in body
    assert db.session.scalar(select(db.func.count()).select_from(Deal)) == 0


def test_invalid_contact_form(logged_in):
    client, _, _ = logged_in()
    response = client.post("/crm/contacts/new", data={"name": "", "email": "nope", "company": "Kept Inc"})
    assert response.status_code == 422
    assert "Name is required." in page(response) and "Enter a valid email address." in page(response)
    assert 'value="Kept Inc"' in page(response)


def test_a_foreign_contact_or_owner_in_the_form_is_refused(logged_in, workspace):
    client, ws, _ = logged_in()
    other = workspace()
    response = client.post("/crm/deals/new", data={"title": "X", "contact_id": f.contact(other).id})
    assert response.status_code == 422 and "not found in this workspace" in page(response)
    from tests.conftest import owner_of

    response = client.post("/crm/deals/new", data={"title": "X", "owner_id": owner_of(other).id})
    assert response.status_code == 422 and "not a member of this workspace" in page(response)


def test_stage_buttons_move_the_deal_and_fire_the_workflows(logged_in):
    client, ws, _ = logged_in("member")
    deal = f.deal(ws, stage="negotiation")
    won = f.make_workflow(ws.id, "deal_closed_won")
    response = client.post(f"/crm/deals/{deal.id}/stage", data={"stage": "closed_won"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage == "closed_won"
    assert f.only_payload(won)["to_stage"] == "closed_won"
    response = client.post(f"/crm/deals/{deal.id}/stage", data={"stage": "sold"})
    assert response.status_code == 422 and "Choose a pipeline stage" in page(response)


def test_stage_change_needs_the_csrf_token(logged_in):
    client, ws, _ = logged_in()
    deal = f.deal(ws)
    assert client.post(f"/crm/deals/{deal.id}/stage", data={"stage": "proposal"}, csrf=False).status_code == 400


@pytest.mark.parametrize("method, path", [
    ("get", "/crm/deals/{deal}"), ("post", "/crm/deals/{deal}/stage"), ("post", "/crm/deals/{deal}/owner"),
    ("get", "/crm/contacts/{contact}"),
])
def test_other_workspaces_records_are_404(logged_in, workspace, method, path):
    client, _, _ = logged_in()
    other = workspace()
    url = path.format(deal=f.deal(other).id, contact=f.contact(other).id)
    assert getattr(client, method)(url, data={"stage": "proposal"}).status_code == 404

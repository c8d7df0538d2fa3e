"""Finance pages: invoices, payments, refunds (admins only), quotations."""
import pytest
from sqlalchemy import select

from models import Invoice, Quotation, Refund, db
from tests import factories as f
from tests.http.test_crm import page


def test_invoice_from_draft_to_paid(logged_in):
    client, ws, _ = logged_in("member")
    deal = f.deal(ws, value="750", currency="EUR")
    assert f"/finance/invoices/new?deal_id={deal.id}" in page(client.get(f"/crm/deals/{deal.id}"))
    response = client.post("/finance/invoices/new", data={"deal_id": deal.id, "customer_name": "Globex"})
    invoice = db.session.scalar(select(Invoice))
    assert response.status_code == 302 and (invoice.amount, invoice.currency, invoice.status) == (750, "EUR", "draft")
    paid = f.make_workflow(ws.id, "invoice_paid")
    assert client.post(f"/finance/invoices/{invoice.id}/send").status_code == 302
    assert client.post(f"/finance/invoices/{invoice.id}/payments", data={"amount": "250"}).status_code == 302
    assert f.executions_of(paid) == []
    response = client.post(f"/finance/invoices/{invoice.id}/payments", data={"amount": "600"})
    assert response.status_code == 422 and "open balance" in page(response)
    assert client.post(f"/finance/invoices/{invoice.id}/payments", data={"amount": "500"}).status_code == 302
    assert f.only_payload(paid)["invoice"]["status"] == "paid"
    assert invoice.number in page(client.get("/finance"))


@pytest.mark.parametrize("role, allowed", [("member", False), ("admin", True), ("owner", True)])
def test_refunds_are_for_admins(logged_in, role, allowed):
    client, ws, _ = logged_in(role)
    invoice = f.invoice(ws, sent=True, amount="100")
    f.pay(ws, invoice, "100")
    refunded = f.make_workflow(ws.id, "invoice_refunded")
    response = client.post(f"/finance/invoices/{invoice.id}/refunds", data={"amount": "100", "reason": "Duplicate"})
    assert response.status_code == (302 if allowed else 403)
    assert len(f.executions_of(refunded)) == (1 if allowed else 0)
    assert db.session.scalar(select(db.func.count()).select_from(Refund)) == (1 if allowed else 0)
    assert ("Refund</h2>" in page(client.get(f"/finance/invoices/{invoice.id}"))) is False  # fully refunded now or not allowed


def test_invoice_form_errors(logged_in):
    client, _, _ = logged_in()
    response = client.post("/finance/invoices/new", data={"amount": "abc", "customer_email": "x", "notes": "kept"})
    body = page(response)
    assert response.status_code == 422 and "Enter an amount" in body and "Enter a valid email address." in body
    assert "Customer name is required." in body and "kept" in body


def test_quotation_send_and_accept(logged_in):
    client, ws, _ = logged_in()
    response = client.post("/finance/quotations/new", data={"customer_name": "Acme", "amount": "99"})
    quotation = db.session.scalar(select(Quotation))
    assert response.status_code == 302
    assert client.post(f"/finance/quotations/{quotation.id}/accept").status_code == 422
    assert client.post(f"/finance/quotations/{quotation.id}/send").status_code == 302
    assert client.post(f"/finance/quotations/{quotation.id}/accept").status_code == 302
    assert "accepted" in page(client.get(f"/finance/quotations/{quotation.id}"))
    assert quotation.number in page(client.get("/finance?tab=quotations"))


@pytest.mark.parametrize("method, path", [
    ("get", "/finance/invoices/{invoice}"), ("post", "/finance/invoices/{invoice}/send"),
    ("post", "/finance/invoices/{invoice}/payments"), ("post", "/finance/invoices/{invoice}/refunds"),
    ("get", "/finance/quotations/{quotation}"), ("post", "/finance/quotations/{quotation}/send"),
])
def test_other_workspaces_records_are_404(logged_in, workspace, method, path):
    from services import invoice_service

    client, _, _ = logged_in()
    other = workspace()
    quotation = invoice_service.create_quotation(other.id, {"customer_name": "X", "amount": "1"}, None)
    db.session.commit()
    url = path.format(invoice=f.invoice(other).id, quotation=quotation.id)
    assert getattr(client, method)(url, data={"amount": "1"}).status_code == 404

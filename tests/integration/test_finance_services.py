"""Finance: invoice_paid fires once when fully paid; every refund fires invoice_refunded."""
from decimal import Decimal

import pytest

from services import invoice_service, payment_service
from services.errors import ValidationFailed
from tests import factories as f
from tests.conftest import owner_of
from tests.integration.test_crm_services import assert_catalog_shape


def test_invoice_paid_fires_once_when_fully_paid(workspace):
    ws = workspace()
    invoice = f.invoice(ws, sent=True, amount="1000")
    workflow = f.make_workflow(ws.id, "invoice_paid")
    f.pay(ws, invoice, "400")
    assert f.executions_of(workflow) == []  # a partial payment is not "paid"
    f.pay(ws, invoice, "600")
    payload = f.only_payload(workflow)
    assert payload["invoice"] == {"id": invoice.id, "number": invoice.number, "customer_name": "Acme Corp",
                                  "customer_email": "billing@acme.example", "amount": 1000.0, "currency": "USD",
                                  "status": "paid", "paid_amount": 1000.0}
    assert_catalog_shape(payload, "invoice_paid")
    with pytest.raises(ValidationFailed, match="already paid"):
        payment_service.record_payment(ws.id, invoice.id, {"amount": "1"}, None)
    f.db.session.rollback()
    payment_service.refresh_invoice_paid_amount(ws.id, invoice.id)  # recomputing never fires again
    f.db.session.commit()
    assert len(f.executions_of(workflow)) == 1


def test_refunds_fire_invoice_refunded(workspace):
    ws = workspace()
    admin = owner_of(ws)
    invoice = f.invoice(ws, sent=True, amount="500")
    f.pay(ws, invoice, "500")
    workflow = f.make_workflow(ws.id, "invoice_refunded")
    payment_service.refund_invoice(ws.id, invoice.id, {"amount": "100", "reason": "Duplicate charge"}, admin)
    f.db.session.commit()
    assert invoice_service.get_invoice(ws.id, invoice.id).status == "paid"  # partly refunded
    refund = payment_service.refund_invoice(ws.id, invoice.id, {"amount": "400"}, admin)
    f.db.session.commit()
    first, second = f.executions_of(workflow)
    assert first.trigger_payload["refund"]["amount"] == 100.0
    assert first.trigger_payload["refund"]["reason"] == "Duplicate charge"
    assert second.trigger_payload["refund"]["id"] == refund.id
    assert second.trigger_payload["invoice"]["status"] == "refunded"
    assert_catalog_shape(second.trigger_payload, "invoice_refunded")
    with pytest.raises(ValidationFailed, match="Nothing has been paid"):
        payment_service.refund_invoice(ws.id, invoice.id, {"amount": "1"}, admin)


def test_payment_and_refund_limits(workspace):
    ws = workspace()
    invoice = f.invoice(ws, amount="100")
    with pytest.raises(ValidationFailed, match="open balance"):
        payment_service.record_payment(ws.id, invoice.id, {"amount": "100.01"}, None)
    with pytest.raises(ValidationFailed):
        payment_service.record_payment(ws.id, invoice.id, {"amount": "0"}, None)
    with pytest.raises(ValidationFailed, match="Nothing has been paid"):
        payment_service.refund_invoice(ws.id, invoice.id, {"amount": "5"}, None)
    f.pay(ws, invoice, "60")
    with pytest.raises(ValidationFailed, match="left to refund"):
        payment_service.refund_invoice(ws.id, invoice.id, {"amount": "60.01"}, None)


def test_invoice_prefilled_from_a_deal_and_numbered(workspace):
    ws, other = workspace(), workspace()
    contact = f.contact(ws, company="Globex", email="ap@globex.example")
    deal = f.deal(ws, value="9000", currency="EUR", contact_id=contact.id)
    invoice = invoice_service.create_invoice(ws.id, {"deal_id": deal.id}, None)
    second = invoice_service.create_invoice(ws.id, {"customer_name": "B", "amount": "1"}, None)
    assert (invoice.customer_name, invoice.customer_email, invoice.amount, invoice.currency) == \
        ("Globex", "ap@globex.example", Decimal("9000.00"), "EUR")
    assert invoice.status == "draft" and invoice.number != second.number
    with pytest.raises(ValidationFailed, match="not found in this workspace"):
        invoice_service.create_invoice(ws.id, {"deal_id": f.deal(other).id}, None)
    with pytest.raises(ValidationFailed) as failure:
        invoice_service.create_invoice(ws.id, {}, None)
    assert set(failure.value.errors) == {"customer_name", "amount"}


def test_quotation_lifecycle(workspace):
    ws = workspace()
    quotation = invoice_service.create_quotation(ws.id, {"customer_name": "Acme", "amount": "10"}, None)
    with pytest.raises(ValidationFailed):
        invoice_service.accept_quotation(ws.id, quotation.id, None)
    invoice_service.send_quotation(ws.id, quotation.id, None)
    assert invoice_service.accept_quotation(ws.id, quotation.id, None).status == "accepted"

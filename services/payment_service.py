"""Finance: payments and refunds against invoices (PaymentService).

An invoice becomes `paid` when its payments cover its amount: refresh_invoice_paid_amount fires
invoice_paid on that transition only (never on a partial payment, never twice). Every refund
fires invoice_refunded; an invoice whose payments are all refunded becomes `refunded`.
"""
from decimal import Decimal

from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from models import Invoice, Payment, Refund, User, db
from models.base import utcnow
from models.vocabulary import InvoiceStatus
from services.common import Stripped, fire, load, money
from services.errors import ValidationFailed
from services.invoice_service import build_invoice_payload, get_invoice

POSITIVE = validate.Range(min=Decimal("0.01"), error="Must be more than 0.")

PAYABLE_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.SENT)  # an invoice takes payments until it is paid


class PaymentSchema(Schema):
    amount = fields.Decimal(required=True, places=2, validate=POSITIVE,
                            error_messages={"invalid": "Enter an amount, like 250.00.", "required": "Amount is required."})
    reference = Stripped(load_default="", validate=validate.Length(max=200))


class RefundSchema(Schema):
    amount = fields.Decimal(required=True, places=2, validate=POSITIVE,
                            error_messages={"invalid": "Enter an amount, like 250.00.", "required": "Amount is required."})
    reason = Stripped(load_default="", validate=validate.Length(max=500))


def build_refund_payload(refund: Refund) -> dict:
    return {"id": refund.id, "amount": money(refund.amount), "reason": refund.reason or None}


def _sum(model, invoice_id: int) -> Decimal:
    return Decimal(db.session.scalar(select(func.coalesce(func.sum(model.amount), 0)).where(model.invoice_id == invoice_id)) or 0)


def record_payment(workspace_id: int, invoice_id, data: dict, actor: User | None) -> Payment:
    invoice = get_invoice(workspace_id, invoice_id)
    clean = load(PaymentSchema(), data)
    if invoice.status not in PAYABLE_STATUSES:
        raise ValidationFailed({"amount": [f"This invoice is already {invoice.status}."]})
    if clean["amount"] > invoice.balance:
        raise ValidationFailed({"amount": [f"At most the open balance, {invoice.balance:.2f} {invoice.currency}."]})
    payment = Payment(workspace_id=workspace_id, invoice_id=invoice.id, amount=clean["amount"],
                      reference=clean["reference"], recorded_by_id=actor.id if actor else None)
    db.session.add(payment)
    db.session.flush()
    refresh_invoice_paid_amount(workspace_id, invoice.id, actor)
    return payment


def refresh_invoice_paid_amount(workspace_id: int, invoice_id, actor: User | None = None) -> Invoice:
    """Recompute paid and refunded amounts from the rows; fire invoice_paid when it just became fully paid."""
    invoice = get_invoice(workspace_id, invoice_id)
    invoice.paid_amount = _sum(Payment, invoice.id)
    invoice.refunded_amount = _sum(Refund, invoice.id)
    became_paid = invoice.status in PAYABLE_STATUSES and invoice.amount > 0 and invoice.paid_amount >= invoice.amount
    if became_paid:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = utcnow()
    if invoice.refunded_amount > 0 and invoice.refunded_amount >= invoice.paid_amount:
        invoice.status = InvoiceStatus.REFUNDED
    db.session.flush()
    if became_paid:
        fire(workspace_id, "invoice_paid", actor, invoice=build_invoice_payload(invoice))
    return invoice


def refund_invoice(workspace_id: int, invoice_id, data: dict, actor: User | None) -> Refund:
    """Refund part or all of what was paid; fires invoice_refunded."""
    invoice = get_invoice(workspace_id, invoice_id)
    clean = load(RefundSchema(), data)
    refundable = (invoice.paid_amount or 0) - (invoice.refunded_amount or 0)
    if refundable <= 0:
        raise ValidationFailed({"amount": ["Nothing has been paid on this invoice that could be refunded."]})
    if clean["amount"] > refundable:
        raise ValidationFailed({"amount": [f"At most what is left to refund, {refundable:.2f} {invoice.currency}."]})
    refund = Refund(workspace_id=workspace_id, invoice_id=invoice.id, amount=clean["amount"], reason=clean["reason"],
                    recorded_by_id=actor.id if actor else None)
    db.session.add(refund)
    db.session.flush()
    invoice = refresh_invoice_paid_amount(workspace_id, invoice.id, actor)
    fire(workspace_id, "invoice_refunded", actor, invoice=build_invoice_payload(invoice),
         refund=build_refund_payload(refund))
    return refund

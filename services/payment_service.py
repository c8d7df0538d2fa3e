"""Finance: payments and refunds against invoices (PaymentService).

An invoice becomes `paid` when its payments cover its amount: refresh_invoice_paid_amount fires
invoice_paid on that transition only (never on a partial payment, never twice). Every refund
fires invoice_refunded; an invoice whose payments are all refunded becomes `refunded`.

Payments and refunds of one invoice happen one at a time: each locks the invoice row first
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite, the database's single writer lock, taken with
BEGIN IMMEDIATE), then reads the balance again from the payment and refund rows inside the lock.
Eight parallel payments of the whole amount record one; the others are refused (422).
"""
from decimal import Decimal

from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

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


def lock_invoice(workspace_id: int, invoice_id) -> Invoice:
    """The invoice, locked until the transaction ends, with its amounts recomputed from the rows inside the lock."""
    get_invoice(workspace_id, invoice_id)  # NotFound before any lock (the identity map keeps it for the query below)
    session = db.session()
    _take_sqlite_writer_lock(session)
    invoice = db.session.scalar(
        select(Invoice).where(Invoice.id == int(invoice_id), Invoice.workspace_id == workspace_id)
        .with_for_update().execution_options(populate_existing=True))
    invoice.paid_amount = _sum(Payment, invoice.id)
    invoice.refunded_amount = _sum(Refund, invoice.id)
    return invoice


def _take_sqlite_writer_lock(session: Session) -> None:
    """SQLite has one writer: start the transaction as a writer (BEGIN IMMEDIATE waits for the lock, within the
    busy timeout) so what is read next cannot change before this transaction commits. A transaction that has
    already written holds the lock."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def record_payment(workspace_id: int, invoice_id, data: dict, actor: User | None) -> Payment:
    get_invoice(workspace_id, invoice_id)
    clean = load(PaymentSchema(), data)
    invoice = lock_invoice(workspace_id, invoice_id)
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
    get_invoice(workspace_id, invoice_id)
    clean = load(RefundSchema(), data)
    invoice = lock_invoice(workspace_id, invoice_id)
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

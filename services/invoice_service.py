"""Finance: invoices (draft → sent → paid / refunded) and quotations (draft → sent → accepted)."""
from datetime import date, timedelta
from decimal import Decimal

from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from models import Invoice, Quotation, User, db
from models.base import utcnow
from models.vocabulary import InvoiceStatus, QuotationStatus
from services import deal_service
from services.common import Origin, Stripped, get_in_workspace, load, money, origin_columns
from services.deal_service import CURRENCY
from services.errors import NotFound, ValidationFailed

AMOUNT = dict(places=2, validate=validate.Range(min=0, error="Must be 0 or more."),
              error_messages={"invalid": "Enter an amount, like 1200.50.", "required": "Amount is required."})


class _Upper(Stripped):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).upper()


class _DocumentSchema(Schema):
    customer_name = Stripped(validate=validate.Length(max=200, error="At most 200 characters."))
    customer_email = fields.Email(load_default="", error_messages={"invalid": "Enter a valid email address."})
    amount = fields.Decimal(**AMOUNT)
    currency = _Upper(validate=CURRENCY)
    deal_id = fields.Integer(load_default=None, error_messages={"invalid": "Enter a deal id."})


class InvoiceSchema(_DocumentSchema):
    due_days = fields.Integer(load_default=30, validate=validate.Range(0, 3650, error="Between 0 and 3650 days."),
                              error_messages={"invalid": "Must be a whole number of days."})
    notes = Stripped(load_default="", validate=validate.Length(max=20000))


def build_invoice_payload(invoice: Invoice) -> dict:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "customer_name": invoice.customer_name,
        "customer_email": invoice.customer_email or None,
        "amount": money(invoice.amount),
        "currency": invoice.currency,
        "status": invoice.status,
        "paid_amount": money(invoice.paid_amount),
    }


def get_invoice(workspace_id: int, invoice_id) -> Invoice:
    return get_in_workspace(Invoice, workspace_id, invoice_id, "Invoice")


def get_quotation(workspace_id: int, quotation_id) -> Quotation:
    return get_in_workspace(Quotation, workspace_id, quotation_id, "Quotation")


def list_invoices(workspace_id: int) -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).where(Invoice.workspace_id == workspace_id).order_by(Invoice.id.desc())))


def list_quotations(workspace_id: int) -> list[Quotation]:
    return list(db.session.scalars(select(Quotation).where(Quotation.workspace_id == workspace_id).order_by(Quotation.id.desc())))


def _next_number(model, workspace_id: int, prefix: str) -> str:
    count = db.session.scalar(select(func.count()).select_from(model).where(model.workspace_id == workspace_id)) or 0
    while True:
        count += 1
        number = f"{prefix}-{date.today().year}-{count:04d}"
        taken = db.session.scalar(select(model.id).where(model.workspace_id == workspace_id, model.number == number))
        if taken is None:
            return number


def _prefill_from_deal(workspace_id: int, clean: dict) -> None:
    """Missing customer, amount and currency come from the deal (and its contact)."""
    if clean.get("deal_id") is None:
        return
    try:
        deal = deal_service.get_deal(workspace_id, clean["deal_id"])
    except NotFound as missing:
        raise ValidationFailed({"deal_id": [str(missing) + "."]}) from None
    contact = deal.contact
    if not clean.get("customer_name"):
        clean["customer_name"] = (contact.company or contact.name) if contact else deal.title
    if not clean.get("customer_email") and contact and contact.email:
        clean["customer_email"] = contact.email
    clean.setdefault("amount", deal.value)
    clean.setdefault("currency", deal.currency)


def _load_document(schema: Schema, data: dict) -> dict:
    """Schema errors and missing required values, reported together (a deal may fill the latter)."""
    errors, clean = {}, {}
    try:
        clean = load(schema, data)
    except ValidationFailed as failure:
        errors = dict(failure.errors)
    if not str(data.get("deal_id") or "").strip():
        if not str(data.get("customer_name") or "").strip():
            errors.setdefault("customer_name", ["Customer name is required."])
        if not str(data.get("amount") if data.get("amount") is not None else "").strip():
            errors.setdefault("amount", ["Amount is required."])
    if errors:
        raise ValidationFailed(errors)
    return clean


def _finish(clean: dict) -> dict:
    errors = {}
    if not clean.get("customer_name"):
        errors["customer_name"] = ["Customer name is required."]
    if clean.get("amount") is None:
        errors["amount"] = ["Amount is required."]
    if errors:
        raise ValidationFailed(errors)
    clean.setdefault("currency", "USD")
    return clean


def create_invoice(workspace_id: int, data: dict, actor: User | None, *, origin: Origin = None) -> Invoice:
    """A draft invoice; pre-filled from `deal_id` when given."""
    clean = _load_document(InvoiceSchema(), data)
    _prefill_from_deal(workspace_id, clean)
    clean = _finish(clean)
    due_days = clean.pop("due_days")
    invoice = Invoice(workspace_id=workspace_id, number=_next_number(Invoice, workspace_id, "INV"), status=InvoiceStatus.DRAFT,
                      paid_amount=Decimal("0"), refunded_amount=Decimal("0"),
                      due_on=date.today() + timedelta(days=due_days), **clean, **origin_columns(origin))
    db.session.add(invoice)
    db.session.flush()
    return invoice


def send_invoice(workspace_id: int, invoice_id, actor: User | None) -> Invoice:
    invoice = get_invoice(workspace_id, invoice_id)
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValidationFailed({"status": [f"Only a draft invoice can be sent (this one is {invoice.status})."]})
    invoice.status = InvoiceStatus.SENT
    invoice.sent_at = utcnow()
    db.session.flush()
    return invoice


def create_quotation(workspace_id: int, data: dict, actor: User | None, *, origin: Origin = None) -> Quotation:
    """A draft quotation; pre-filled from `deal_id` when given."""
    clean = _load_document(_DocumentSchema(), data)
    _prefill_from_deal(workspace_id, clean)
    clean = _finish(clean)
    quotation = Quotation(workspace_id=workspace_id, number=_next_number(Quotation, workspace_id, "QUO"),
                          status=QuotationStatus.DRAFT, **clean, **origin_columns(origin))
    db.session.add(quotation)
    db.session.flush()
    return quotation


def send_quotation(workspace_id: int, quotation_id, actor: User | None) -> Quotation:
    quotation = get_quotation(workspace_id, quotation_id)
    if quotation.status != QuotationStatus.DRAFT:
        raise ValidationFailed({"status": [f"Only a draft quotation can be sent (this one is {quotation.status})."]})
    quotation.status = QuotationStatus.SENT
    quotation.sent_at = utcnow()
    db.session.flush()
    return quotation


def accept_quotation(workspace_id: int, quotation_id, actor: User | None) -> Quotation:
    quotation = get_quotation(workspace_id, quotation_id)
    if quotation.status != QuotationStatus.SENT:
        raise ValidationFailed({"status": ["Only a sent quotation can be accepted."]})
    quotation.status = QuotationStatus.ACCEPTED
    quotation.accepted_at = utcnow()
    db.session.flush()
    return quotation

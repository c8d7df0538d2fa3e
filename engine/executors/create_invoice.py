"""Create Invoice: a draft invoice, optionally pre-filled from a deal (customer email, and what the config leaves out)."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, earlier_record, link, origin, service_errors
from models import Invoice
from services import deal_service, invoice_service


@register("create_invoice")
def create_invoice(step: StepContext) -> dict:
    config = config_of(step)
    invoice = earlier_record(Invoice, step)
    if invoice is None:
        with service_errors():
            if config.get("deal_id"):
                deal_service.get_deal(step.workspace_id, config["deal_id"])  # a clear error for a foreign id
            invoice = invoice_service.create_invoice(step.workspace_id, dict(config), None, origin=origin(step))
    return {"invoice_id": invoice.id, "number": invoice.number, "amount": float(invoice.amount),
            "currency": invoice.currency, "status": invoice.status, "deal_id": invoice.deal_id,
            "link": link("invoice", invoice.id)}

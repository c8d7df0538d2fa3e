"""Create Quotation: a draft quotation."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, earlier_record, link, origin, service_errors
from models import Quotation
from services import invoice_service


@register("create_quotation")
def create_quotation(step: StepContext) -> dict:
    config = config_of(step)
    quotation = earlier_record(Quotation, step)
    if quotation is None:
        with service_errors():
            quotation = invoice_service.create_quotation(step.workspace_id, dict(config), None, origin=origin(step))
    return {"quotation_id": quotation.id, "number": quotation.number, "amount": float(quotation.amount),
            "currency": quotation.currency, "status": quotation.status, "link": link("quotation", quotation.id)}

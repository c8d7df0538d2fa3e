"""Create Deal: a new deal in the pipeline (fires deal_created)."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, earlier_record, link, optional_user_id, origin, service_errors
from models import Deal
from services import contact_service, deal_service


def _output(deal: Deal) -> dict:
    return {"deal_id": deal.id, "title": deal.title, "stage": deal.stage, "link": link("deal", deal.id)}


@register("create_deal")
def create_deal(step: StepContext) -> dict:
    config = config_of(step)
    existing = earlier_record(Deal, step)
    if existing is not None:
        return _output(existing)
    data = {key: config[key] for key in ("title", "value", "currency", "stage") if key in config}
    with service_errors():
        if config.get("contact_id"):
            data["contact_id"] = contact_service.get_contact(step.workspace_id, config["contact_id"]).id
        data["owner_id"] = optional_user_id(step, config.get("owner_id"), "owner_id")
        deal = deal_service.create_deal(step.workspace_id, data, None, origin=origin(step))
    return _output(deal)

"""Update Deal: only the whitelisted fields (title, stage, status, value, currency, probability, notes)."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, link, service_errors
from services import deal_service


@register("update_deal")
def update_deal(step: StepContext) -> dict:
    config = config_of(step)
    with service_errors():
        deal, changed = deal_service.update_deal(step.workspace_id, config["deal_id"], config["changes"], None)
    return {"deal_id": deal["id"], "changed": changed, "deal": deal, "link": link("deal", deal["id"])}

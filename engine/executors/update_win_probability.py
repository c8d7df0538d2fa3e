"""Update Win Probability: set a deal's probability (0–100)."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, link, service_errors
from services import deal_service


@register("update_win_probability")
def update_win_probability(step: StepContext) -> dict:
    config = config_of(step)
    with service_errors():
        deal, previous = deal_service.set_win_probability(step.workspace_id, config["deal_id"],
                                                          config["probability"], None)
    return {"deal_id": deal.id, "previous_probability": previous, "probability": deal.probability,
            "link": link("deal", deal.id)}

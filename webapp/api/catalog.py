"""/api/v1/catalog: the triggers and actions a definition may use, with their fields."""
from engine.core.catalog import ACTIONS, TRIGGERS
from webapp.api.blueprint import operation
from webapp.api.schemas import CatalogOut


@operation("/catalog", "GET", summary="Triggers and actions", tag="Catalog", response=CatalogOut, flagged=True)
def get_catalog():
    """Every trigger (its config fields and the payload fields it provides) and every action (its config fields)."""
    return {"triggers": list(TRIGGERS.values()), "actions": list(ACTIONS.values())}

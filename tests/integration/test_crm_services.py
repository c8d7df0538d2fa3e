"""CRM services fire their triggers with the catalog's payload shape."""
import pytest

from engine.core.catalog import payload_paths
from engine.core.conditions import MISSING, get_path
from models import db
from services import deal_service
from services.errors import NotFound, ValidationFailed
from tests import factories as f
from tests.conftest import owner_of


def assert_catalog_shape(payload, trigger):
    missing = [path for path in payload_paths(trigger) if get_path(payload, path) is MISSING]
    assert missing == [], f"{trigger} payload lacks {missing}"


def test_create_contact_fires_contact_created(workspace):
    ws = workspace()
    owner = owner_of(ws)
    workflow = f.make_workflow(ws.id, "contact_created")
    contact = f.contact(ws, owner, name="Jordan Lee", email="jordan@acme.example", company="Acme")
    payload = f.only_payload(workflow)
    assert payload["contact"] == {"id": contact.id, "name": "Jordan Lee", "email": "jordan@acme.example",
                                  "company": "Acme", "owner_id": owner.id, "owner_email": owner.email}
    assert payload["actor"] == {"id": owner.id, "name": owner.display_name, "email": owner.email}
    assert payload["workspace"] == {"id": ws.id, "name": ws.name}
    assert_catalog_shape(payload, "contact_created")


def test_create_deal_fires_deal_created_with_deal_and_contact(workspace):
    ws = workspace()
    workflow = f.make_workflow(ws.id, "deal_created")
    contact = f.contact(ws, name="Jordan Lee")
    deal = f.deal(ws, title="Acme — 50 seats", value="12500.50", contact_id=contact.id, stage="qualified")
    payload = f.only_payload(workflow)
    assert payload["deal"]["id"] == deal.id and payload["deal"]["title"] == "Acme — 50 seats"
    assert payload["deal"]["value"] == 12500.5 and payload["deal"]["stage"] == "qualified"
    assert payload["deal"]["probability"] == 25 and payload["deal"]["status"] == "open"
    assert payload["contact"]["name"] == "Jordan Lee" and payload["deal"]["contact_id"] == contact.id
    assert payload["actor"]["id"] is None and payload["actor"]["name"] == "Workflow"  # no acting user
    assert_catalog_shape(payload, "deal_created")


def test_moving_a_deal_fires_stage_change_and_closed_won(workspace):
    ws = workspace()
    owner = owner_of(ws)
    deal = f.deal(ws, stage="negotiation")
    stage_change = f.make_workflow(ws.id, "deal_stage_change")
    won = f.make_workflow(ws.id, "deal_closed_won")
    deal_service.move_deal_to_stage(ws.id, deal.id, "closed_won", owner)
    f.db.session.commit()
    for workflow in (stage_change, won):
        payload = f.only_payload(workflow)
        assert (payload["from_stage"], payload["to_stage"]) == ("negotiation", "closed_won")
        assert payload["deal"]["status"] == "won" and payload["deal"]["probability"] == 100
        assert payload["actor"]["email"] == owner.email
        assert_catalog_shape(payload, workflow.trigger_type)


def test_an_ordinary_stage_change_does_not_fire_closed_won(workspace):
    ws = workspace()
    deal = f.deal(ws)
    won = f.make_workflow(ws.id, "deal_closed_won")
    change = f.make_workflow(ws.id, "deal_stage_change")
    deal_service.move_deal_to_stage(ws.id, deal.id, "proposal", None)
    deal_service.move_deal_to_stage(ws.id, deal.id, "proposal", None)  # no change: no event
    f.db.session.commit()
    assert f.executions_of(won) == []
    assert [e.trigger_payload["to_stage"] for e in f.executions_of(change)] == ["proposal"]


def test_deal_rules(workspace):
    ws, other = workspace(), workspace()
    foreign_contact = f.contact(other)
    with pytest.raises(ValidationFailed) as failure:
        deal_service.create_deal(ws.id, {"title": "X", "contact_id": foreign_contact.id}, None)
    assert "not found in this workspace" in str(failure.value.errors["contact_id"])
    with pytest.raises(ValidationFailed) as failure:
        deal_service.create_deal(ws.id, {"title": "", "value": "-3", "currency": "dollars", "probability": 101}, None)
    assert set(failure.value.errors) == {"title", "value", "currency", "probability"}
    with pytest.raises(ValidationFailed):
        deal_service.move_deal_to_stage(ws.id, f.deal(ws).id, "won", None)
    with pytest.raises(NotFound, match="not found in this workspace"):
        deal_service.move_deal_to_stage(ws.id, f.deal(other).id, "proposal", None)


def test_update_deal_accepts_only_the_whitelist(workspace):
    ws = workspace()
    deal = f.deal(ws)
    with pytest.raises(ValidationFailed) as failure:
        deal_service.update_deal(ws.id, deal.id, {"workspace_id": 99, "title": "New"}, None)
    assert "'workspace_id' cannot be updated" in failure.value.errors["changes"][0]
    updated, changed = deal_service.update_deal(ws.id, deal.id, {"title": "New", "probability": 55,
                                                                "stage": "proposal"}, None)
    assert (updated["title"], updated["probability"], updated["stage"]) == ("New", 55, "proposal")
    db.session.expire_all()
    assert (deal.title, deal.probability, deal.stage) == ("New", 55, "proposal")
    assert sorted(changed) == ["probability", "stage", "title"]

"""Support: ticket_created, ticket_escalated (one level up; urgent cannot go higher), ticket_resolved."""
import pytest

from services import ticket_service
from services.errors import ValidationFailed
from tests import factories as f
from tests.conftest import owner_of
from tests.integration.test_crm_services import assert_catalog_shape


def test_create_ticket_fires_ticket_created(workspace):
    ws = workspace()
    owner = owner_of(ws)
    workflow = f.make_workflow(ws.id, "ticket_created")
    ticket = f.ticket(ws, owner, subject="Export broken", description="Spins forever", priority="high",
                      owner_id=owner.id)
    payload = f.only_payload(workflow)
    assert payload["ticket"] == {"id": ticket.id, "subject": "Export broken", "description": "Spins forever",
                                 "requester_email": "customer@example.test", "priority": "high", "status": "open",
                                 "owner_id": owner.id, "owner_email": owner.email}
    assert_catalog_shape(payload, "ticket_created")


def test_escalate_raises_priority_one_level_until_urgent(workspace):
    ws = workspace()
    ticket = f.ticket(ws, priority="normal")
    workflow = f.make_workflow(ws.id, "ticket_escalated")
    assert ticket_service.escalate_ticket(ws.id, ticket.id, None).priority == "high"
    assert ticket_service.escalate_ticket(ws.id, ticket.id, None).priority == "urgent"
    f.db.session.commit()
    with pytest.raises(ValidationFailed, match="already urgent"):
        ticket_service.escalate_ticket(ws.id, ticket.id, None)
    f.db.session.rollback()
    changes = [(e.trigger_payload["from_priority"], e.trigger_payload["to_priority"]) for e in f.executions_of(workflow)]
    assert changes == [("normal", "high"), ("high", "urgent")]
    assert_catalog_shape(f.executions_of(workflow)[-1].trigger_payload, "ticket_escalated")


def test_resolve_fires_once(workspace):
    ws = workspace()
    ticket = f.ticket(ws)
    workflow = f.make_workflow(ws.id, "ticket_resolved")
    ticket_service.resolve_ticket(ws.id, ticket.id, None)
    f.db.session.commit()
    with pytest.raises(ValidationFailed, match="already resolved"):
        ticket_service.resolve_ticket(ws.id, ticket.id, None)
    f.db.session.rollback()
    payload = f.only_payload(workflow)
    assert payload["ticket"]["status"] == "resolved"
    assert_catalog_shape(payload, "ticket_resolved")


def test_ticket_validation(workspace):
    ws = workspace()
    with pytest.raises(ValidationFailed) as failure:
        ticket_service.create_ticket(ws.id, {"subject": " ", "priority": "asap", "requester_email": "nope"}, None)
    assert set(failure.value.errors) == {"subject", "priority", "requester_email"}

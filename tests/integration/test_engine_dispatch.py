"""The dispatcher: which workflows an event fires, in which transaction, and what it never breaks."""
import pytest
from sqlalchemy import select

from engine.core.catalog import sample_payload
from engine.core import handoff
from engine.core.runs import MAX_CHAIN_DEPTH, caused_by_execution, fire_workflow_event
from models import AuditEvent, WorkflowExecution, db
from services import audit_service
from tests.factories import make_workflow, make_workspace


@pytest.fixture
def sweep_app(make_app):
    """An app whose runs wait for an explicit run/sweep, so tests see them pending."""
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


def _executions():
    return list(db.session.scalars(select(WorkflowExecution).order_by(WorkflowExecution.id)))


def test_event_fires_only_active_matching_workflows_of_its_workspace(sweep_app):
    ws, other = make_workspace("Acme"), make_workspace("Other")
    active = make_workflow(ws.id, status="active", name="active one")
    for status in ("draft", "paused", "archived"):
        make_workflow(ws.id, status=status, name=status)
    make_workflow(ws.id, trigger="ticket_created", name="other trigger")
    make_workflow(other.id, name="other workspace")
    payload = sample_payload("deal_created")

    ids = fire_workflow_event(ws.id, "deal_created", payload)
    db.session.commit()

    executions = _executions()
    assert [e.id for e in executions] == ids
    assert [(e.workflow_id, e.status, e.workspace_id) for e in executions] == [(active.id, "pending", ws.id)]
    assert executions[0].trigger_payload == payload
    assert executions[0].definition["actions"] == active.actions


@pytest.mark.parametrize("value, fires", [(5000, True), (999, False)])
def test_conditions_must_hold(sweep_app, value, fires):
    ws = make_workspace()
    make_workflow(ws.id, conditions=[{"field": "deal.value", "op": "gte", "value": 1000}])
    payload = sample_payload("deal_created")
    payload["deal"]["value"] = value
    assert bool(fire_workflow_event(ws.id, "deal_created", payload)) is fires


def test_missing_condition_field_never_raises(sweep_app):
    ws = make_workspace()
    make_workflow(ws.id, conditions=[{"field": "deal.nothing.here", "op": "gt", "value": 3}])
    assert fire_workflow_event(ws.id, "deal_created", {"deal": "not even a dict"}) == []


def test_flag_off_fires_nothing(make_app):
    app = make_app(AUTOMATIONS_ENABLED=False, ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace()
        make_workflow(ws.id)
        assert fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created")) == []
        db.session.commit()
        assert _executions() == []


@pytest.mark.parametrize("payload", [
    ["not", "an", "object"],  # the database refuses the row (CHECK constraint) inside the savepoint
    {"deal": {"tags": {"a set", "is not JSON"}}},  # the driver cannot serialise it
], ids=["database-error", "client-error"])
def test_a_dispatch_failure_never_breaks_the_business_change(sweep_app, payload):
    ws = make_workspace()
    make_workflow(ws.id)
    audit_service.record_event(ws.id, "deal.created", "the business change")
    assert fire_workflow_event(ws.id, "deal_created", payload) == []
    audit_service.record_event(ws.id, "deal.updated", "the same transaction goes on after the failed dispatch")
    db.session.commit()
    events = db.session.scalars(select(AuditEvent.event).where(AuditEvent.event.like("deal.%")).order_by(AuditEvent.id))
    assert list(events) == ["deal.created", "deal.updated"]
    assert _executions() == []


def test_rolled_back_business_change_takes_its_executions_with_it(sweep_app):
    ws = make_workspace()
    make_workflow(ws.id)
    assert fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.rollback()
    assert _executions() == []


def test_chain_depth_is_limited_and_the_refusal_recorded(sweep_app):
    ws = make_workspace()
    make_workflow(ws.id)
    refusals = []
    with caused_by_execution(MAX_CHAIN_DEPTH, refusals):
        assert fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created")) == []
    assert refusals and "depth" in refusals[0]["message"]
    with caused_by_execution(MAX_CHAIN_DEPTH - 1, []):
        ids = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    assert db.session.get(WorkflowExecution, ids[0]).event_depth == MAX_CHAIN_DEPTH


def test_dispatch_uses_the_indexed_lookup(sweep_app):
    indexes = {index.name: [c.name for c in index.columns] for index in WorkflowExecution.metadata.tables["workflows"].indexes}
    assert indexes["ix_workflows_dispatch"] == ["workspace_id", "trigger_type", "status"]


def test_executions_reach_the_queue_only_after_the_outer_commit(sweep_app, monkeypatch):
    handed = []

    class RecordingHandOff:
        def hand_over(self, ids):
            handed.append(list(ids))

    monkeypatch.setitem(sweep_app.extensions, handoff.EXTENSION_KEY, RecordingHandOff())
    monkeypatch.setitem(sweep_app.config, "ENGINE_HANDOFF", "queue")
    ws = make_workspace()
    make_workflow(ws.id)
    make_workflow(ws.id, trigger="deal_closed_won")
    first = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    second = fire_workflow_event(ws.id, "deal_closed_won", sample_payload("deal_closed_won"))  # releases another savepoint
    assert handed == []
    db.session.commit()
    assert handed == [first + second]

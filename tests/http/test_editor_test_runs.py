"""The editor's Test panel over HTTP (issue #20): the unsaved form is tested, JSON errors say where, one step can
be tested, another workspace's workflow is 404, and the samples fragment lists this workspace's recent events."""
from sqlalchemy import func, select

from models import Deal, OutboxEmail, WorkflowExecution, db
from tests import factories

FORM = {"name": "Unsaved", "trigger_type": "deal_created", "action_order": ["0", "1"],
        "actions-0-type": "send_template_email", "actions-0-config-to": "{{ trigger.contact.email }}",
        "actions-0-config-subject": "Hi {{ trigger.deal.title }}", "actions-0-config-body": "Thanks",
        "actions-1-type": "create_deal", "actions-1-config-title": "Follow-up"}
PAYLOAD = '{"deal": {"title": "Acme — 50 seats"}, "contact": {"email": "ada@acme.example"}}'


def test_the_unsaved_form_is_tested_and_nothing_is_kept(logged_in):
    client, ws, _owner = logged_in()
    response = client.post("/automations/editor/test", data={**FORM, "test_payload": PAYLOAD})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert 'data-test-status="completed"' in page
    assert "ada@acme.example" in page and "Hi Acme — 50 seats" in page
    assert "would_create" in page and "Follow-up" in page
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0
    assert db.session.scalar(select(func.count()).select_from(Deal)) == 0
    assert db.session.scalars(select(WorkflowExecution.mode)).all() == ["test"]


def test_a_json_error_says_line_and_column(logged_in):
    client, _ws, _owner = logged_in()
    response = client.post("/automations/editor/test", data={**FORM, "test_payload": '{\n "deal": {\n  "title": "x",\n }\n}'})
    assert response.status_code == 422
    assert "line 4, column 2" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 0


def test_an_invalid_definition_is_refused_before_it_runs(logged_in):
    client, _ws, _owner = logged_in()
    response = client.post("/automations/editor/test", data={**FORM, "actions-0-config-subject": ""})
    assert response.status_code == 422
    assert "Nothing was tested" in response.get_data(as_text=True)


def test_test_this_step_ends_with_that_step(logged_in):
    client, _ws, _owner = logged_in()
    response = client.post("/automations/editor/test", data={**FORM, "test_payload": PAYLOAD, "test_step": "0"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert page.count("data-test-step=") == 1 and "Tested up to this step" in page


def test_another_workspaces_workflow_is_404(logged_in):
    client, _ws, _owner = logged_in()
    other = factories.make_workspace()
    foreign = factories.make_workflow(other.id)
    response = client.post("/automations/editor/test", data={**FORM, "workflow_id": str(foreign.id)})
    assert response.status_code == 404


def test_the_samples_fragment_offers_this_workspaces_recent_events(logged_in):
    client, ws, owner = logged_in()
    factories.deal(ws, owner, title="Acme — 50 seats")
    factories.deal(factories.make_workspace(), None, title="Elsewhere Inc")
    page = client.get("/automations/editor/samples?trigger_type=deal_created").get_data(as_text=True)
    assert "Use a recent event: Deal &#39;Acme — 50 seats&#39;, just now" in page
    assert "Elsewhere" not in page
    assert "Use the example data of the trigger" in page
    empty = client.get("/automations/editor/samples?trigger_type=ticket_created").get_data(as_text=True)
    assert "No Ticket Created event has happened in this workspace yet" in empty

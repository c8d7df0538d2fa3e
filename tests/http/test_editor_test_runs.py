"""The editor's Test panel over HTTP (issue #20): the unsaved form is tested, JSON errors say where, one step can
be tested, another workspace's workflow is 404, and the samples fragment lists this workspace's recent events."""
import re
from datetime import timedelta

from sqlalchemy import func, select

from models import Deal, Notification, OutboxEmail, Workflow, WorkflowExecution, WorkflowFailureState, db
from models.base import utcnow
from services import retention_service, workflow_settings
from tests import factories
from tests.http.test_hooks import post, webhook_workflow
from tests.http.test_runs import add_run, add_runs, tab_count

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


def test_a_signed_webhook_delivery_is_a_recent_event_to_test_with_without_its_secrets(logged_in):
    client, ws, _owner = logged_in()
    _workflow, endpoint = webhook_workflow(ws.id)
    body = b'{"order_id": "ORD-77", "api_key": "sk_live_abcdef", "note": "Bearer abc.def"}'
    assert post(client, endpoint, body, delivery_id="msg_77").status_code == 202
    page = client.get("/automations/editor/samples?trigger_type=webhook_received").get_data(as_text=True)
    assert "Use a recent event:" in page and "ORD-77" in page
    assert "sk_live_abcdef" not in page and "Bearer abc.def" not in page and endpoint.secret not in page


BRANCHED = {"name": "Branched", "trigger_type": "deal_created", "action_order": ["0", "1", "2", "3"],
            "actions-0-type": "branch", "actions-0-config-match": "all", "actions-0-cond-0-field": "deal.value",
            "actions-0-cond-0-op": "gte", "actions-0-cond-0-value": "10000",
            "actions-1-type": "log_event", "actions-1-parent": "0.then", "actions-1-config-event": "big",
            "actions-2-type": "log_event", "actions-2-parent": "0.else", "actions-2-config-event": "small",
            "actions-3-type": "create_deal", "actions-3-config-title": "Follow-up"}


def test_test_this_step_on_a_path_this_sample_does_not_take_says_so(logged_in):
    """The branch takes Else for this deal: testing the Then step stops there and says why, instead of running
    the rest of the workflow and showing the step as skipped among the others."""
    client, _ws, _owner = logged_in()
    payload = '{"deal": {"title": "Acme", "value": 500}}'
    page = client.post("/automations/editor/test", data={**BRANCHED, "test_payload": payload, "test_step": "1"}
                       ).get_data(as_text=True)
    assert "data-test-not-run" in page and "Step would not run" in page
    assert "Step 1 › Then 1 would not run on this sample." in " ".join(page.split())
    assert "took the <strong>Else</strong> path" in page and "does not hold" in page
    assert page.count("data-test-step=") == 2  # the branch and the step: Create Deal did not run
    taken = client.post("/automations/editor/test", data={**BRANCHED, "test_payload": payload, "test_step": "2"}
                        ).get_data(as_text=True)
    assert "data-test-not-run" not in taken and "Tested up to this step" in taken
    assert ">1 › Else 1<" in taken


def test_the_email_it_would_send_reads_as_the_email(logged_in):
    """The rendered body shows its line breaks (not a JSON string with \\n) and is escaped; the rows a step would
    create are said in a sentence."""
    client, _ws, _owner = logged_in()
    body = "Hi {{ trigger.contact.email }},\nthanks for <b>Acme</b>.\n\nBye"
    page = client.post("/automations/editor/test", data={**FORM, "actions-0-config-body": body,
                                                          "test_payload": PAYLOAD}).get_data(as_text=True)
    email = page.split("data-test-email", 1)[1].split("</details>", 1)[0]
    assert "To:</span> ada@acme.example" in email and "Subject:</span> Hi Acme — 50 seats" in email
    assert '<div class="email-body border-top mt-1 pt-1">Hi ada@acme.example,\nthanks for &lt;b&gt;Acme&lt;/b&gt;.\n\nBye</div>' in email
    assert "\\n" not in email.split("<details", 1)[0]
    # the other steps' effects read as sentences too (the JSON stays, folded)
    summary = page.split("data-test-summary", 1)[1].split("</ul>", 1)[0]
    assert "Would create a deal: title = Follow-up" in summary


# -- test runs and the operating features of issue #22 ---------------------------------------------------------
FAILING = {**FORM, "error_strategy": "stop", "test_payload": '{"deal": {"title": "No contact"}}'}  # no recipient


def _test_in_editor(client, workflow, form=None):
    response = client.post("/automations/editor/test", data={**(form or {**FORM, "test_payload": PAYLOAD}),
                                                             "workflow_id": str(workflow.id)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_a_failing_test_run_alerts_no_one_and_does_not_count_toward_auto_pause(logged_in):
    client, ws, owner = logged_in()
    workflow = factories.make_workflow(ws.id, name="Careful", status="active")
    workflow_settings.update_settings(workflow, {"alert_on_failure": True, "auto_pause_after_failures": 1}, owner,
                                      workflow_settings.CHANGE_ROLE)
    db.session.commit()
    for _ in range(2):
        assert 'data-test-status="failed"' in _test_in_editor(client, workflow, FAILING)
    db.session.expire_all()
    assert db.session.get(Workflow, workflow.id).status == "active"
    assert db.session.get(WorkflowFailureState, workflow.id) is None  # no streak, no alert bookkeeping
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


def test_a_test_run_runs_at_once_on_a_workflow_at_its_cap(logged_in):
    """A test run holds no slot and never waits for one: the workflow's cap (1) and then the workspace's (1) are
    both taken by a live run, and the test still runs at once."""
    client, ws, owner = logged_in()
    workflow = factories.make_workflow(ws.id, name="One at a time", status="active")
    workflow_settings.update_settings(workflow, {"max_concurrent_runs": 1}, owner, workflow_settings.CHANGE_ROLE)
    add_run(workflow, status="running", lease_owner="elsewhere", lease_expires_at=utcnow() + timedelta(minutes=5))
    db.session.commit()
    assert 'data-test-status="completed"' in _test_in_editor(client, workflow)
    client.application.config["WORKSPACE_MAX_RUNNING"] = 1  # the workspace's cap, reached by the same live run
    assert 'data-test-status="completed"' in _test_in_editor(client, workflow)


def test_test_runs_stay_out_of_the_runs_tab_counts_insights_and_select_all(logged_in):
    client, ws, _owner = logged_in()
    workflow = factories.make_workflow(ws.id, name="Counted", status="active")
    add_runs(workflow, 2, status="completed", duration_ms=100)
    add_runs(workflow, 1, status="failed", duration_ms=100)

    def figures():
        runs = client.get("/automations/runs")
        insights = client.get("/automations/insights").get_data(as_text=True)
        select_all = client.get("/automations/runs/bulk", query_string={"action": "delete", "all": "1"})
        return (tab_count(runs, "all"), tab_count(runs, "failed"), re.search(r'data-stat="total">([^<]*)<', insights)[1],
                re.search(r'id="bulk-count">\w+ <strong>(\d+)</strong>', select_all.get_data(as_text=True))[1],
                sorted(map(int, re.findall(r'data-run-id="(\d+)"', runs.get_data(as_text=True)))))

    before = figures()
    _test_in_editor(client, workflow)
    _test_in_editor(client, workflow, FAILING)
    assert figures() == before
    assert before[:4] == (3, 1, "3", "3")
    tests = client.get("/automations/runs?mode=test").get_data(as_text=True)
    assert len(re.findall(r'data-run-id="(\d+)"', tests)) == 2


def test_the_prune_deletes_old_test_runs_like_other_runs(logged_in):
    client, ws, _owner = logged_in()
    workflow = factories.make_workflow(ws.id, name="Pruned")
    _test_in_editor(client, workflow)
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 1
    retention_service.prune_workspace(ws, now=utcnow() + timedelta(days=30))  # within the 90 days: kept
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 1
    retention_service.prune_workspace(ws, now=utcnow() + timedelta(days=91))
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 0

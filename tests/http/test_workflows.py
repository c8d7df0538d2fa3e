"""The workflow list and the editor through HTTP: every route, good and bad input, roles, other workspaces."""
import html
import json
import re

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Workflow, WorkflowExecution, db
from tests.factories import make_workflow
from tests.support.engine import log_step, wait_for_status


def editor_form(**overrides):
    """The form the editor posts: a Log Event then a Wait, on Deal Created."""
    form = {
        "name": "Deal alert", "description": "Tell the team", "trigger_type": "deal_created",
        "error_strategy": "continue",
        "actions-0-type": "log_event", "actions-0-delay_seconds": "0",
        "actions-0-config-event": "deal_seen", "actions-0-config-message": "{{ trigger.deal.title }}",
        "actions-1-type": "wait_delay", "actions-1-delay_seconds": "5", "actions-1-config-seconds": "60",
        "action_order": ["0", "1"],
    }
    form.update(overrides)
    return form


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_new_workflow_saves_as_a_draft_and_opens_the_editor(logged_in):
    client, ws, owner = logged_in("member")
    response = client.post("/automations/new", data=editor_form())
    assert response.status_code == 302
    workflow = db.session.scalar(select(Workflow))
    assert response.headers["Location"] == f"/automations/{workflow.id}"
    assert (workflow.workspace_id, workflow.status, workflow.created_by_id) == (ws.id, "draft", owner.id)
    assert workflow.actions == [
        {"type": "log_event", "delay_seconds": 0, "config": {"event": "deal_seen", "message": "{{ trigger.deal.title }}"},
         "id": "s1"},  # the server gives every step a stable id (DESIGN.md "Definition v2")
        {"type": "wait_delay", "delay_seconds": 5, "config": {"seconds": 60}, "id": "s2"},
    ]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="Deal alert"' in page and "Wait / Delay" in page


def test_the_posted_order_is_the_saved_order(logged_in):
    client, _, _ = logged_in()
    client.post("/automations/new", data=editor_form(action_order=["1", "0"]))
    assert [a["type"] for a in db.session.scalar(select(Workflow)).actions] == ["wait_delay", "log_event"]


def test_save_and_activate(logged_in):
    client, _, _ = logged_in()
    client.post("/automations/new", data=editor_form(intent="activate"))
    assert db.session.scalar(select(Workflow)).status == "active"


@pytest.mark.parametrize(
    "overrides, field_message",
    [
        ({"name": "  "}, "Name is required."),
        ({"trigger_type": "deal_exploded"}, "Unknown trigger 'deal_exploded'."),
        ({"actions-0-type": "teleport"}, "Unknown action type 'teleport'."),
        ({"actions-0-type": "update_deal", "actions-0-config-event": "", "actions-0-config-message": "",
          "actions-0-config-deal_id": "{{ trigger.deal.id }}", "actions-0-config-changes": '{"owner_id": 7}'}, "cannot be updated"),
        ({"actions-0-type": "update_win_probability", "actions-0-config-event": "", "actions-0-config-message": "",
          "actions-0-config-probability": "150"}, "Must be between 0 and 100."),
        ({"actions-1-delay_seconds": "-3"}, "delay"),
        ({"error_strategy": "pray"}, "error_strategy"),
    ],
)
def test_bad_input_is_an_inline_error_and_writes_nothing(logged_in, overrides, field_message):
    client, _, _ = logged_in()
    response = client.post("/automations/new", data=editor_form(**overrides))
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "Nothing was saved" in page
    assert field_message.lower() in page.lower()
    assert 'value="' + (overrides.get("name", "Deal alert").replace(" ", " ") if overrides.get("name") != "  " else "") in page
    assert count(Workflow) == 0


def test_unknown_action_type_keeps_the_other_edits(logged_in):
    client, _, _ = logged_in()
    response = client.post("/automations/new", data=editor_form(**{"actions-0-type": "teleport"}))
    page = response.get_data(as_text=True)
    assert 'value="Deal alert"' in page
    assert re.search(r'name="actions-1-config-seconds" value="1"', page)  # 60 s shown as 1 minute
    assert re.search(r'name="actions-1-config-seconds_unit".*?<option value="minutes" selected>', page, re.S)


def test_structural_edits_are_rendered_by_the_server_without_saving(logged_in):
    client, _, _ = logged_in()
    headers = {"HX-Request": "true"}
    added = client.post("/automations/editor/render", data=editor_form(edit="add_action", arg="call_webhook"), headers=headers)
    body = added.get_data(as_text=True)
    assert added.status_code == 200 and body.lstrip().startswith('<div id="editor-body"')
    assert body.count('name="action_order"') == 3 and "Call Webhook" in body and 'data-selected="2"' in body
    moved = client.post("/automations/editor/render", data=editor_form(edit="move_up", arg="1"), headers=headers).get_data(as_text=True)
    assert moved.index('name="actions-0-type" value="wait_delay"') < moved.index('name="actions-1-type" value="log_event"')
    removed = client.post("/automations/editor/render", data=editor_form(edit="remove_action", arg="0"), headers=headers).get_data(as_text=True)
    assert removed.count('name="action_order"') == 1 and 'value="wait_delay"' in removed
    with_condition = client.post("/automations/editor/render", data=editor_form(edit="add_condition"), headers=headers).get_data(as_text=True)
    assert 'name="conditions-0-field"' in with_condition
    trigger = client.post("/automations/editor/render", data=editor_form(edit="change_trigger", trigger_type="scheduled"), headers=headers).get_data(as_text=True)
    assert 'name="trigger_config-cron"' in trigger and "0 9 * * *" in trigger
    assert count(Workflow) == 0


def test_conditions_are_saved(logged_in):
    client, _, _ = logged_in()
    client.post("/automations/new", data=editor_form(**{
        "conditions-0-field": "deal.value", "conditions-0-op": "gte", "conditions-0-value": "1000",
        "conditions-1-field": "deal.title", "conditions-1-op": "is_not_empty"}))
    assert db.session.scalar(select(Workflow)).conditions == [
        {"field": "deal.value", "op": "gte", "value": "1000"}, {"field": "deal.title", "op": "is_not_empty", "value": None}]


def test_editing_a_live_workflow_keeps_it_active_and_running_runs_keep_their_snapshot(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, actions=[log_step("old")])
    response = client.post(f"/automations/{workflow.id}", data=editor_form(intent="save"))
    assert response.status_code == 302
    db.session.refresh(workflow)
    assert workflow.status == "active" and workflow.version == 2 and workflow.actions[0]["config"]["event"] == "deal_seen"


@pytest.mark.parametrize("intent, status", [("pause", "paused"), ("activate", "active")])
def test_save_with_a_status_intent(logged_in, intent, status):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, status="draft" if intent == "activate" else "active")
    client.post(f"/automations/{workflow.id}", data=editor_form(intent=intent))
    db.session.refresh(workflow)
    assert workflow.status == status


def test_list_filters_searches_sorts_and_hides_archived(logged_in):
    client, ws, _ = logged_in()
    make_workflow(ws.id, name="Alpha live", status="active")
    make_workflow(ws.id, name="Beta draft", status="draft")
    make_workflow(ws.id, name="Gamma archived", status="archived")
    page = client.get("/automations").get_data(as_text=True)
    assert "Alpha live" in page and "Beta draft" in page and "Gamma archived" not in page
    assert "Gamma archived" in client.get("/automations?status=archived").get_data(as_text=True)
    assert "Beta draft" not in client.get("/automations?status=active").get_data(as_text=True)
    searched = client.get("/automations?q=bet").get_data(as_text=True)
    assert "Beta draft" in searched and "Alpha live" not in searched
    by_name = client.get("/automations?sort=name").get_data(as_text=True)
    assert by_name.index("Alpha live") < by_name.index("Beta draft")
    assert client.get("/automations?status=bogus&sort=bogus&page=zz").status_code == 200


def test_list_shows_last_run_and_runs_in_7_days(logged_in, make_app):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, name="Runner")
    from services import execution_service

    execution = execution_service.run_now(workflow)
    db.session.commit()
    wait_for_status(execution.id)
    page = client.get("/automations").get_data(as_text=True)
    row = page[page.index("Runner"):page.index("Runner") + 2500]
    assert "status-completed" in row and "<td class=\"text-end\">1</td>" in row


def test_list_paginates(logged_in):
    client, ws, _ = logged_in()
    for n in range(30):
        make_workflow(ws.id, name=f"Flow {n:02d}", status="draft")
    first = client.get("/automations?sort=name").get_data(as_text=True)
    second = client.get("/automations?sort=name&page=2").get_data(as_text=True)
    assert "Flow 00" in first and "Flow 29" not in first
    assert "Flow 29" in second and "page 2 of 2" in second


def test_empty_state_points_to_the_gallery(logged_in):
    client, _, _ = logged_in()
    page = client.get("/automations").get_data(as_text=True)
    assert "No workflows yet." in page and "Start from a template" in page


def test_row_actions_change_status_duplicate_and_delete(logged_in):
    client, ws, _ = logged_in("admin")
    workflow = make_workflow(ws.id, status="draft")
    assert client.post(f"/automations/{workflow.id}/status", data={"status": "active"}).status_code == 302
    db.session.refresh(workflow)
    assert workflow.status == "active"
    assert client.post(f"/automations/{workflow.id}/status", data={"status": "exploded"}).status_code == 302
    db.session.refresh(workflow)
    assert workflow.status == "active"
    client.post(f"/automations/{workflow.id}/duplicate")
    copy = db.session.scalar(select(Workflow).where(Workflow.id != workflow.id))
    assert copy.name == "Test workflow (copy)" and copy.status == "draft" and copy.actions == workflow.actions
    workflow_id = workflow.id
    assert client.post(f"/automations/{workflow_id}/delete").status_code == 302
    assert db.session.scalar(select(Workflow).where(Workflow.id == workflow_id)) is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "workflow.deleted")) == 1


def test_members_cannot_delete_and_do_not_see_the_button(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    assert "Delete" not in client.get("/automations").get_data(as_text=True)
    assert client.post(f"/automations/{workflow.id}/delete").status_code == 403
    assert db.session.get(Workflow, workflow.id) is not None


def test_other_workspaces_workflows_are_404_everywhere(logged_in, workspace):
    client, _, _ = logged_in("owner")
    foreign = make_workflow(workspace().id, name="Secret")
    for method, path, data in [
        ("get", f"/automations/{foreign.id}", None),
        ("post", f"/automations/{foreign.id}", editor_form()),
        ("post", f"/automations/{foreign.id}/status", {"status": "paused"}),
        ("post", f"/automations/{foreign.id}/duplicate", None),
        ("post", f"/automations/{foreign.id}/delete", None),
        ("post", f"/automations/{foreign.id}/run", {"payload": "{}"}),
        ("get", f"/automations/{foreign.id}/runs/1/live", None),
        ("post", "/automations/editor/render", editor_form(workflow_id=str(foreign.id))),
    ]:
        response = getattr(client, method)(path, data=data) if data is not None else getattr(client, method)(path)
        assert response.status_code == 404, path
    db.session.refresh(foreign)
    assert foreign.status == "active" and foreign.name == "Secret" and count(Workflow) == 1
    assert count(WorkflowExecution) == 0


def test_run_now_starts_a_run_and_reports_it_live(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, status="draft")
    response = client.post(f"/automations/{workflow.id}/run", data={"payload": json.dumps({"deal": {"title": "Manual"}})})
    assert response.status_code == 200
    execution = db.session.scalar(select(WorkflowExecution))
    assert execution.source == "manual" and execution.trigger_payload == {"deal": {"title": "Manual"}}
    wait_for_status(execution.id)
    live = client.get(f"/automations/{workflow.id}/runs/{execution.id}/live").get_data(as_text=True)
    assert 'data-run-status="completed"' in live and "hx-trigger" not in live  # polling stops when done


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '"text"'])
def test_run_now_rejects_a_payload_that_is_not_a_json_object(logged_in, payload):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id)
    response = client.post(f"/automations/{workflow.id}/run", data={"payload": payload})
    assert response.status_code == 422
    assert "must be a JSON object" in response.get_data(as_text=True)
    assert count(WorkflowExecution) == 0


def test_the_scheduled_trigger_shows_the_next_five_runs(logged_in):
    client, ws, _ = logged_in()
    headers = {"HX-Request": "true"}
    body = client.post("/automations/editor/render",
                       data=editor_form(edit="change_trigger", trigger_type="scheduled"), headers=headers).get_data(as_text=True)
    assert "Next 5 runs" in body and body.count("<li class=\"d-flex justify-content-between") == 5
    preview = client.get("/automations/triggers/schedule-preview?trigger_config-cron=0+7+*+*+1&trigger_config-timezone=Europe/Berlin")
    assert preview.status_code == 200 and "Mon" in preview.get_data(as_text=True)
    bad = client.get("/automations/triggers/schedule-preview?trigger_config-cron=nope").get_data(as_text=True)
    assert "text-danger" in bad
    workflow = make_workflow(ws.id, trigger="scheduled", trigger_config={"cron": "30 6 * * *", "timezone": "UTC"})
    page = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert 'id="schedule-panel"' in page and "Active" in page


def test_a_webhook_workflow_shows_its_url_and_secret_once_saved(logged_in):
    client, ws, _ = logged_in()
    unsaved = client.post("/automations/editor/render", data=editor_form(edit="change_trigger", trigger_type="webhook_received"),
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Save the workflow to get its unique URL" in unsaved
    workflow = make_workflow(ws.id, trigger="webhook_received")
    from services import incoming_webhook_service

    endpoint = incoming_webhook_service.endpoint_for(workflow.id)
    page = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert f"/hooks/{endpoint.token}" in page and endpoint.secret in page and "curl" in page


def test_quick_rule_workflows_stay_out_of_the_builder_and_are_labelled_in_runs(logged_in):
    from services import quick_rules_service, workflow_service

    client, ws, owner = logged_in()
    quick_rules_service.ensure_system_rules()
    rule = quick_rules_service.list_rules(ws.id)[0]
    client.post(f"/settings/automations/{rule['rule'].id}", data={"enabled": "true"})
    [workflow_id] = db.session.scalars(workflow_service.quick_rule_workflow_ids()).all()
    assert "No workflows yet." in client.get("/automations").get_data(as_text=True)
    assert client.get(f"/automations/{workflow_id}").status_code == 404
    for path in ("", "/status", "/delete", "/duplicate", "/run", "/triggers/webhook/rotate"):
        assert client.post(f"/automations/{workflow_id}{path}", data={"status": "archived"}).status_code == 404, path
    assert client.get(f"/automations/{workflow_id}/triggers/schedule").status_code == 404
    workflow = db.session.get(Workflow, workflow_id)
    assert workflow.status == "active" and workflow.version == 1
    from services import execution_service

    execution = execution_service.run_now(workflow)
    db.session.commit()
    wait_for_status(execution.id)
    runs = client.get("/automations/runs").get_data(as_text=True)
    assert "Quick Rule</span>" in runs and 'href="/settings/automations"' in runs


def test_saving_a_webhook_to_a_private_address_is_refused_at_once(logged_in):
    """Issues #23 and #18: the owner learns at Save that a URL can never be called (not from a failed run), in words
    that say what to do rather than naming a server setting."""
    client, _, _ = logged_in()
    form = {k: v for k, v in editor_form(**{"actions-0-type": "call_webhook", "actions-0-config-url": "http://10.0.0.7/hook"}).items()
            if not k.startswith("actions-0-config-") or k.endswith("-url")}
    response = client.post("/automations/new", data=form, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "10.0.0.7 is a local or private address" in text
    assert "public URL" in text and "WEBHOOK_ALLOWED_HOSTS" not in text
    public = dict(form, **{"actions-0-config-url": "https://hooks.example.com/x"})
    saved = client.post("/automations/new", data=public, follow_redirects=True)
    assert saved.status_code == 200 and "private address" not in saved.get_data(as_text=True)

"""The editor with branches, over HTTP: it draws a branch's two paths, says its condition in words, edits steps
inside the paths (add, move, drag between paths, conditions, All/Any), offers earlier steps' outputs in the
Insert field picker, and saves what it shows without losing a path, an id or conditions_match."""
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from models import Workflow, db
from tests.factories import make_workflow

HTMX = {"HX-Request": "true"}
BRANCHING = [
    {"id": "a1", "type": "log_event", "config": {"event": "seen"}},
    {"id": "b1", "type": "branch", "config": {"match": "any", "conditions": [
        {"field": "deal.value", "op": "gte", "value": 10000}, {"field": "steps.a1.output.event", "op": "eq", "value": "vip"}]},
     "then": [{"id": "a2", "type": "log_event", "config": {"event": "big"}},
              {"id": "a5", "type": "log_event", "config": {"event": "bigger"}}],
     "else": [{"id": "a3", "type": "log_event", "config": {"event": "small"}}]},
    {"id": "a4", "type": "log_event", "config": {"event": "done", "message": "{{ steps.a2.output.event }}"}},
]


class FormFields(HTMLParser):
    """The fields a browser would submit from the editor form (what is rendered, as rendered)."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                return
            if a.get("type") in ("submit", "button", "search"):
                return
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "select" and a.get("name"):
            self._select = [a["name"], None, None]
        elif tag == "option" and self._select is not None:
            if self._select[2] is None:
                self._select[2] = a.get("value", "")
            if "selected" in a:
                self._select[1] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            name, chosen, first = self._select
            self.fields.append((name, chosen if chosen is not None else (first or "")))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append(tuple(self._textarea))
            self._textarea = None


def fields_of(html: str, **changes) -> MultiDict:
    parser = FormFields()
    parser.feed(html)
    fields = [(name, value) for name, value in parser.fields if name not in changes and name != "csrf_token"]
    for name, value in changes.items():
        for item in value if isinstance(value, list) else [value]:
            fields.append((name, item))
    return MultiDict(fields)


def body(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


@pytest.fixture
def editing(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id, actions=BRANCHING, status="draft")
    page = body(client.get(f"/automations/{workflow.id}"))
    return client, workflow, page


def render(client, fields, edit, arg=""):
    data = MultiDict(fields)
    data.setlist("edit", [edit])
    data.setlist("arg", [arg])
    return body(client.post("/automations/editor/render", data=data, headers=HTMX))


def test_the_branch_card_draws_both_paths_and_says_its_condition_in_words(editing):
    _client, _workflow, page = editing
    assert "If Deal value ≥ 10,000 or step a1&#39;s event = vip" in page
    then_at, else_at = page.index('data-parent="1.then"'), page.index('data-parent="1.else"')
    assert then_at < page.index('data-step="Step 2 › Then 1: Log Event"') < page.index('data-step="Step 2 › Then 2: Log Event"') < else_at
    assert else_at < page.index('data-step="Step 2 › Else 1: Log Event"') < page.index('data-step="Step 3: Log Event"')
    assert page.count("Add step") >= 2 and 'id="branch-1-match-any" value="any" checked' in page


def test_saving_what_the_editor_shows_keeps_paths_ids_and_conditions_match(editing):
    client, workflow, page = editing
    before = workflow.definition()
    before["actions"][1]["config"]["conditions"][0]["value"] = "10000"  # a form sends text, as for workflow conditions
    response = client.post(f"/automations/{workflow.id}", data=fields_of(page, conditions_match="any"))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    db.session.expire_all()
    saved = db.session.get(Workflow, workflow.id)
    assert saved.actions == before["actions"] and saved.conditions_match == "any"


def test_adding_a_step_inside_a_path(editing):
    client, workflow, page = editing
    chosen = render(client, fields_of(page), "choose_path", "1.else")
    assert "Adding to step 2 · Else" in chosen
    added = render(client, fields_of(chosen), "add_action", "create_ticket")
    assert 'data-step="Step 2 › Else 2: Create Ticket"' in added and 'name="add_target" value=""' in added
    response = client.post(f"/automations/{workflow.id}", data=fields_of(added, name="Test workflow", **{"actions-5-config-subject": "Small deal"}))
    assert response.status_code == 302
    db.session.expire_all()
    actions = db.session.get(Workflow, workflow.id).actions
    assert [a["type"] for a in actions[1]["else"]] == ["log_event", "create_ticket"]
    assert actions[1]["else"][1]["id"] and actions[1]["else"][1]["config"]["subject"] == "Small deal"


def test_moving_within_a_path_and_dragging_between_paths(editing):
    client, workflow, page = editing
    moved = render(client, fields_of(page), "move_up", "3")  # Then 2 up to Then 1
    assert moved.index('name="actions-2-id" value="a5"') < moved.index('name="actions-3-id" value="a2"')
    # what the browser sends after a drag from Then to Else: the card's parent input names its new list
    dragged = render(client, fields_of(page, **{"actions-2-parent": "1.else"}), "reorder")
    assert 'data-step="Step 2 › Else 1: Log Event"' in dragged and 'data-step="Step 2 › Else 2: Log Event"' in dragged
    assert dragged.count('data-parent-of="') == 6 and 'name="actions-3-id" value="a2"' in dragged
    # and out onto the main line
    out = render(client, fields_of(page, **{"actions-4-parent": ""}), "reorder")
    assert 'data-step="Step 3: Log Event"' in out and 'data-step="Step 4: Log Event"' in out


def test_branch_conditions_can_be_added_removed_and_switched_to_all(editing):
    client, workflow, page = editing
    more = render(client, fields_of(page), "add_branch_condition", "1")
    assert 'name="actions-1-cond-2-field"' in more
    fewer = render(client, fields_of(more), "remove_branch_condition", "1.0")
    assert 'name="actions-1-cond-2-field"' not in fewer
    response = client.post(f"/automations/{workflow.id}",
                           data=fields_of(fewer, name="Test workflow", **{"actions-1-config-match": "all", "actions-1-cond-1-field": "deal.title",
                                                    "actions-1-cond-1-op": "contains", "actions-1-cond-1-value": "Acme"}))
    assert response.status_code == 302
    db.session.expire_all()
    config = db.session.get(Workflow, workflow.id).actions[1]["config"]
    assert config["match"] == "all" and config["conditions"] == [
        {"field": "steps.a1.output.event", "op": "eq", "value": "vip"}, {"field": "deal.title", "op": "contains", "value": "Acme"}]


def test_the_insert_field_picker_offers_the_outputs_of_steps_that_can_have_run(editing):
    _client, _workflow, page = editing
    pane = lambda n: page[page.index(f'data-panel="{n}"'):page.index('data-panel=', page.index(f'data-panel="{n}"') + 12)]
    after = pane(5)  # a4 after the branch: the trigger, a1, b1, a2, a5 and a3 (either path may have run)
    for step_id in ("a1", "b1", "a2", "a5", "a3"):
        assert f'data-step-output="{step_id}"' in after
    assert "{{ steps.a1.output.audit_event_id }}" in after and "Step 2 › Then 1 · Log Event" in after
    in_else = pane(4)  # a3 in the Else path: not a2 / a5 (the other path), not a4 (later)
    assert 'data-step-output="a1"' in in_else and 'data-step-output="b1"' in in_else
    assert 'data-step-output="a2"' not in in_else and 'data-step-output="a4"' not in in_else
    assert "data-variable-search" in in_else


def test_a_bad_step_inside_a_path_is_shown_on_its_card(editing):
    client, workflow, page = editing
    response = client.post(f"/automations/{workflow.id}", data=fields_of(page, **{"actions-4-config-message": "{{ steps.a2.output.event }}"}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-selected="4"' in html and "cannot have run before this one" in html


def test_the_step_being_edited_keeps_its_panel_when_dragged_between_paths(editing):
    """Then 1 (a2, plan position 2) is open and dragged to the end of Else: its panel stays open at its new
    position (4), found by its id in the new plan."""
    client, _workflow, page = editing
    fields = fields_of(page, selected="2", action_order=["0", "1", "3", "4", "2", "5"], **{"actions-2-parent": "1.else"})
    dragged = render(client, fields, "reorder")
    assert 'data-selected="4"' in dragged and 'name="actions-4-id" value="a2"' in dragged
    assert re.search(r'class="editor-pane "\s+data-panel="4"', dragged), "a2's panel is not the open one"
    assert 'data-step="Step 2 › Else 2: Log Event"' in dragged
    # a main-line step moved above the branch: the open nested step (a3, Else 1) moves from 4 to 5
    moved = render(client, fields_of(page, selected="4", action_order=["0", "5", "1", "2", "3", "4"]), "reorder")
    assert 'data-selected="5"' in moved and 'name="actions-5-id" value="a3"' in moved


def test_durations_and_delay_errors_inside_a_branch_path(editing):
    client, workflow, page = editing
    chosen = render(client, fields_of(page), "choose_path", "1.else")
    added = render(client, fields_of(chosen), "add_action", "wait_delay")  # Else 2: plan position 5
    assert 'data-step="Step 2 › Else 2: Wait / Delay"' in added and 'data-summary-inputs=""' in added
    assert "Not set up yet" in added
    bad = client.post(f"/automations/{workflow.id}", data=fields_of(added, name="Test workflow", **{"actions-4-delay_seconds": "abc"}))
    assert bad.status_code == 422
    refused = bad.get_data(as_text=True)
    assert 'id="delay-4-errors"' in refused and 'aria-invalid="true"' in refused  # under the nested step's field
    fields = fields_of(added, name="Test workflow", **{"actions-4-delay_seconds": "5", "actions-4-delay_unit": "minutes",
                                 "actions-5-config-seconds": "2", "actions-5-config-seconds_unit": "days"})
    response = client.post(f"/automations/{workflow.id}", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    branch = db.session.get(Workflow, workflow.id).actions[1]
    assert branch["else"][0]["delay_seconds"] == 300 and branch["else"][0]["id"] == "a3"
    assert branch["else"][1]["type"] == "wait_delay" and branch["else"][1]["config"]["seconds"] == 172800
    shown = body(client.get(f"/automations/{workflow.id}"))
    assert "Waits 2 d" in shown and "5 min" in shown

import copy
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from engine.core.catalog import ACTIONS, TRIGGERS, sample_payload
from engine.core.schemas import (ExecutionSchema, check_value, clean_action_config,
                            flatten_errors, validate_action_config, validate_definition)
from engine.core.templating import render

VALID = {
    "name": "Deal won → thank-you email",
    "description": "optional",
    "trigger": {"type": "deal_closed_won", "config": {}},
    "conditions": [{"field": "deal.value", "op": "gte", "value": 1000}],
    "actions": [
        {"type": "send_template_email", "delay_seconds": 0,
         "config": {"to": "{{ trigger.contact.email }}", "subject": "Thank you",
                    "body": "Thanks for choosing us, {{ trigger.contact.name }}."}},
        {"type": "log_event", "config": {"event": "deal_won",
                                         "message": "{{ trigger.deal.title }}"}},
    ],
    "error_strategy": "continue",
    "status": "draft",
}


def definition(**changes):
    data = copy.deepcopy(VALID)
    data.update(changes)
    return data


def with_action(action_type, config, **extra):
    return definition(actions=[{"type": action_type, "config": config, **extra}])


def test_the_design_example_loads():
    clean, errors = validate_definition(VALID)
    assert errors == {}
    assert clean["name"] == VALID["name"]
    assert clean["actions"][1]["delay_seconds"] == 0
    assert clean["actions"][0]["config"]["to"] == "{{ trigger.contact.email }}"


def test_defaults_fill_a_minimal_definition():
    clean, errors = validate_definition({
        "name": "  Daily digest  ", "trigger": {"type": "scheduled"},
        "actions": [{"type": "update_deal", "config": {"changes": {"probability": "60"}}}]})
    assert errors == {}
    assert clean["name"] == "Daily digest"
    assert (clean["description"], clean["conditions"]) == ("", [])
    assert (clean["error_strategy"], clean["status"]) == ("continue", "draft")
    assert clean["trigger"]["config"] == {"cron": "0 9 * * *", "timezone": "UTC"}
    assert clean["actions"][0]["config"] == {"deal_id": "{{ trigger.deal.id }}",
                                             "changes": {"probability": 60}}


@pytest.mark.parametrize("data, path, message", [
    (definition(trigger={"type": "deal_lost"}),
     "trigger.type", "Unknown trigger 'deal_lost'."),
    (with_action("send_sms", {}),
     "actions.0.type", "Unknown action type 'send_sms'."),
    (with_action("update_deal", {"changes": {"owner_id": 3}}),
     "actions.0.config.changes",
     "'owner_id' cannot be updated; allowed: title, stage, status, value, currency, "
     "probability, notes."),
    (with_action("update_deal", {"changes": {"probability": 150}}),
     "actions.0.config.changes", "probability: Must be between 0 and 100."),
    (with_action("update_deal", {"changes": {"stage": "won"}}),
     "actions.0.config.changes",
     "stage: Must be one of: lead, qualified, proposal, negotiation, closed_won, "
     "closed_lost."),
    (with_action("update_win_probability", {"deal_id": 1, "probability": 150}),
     "actions.0.config.probability", "Must be between 0 and 100."),
    (definition(name="   "), "name", "Name is required."),
    ({k: v for k, v in VALID.items() if k != "name"}, "name", "Name is required."),
    (definition(name="x" * 201), "name", "Name must be at most 200 characters."),
    ({k: v for k, v in VALID.items() if k != "actions"}, "actions",
     "Add at least one action."),
    (definition(actions=[]), "actions", "Add at least one action."),
    (definition(trigger={"type": "scheduled", "config": {"cron": "61 * * * *"}}),
     "trigger.config.cron", "Invalid cron expression."),
    (definition(trigger={"type": "scheduled", "config": {"cron": "0 9 * * * *"}}),
     "trigger.config.cron", "Invalid cron expression."),
    (definition(trigger={"type": "scheduled", "config": {"cron": ""}}),
     "trigger.config.cron", "This field is required."),
    (definition(trigger={"type": "scheduled", "config": {"timezone": "Mars/Olympus"}}),
     "trigger.config.timezone", "Unknown time zone 'Mars/Olympus'."),
    (definition(trigger={"type": "deal_created", "config": {"cron": "0 9 * * *"}}),
     "trigger.config.cron", "Unknown field."),
    (definition(owner_id=3), "owner_id", "Unknown field."),
    (with_action("log_event", {"event": "x"}, delay_seconds=-1), "actions.0.delay_seconds",
     "Must be between 0 and 2592000 seconds (30 days)."),
    (with_action("log_event", {"event": "x"}, delay_seconds=31 * 86400),
     "actions.0.delay_seconds", "Must be between 0 and 2592000 seconds (30 days)."),
    (with_action("log_event", {"event": "x"}, delay_seconds="soon"),
     "actions.0.delay_seconds", "Not a valid integer."),
    (with_action("log_event", {"event": "x"}, label="y"), "actions.0.label", "Unknown field."),
    (with_action("log_event", {}), "actions.0.config.event", "This field is required."),
    (with_action("log_event", {"event": "x", "level": "info"}), "actions.0.config.level",
     "Unknown field."),
    (definition(conditions=[{"field": "deal.value", "op": "like", "value": 1}]),
     "conditions.0.op", "Unknown operator 'like'."),
    (definition(conditions=[{"field": "deal.value", "op": "eq"}]),
     "conditions.0.value", "This field is required."),
    (definition(conditions=[{"field": "deal value", "op": "eq", "value": 1}]),
     "conditions.0.field", "Enter a dotted path into the trigger payload, like deal.value."),
    (definition(conditions=[{"field": "a", "op": "is_empty"}] * 21), "conditions",
     "At most 20 conditions."),
    (definition(error_strategy="ignore"), "error_strategy",
     "Must be one of: continue, retry, stop."),
    (definition(status="live"), "status", "Must be one of: draft, active, paused, archived."),
    (with_action("send_in_app_notification", {"recipient": "user", "title": "Hi"}),
     "actions.0.config.user_id", "This field is required."),
])
def test_bad_input_reports_the_message_at_its_path(data, path, message):
    clean, errors = validate_definition(data)
    assert clean is None
    assert message in flatten_errors(errors).get(path, []), flatten_errors(errors)


def test_errors_are_nested_by_action_index():
    _clean, errors = validate_definition(
        with_action("update_win_probability", {"deal_id": 1, "probability": 150}))
    assert errors == {"actions": {0: {"config": {"probability": ["Must be between 0 and 100."]}}}}


def test_unary_conditions_need_no_value():
    clean, errors = validate_definition(definition(
        conditions=[{"field": "deal.notes", "op": "is_empty"}]))
    assert errors == {}
    assert clean["conditions"] == [{"field": "deal.notes", "op": "is_empty", "value": None}]


@pytest.mark.parametrize("data", [None, [], "x", 5])
def test_non_objects_are_rejected(data):
    assert validate_definition(data)[0] is None


@pytest.mark.parametrize("action_type, config, errors", [
    ("update_win_probability",
     {"deal_id": "{{ trigger.deal.id }}", "probability": "{{ trigger.x }}"}, {}),
    ("update_win_probability", {"deal_id": 5, "probability": "75"}, {}),
    ("update_win_probability", {"deal_id": 5, "probability": "{{ config }}"},
     {"probability": ["Must be a whole number."]}),
    ("update_win_probability", {"deal_id": 0, "probability": 5},
     {"deal_id": ["Enter a record id (a positive whole number) or a {{ trigger.… }} value."]}),
    ("update_win_probability", {"deal_id": 5, "probability": True},
     {"probability": ["Must be a whole number."]}),
    ("send_template_email", {"to": "{{ config }}", "subject": "{{ config }}", "body": "x"},
     {"to": ["Enter a valid email address."]}),
    ("send_template_email", {"to": "a@b.co", "subject": "s", "body": "b", "template": "fancy"},
     {"template": ["Must be one of: welcome, thank_you, csat_survey, apology, "
                   "acknowledgement."]}),
    ("send_template_email", {"to": "a@b.co", "subject": "s", "body": "b", "template": ""}, {}),
    ("call_webhook", {"url": "ftp://files.example.com"}, {"url": ["Enter a valid http(s) URL."]}),
    ("call_webhook", {"url": "{{ config }}"}, {"url": ["Enter a valid http(s) URL."]}),
    ("call_webhook", {"url": "https://hooks.example.com/{{ trigger.deal.id }}"}, {}),
    ("call_webhook", {"url": "https://x.example", "payload": [1, 2]},
     {"payload": ["Must be a JSON object."]}),
    ("call_webhook", {"url": "https://x.example", "payload": '{"a": 1}'}, {}),
    ("call_webhook", {"url": "https://x.example", "payload": '{\n  "a": 1,\n}'},
     {"payload": ["Not valid JSON: Expecting property name enclosed in double quotes at line 3, column 1."]}),
    ("call_webhook", {"url": "https://x.example", "payload": "{{ trigger.deal }}"}, {}),
    ("wait_delay", {"seconds": 0}, {"seconds": ["Must be between 1 and 2592000."]}),
    ("wait_delay", {"seconds": 2.5}, {"seconds": ["Must be a whole number."]}),
    ("create_deal", {"title": "T", "value": -1}, {"value": ["Must be at least 0."]}),
    ("create_deal", {"title": "T", "value": "12.50", "stage": "won"},
     {"stage": ["Must be one of: lead, qualified, proposal, negotiation, closed_won, "
                "closed_lost."]}),
    ("create_deal", {"title": "T", "owner_id": "record_owner"}, {}),
    ("create_deal", {"title": "T", "owner_id": "boss"},
     {"owner_id": ['Enter a user id, a {{ trigger.… }} value, or "owner" / "record_owner".']}),
    ("create_deal", {"title": ["T"]}, {"title": ["Must be text."]}),
    ("send_in_app_notification", {"recipient": "role", "role": "ceo", "title": "Hi"},
     {"role": ["Must be one of: owner, admin, member."]}),
    ("send_in_app_notification", {"title": "Hi"}, {}),
    ("assign_owner", {"record_type": "invoice", "record_id": 1, "user_id": 1},
     {"record_type": ["Must be one of: deal, contact, ticket, task, issue, project."]}),
    ("create_invoice", {"customer_name": "Acme", "amount": "lots"},
     {"amount": ["Must be a number."]}),
    ("create_invoice", {"customer_name": "Acme"}, {"amount": ["This field is required."]}),
    ("update_deal", {"changes": {}}, {"changes": ["This field is required."]}),
    ("update_deal", {"changes": {"value": "{{ trigger.deal.value }}", "notes": ""}}, {}),
    ("update_deal", {"changes": {"value": -5}}, {"changes": ["value: Must be at least 0."]}),
    ("send_sms", {}, {"type": ["Unknown action type 'send_sms'."]}),
    ("log_event", "not a dict", {"_schema": ["Must be a JSON object."]}),
])
def test_validate_action_config(action_type, config, errors):
    assert validate_action_config(action_type, config) == errors


def test_clean_config_coerces_form_strings_and_defaults_blanks():
    clean, errors = clean_action_config("create_invoice", {
        "customer_name": "Acme", "amount": "1250.50", "due_days": "14", "deal_id": "42",
        "customer_email": "", "currency": " "})
    assert errors == {}
    assert clean == {"customer_name": "Acme", "amount": 1250.5, "due_days": 14,
                     "deal_id": 42, "currency": "USD"}


def test_run_time_validation_of_rendered_configs():
    action = ACTIONS["update_win_probability"]
    config = {"deal_id": "{{ trigger.deal.id }}", "probability": "{{ trigger.deal.probability }}"}
    payload = sample_payload("deal_stage_change")
    rendered = render(config, {"trigger": payload}).value
    assert rendered == {"deal_id": 42, "probability": 60}
    assert validate_action_config(action.type, rendered, allow_templates=False) == {}
    payload["deal"]["probability"] = 150
    rendered = render(config, {"trigger": payload}).value
    assert validate_action_config(action.type, rendered, allow_templates=False) == {
        "probability": ["Must be between 0 and 100."]}


def test_a_payload_value_that_looks_like_a_template_fails_at_run_time():
    rendered = {"deal_id": 1, "probability": "{{ trigger.deal.id }}"}
    assert validate_action_config("update_win_probability", rendered) == {}
    assert validate_action_config("update_win_probability", rendered,
                                  allow_templates=False) == {
        "probability": ["Must be a whole number."]}


@pytest.mark.parametrize("owner, field", [
    *[(a.type, f) for a in ACTIONS.values() for f in a.fields],
    *[(t.key, f) for t in TRIGGERS.values() for f in t.config_fields],
])
def test_every_catalog_default_is_valid(owner, field):
    if field.default is not None:
        assert check_value(field, field.default) == field.default


@pytest.mark.parametrize("value, ok", [
    ("0 9 * * 1-5", True), ("*/15 * * * *", True), ("@daily", False), ("0 25 * * *", False),
    ("{{ trigger.cron }}", False),
])
def test_cron_values(value, ok):
    errors = validate_definition(definition(
        trigger={"type": "scheduled", "config": {"cron": value}}))[1]
    assert (errors == {}) is ok


@pytest.mark.parametrize("value, ok", [
    ("Europe/Paris", True), ("UTC", True), ("America/New_York", True),
    ("../../etc/passwd", False), ("Nowhere", False), ("", True),
])
def test_timezone_values(value, ok):
    errors = validate_definition(definition(
        trigger={"type": "scheduled", "config": {"timezone": value}}))[1]
    assert (errors == {}) is ok


def test_flatten_errors():
    nested = {"name": ["Name is required."],
              "actions": {0: {"config": {"probability": ["Must be between 0 and 100."]}},
                          2: {"type": ["Unknown action type 'x'."]}}}
    assert flatten_errors(nested) == {
        "name": ["Name is required."],
        "actions.0.config.probability": ["Must be between 0 and 100."],
        "actions.2.type": ["Unknown action type 'x'."],
    }
    assert flatten_errors({}) == {}


def test_execution_schema_dumps_objects_and_dicts():
    started = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)
    step = {"index": 0, "type": "log_event", "status": "completed", "attempts": 1,
            "started_at": "2024-05-06T09:00:00+00:00", "finished_at": "2024-05-06T09:00:00+00:00",
            "duration_ms": 3, "input": {}, "output": {"event_id": 1}, "error": None}
    row = SimpleNamespace(id=1, workflow_id=7, status="completed", trigger_type="deal_closed_won",
                          started_at=started, finished_at=started, duration_ms=41, error=None,
                          completed_actions=[step], workspace_id=3, definition={})
    dumped = ExecutionSchema().dump(row)
    assert dumped == {"id": 1, "workflow_id": 7, "status": "completed",
                      "trigger_type": "deal_closed_won",
                      "started_at": "2024-05-06T09:00:00+00:00",
                      "finished_at": "2024-05-06T09:00:00+00:00", "duration_ms": 41,
                      "error": None, "completed_actions": [step]}
    assert ExecutionSchema().dump({**vars(row), "completed_actions": None,
                                   "finished_at": None})["completed_actions"] == []

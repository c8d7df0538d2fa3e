import dataclasses

import pytest

from engine.core import catalog
from engine.core.catalog import ACTIONS, FIELD_TYPES, MODULES, TRIGGERS
from engine.core.conditions import MISSING, get_path

TRIGGER_KEYS = {
    "deal_created", "deal_stage_change", "deal_closed_won", "contact_created",
    "task_status_change", "task_completed", "ticket_created", "ticket_escalated",
    "ticket_resolved", "invoice_paid", "invoice_refunded", "candidate_applied",
    "candidate_stage_change", "email_sent", "scheduled", "webhook_received",
    "workflow_failed",  # DESIGN.md "Operating many workflows"
}
ACTION_TYPES = {
    "send_template_email", "send_in_app_notification", "call_webhook", "log_event",
    "wait_delay", "create_deal", "update_deal", "update_win_probability", "assign_owner",
    "flag_as_stale", "create_ticket", "create_project", "close_sprint_cycle",
    "create_invoice", "create_quotation", "notify_ats", "generate_document",
    "branch",  # DESIGN.md "Definition v2"
}
ALL_FIELDS = [(a.type, f) for a in ACTIONS.values() for f in a.fields] + \
             [(t.key, f) for t in TRIGGERS.values() for f in t.config_fields]


def test_trigger_keys_are_exactly_the_spec_keys():
    assert set(TRIGGERS) == TRIGGER_KEYS
    assert all(key == trigger.key for key, trigger in TRIGGERS.items())


def test_action_types_are_exactly_the_spec_types():
    assert set(ACTIONS) == ACTION_TYPES
    assert all(key == action.type for key, action in ACTIONS.items())


@pytest.mark.parametrize("item", [*TRIGGERS.values(), *ACTIONS.values()],
                         ids=lambda item: getattr(item, "key", getattr(item, "type", "")))
def test_every_item_is_described_and_in_a_known_module(item):
    assert item.module in MODULES
    assert item.label and item.description


@pytest.mark.parametrize("key", sorted(TRIGGER_KEYS))
def test_sample_payload_resolves_every_documented_path(key):
    trigger = TRIGGERS[key]
    payload = catalog.sample_payload(key)
    assert trigger.payload_fields
    for field in trigger.payload_fields:
        assert get_path(payload, field.path) is not MISSING, field.path
        assert get_path(payload, field.path) == field.example
        assert field.example is not None and field.label


@pytest.mark.parametrize("key", sorted(TRIGGER_KEYS))
def test_every_trigger_names_its_actor_and_workspace(key):
    paths = catalog.payload_paths(key)
    assert len(paths) == len(set(paths))
    for path in ("actor.id", "actor.name", "actor.email", "workspace.id", "workspace.name"):
        assert path in paths


@pytest.mark.parametrize("key, paths", [
    ("deal_stage_change", ["deal.title", "contact.email", "from_stage", "to_stage"]),
    ("deal_closed_won", ["deal.value", "contact.name"]),
    ("task_status_change", ["task.status", "project.name", "from_status", "to_status"]),
    ("ticket_escalated", ["ticket.priority", "from_priority", "to_priority"]),
    ("invoice_refunded", ["invoice.number", "refund.amount", "refund.reason"]),
    ("candidate_stage_change", ["candidate.email", "application.stage", "to_stage"]),
    ("scheduled", ["scheduled_for", "fired_at", "late"]),
    ("webhook_received", ["body", "delivery_id"]),
    ("workflow_failed", ["workflow.id", "workflow.name", "run.id", "run.error", "run.url", "consecutive_failures",
                         "auto_paused"]),
])
def test_trigger_payloads_nest_the_objects_they_are_about(key, paths):
    assert set(paths) <= set(catalog.payload_paths(key))


def test_sample_payload_is_a_fresh_copy():
    first = catalog.sample_payload("webhook_received")
    first["body"]["event"] = "changed"
    first["actor"]["id"] = 999
    again = catalog.sample_payload("webhook_received")
    assert again["body"]["event"] == "order.created"
    assert again["actor"]["id"] != 999


def test_fire_modes():
    modes = {key: t.fire_mode for key, t in TRIGGERS.items()}
    assert modes.pop("scheduled") == "schedule"
    assert modes.pop("webhook_received") == "webhook"
    assert set(modes.values()) == {"event"}


def test_scheduled_trigger_config():
    cron, timezone = TRIGGERS["scheduled"].config_fields
    assert (cron.name, cron.type, cron.required, cron.default) == ("cron", "cron", True,
                                                                   "0 9 * * *")
    assert (timezone.name, timezone.type, timezone.default) == ("timezone", "timezone", "UTC")
    assert TRIGGERS["scheduled"].defaults() == {"cron": "0 9 * * *", "timezone": "UTC"}


@pytest.mark.parametrize("owner, field", ALL_FIELDS, ids=lambda v: getattr(v, "name", v))
def test_every_field_has_a_known_type(owner, field):
    assert field.type in FIELD_TYPES
    assert field.name and field.label


@pytest.mark.parametrize("owner, field", [(o, f) for o, f in ALL_FIELDS if f.type == "select"],
                         ids=lambda v: getattr(v, "name", v))
def test_every_select_has_choices_holding_its_default(owner, field):
    assert field.choices
    values = [value for value, _label in field.choices]
    assert len(values) == len(set(values))
    assert field.default is None or field.default in values


@pytest.mark.parametrize("action", ACTIONS.values(), ids=lambda a: a.type)
def test_action_field_names_are_unique_and_icons_set(action):
    names = [f.name for f in action.fields]
    assert names and len(names) == len(set(names))
    assert action.icon


def test_record_creating_actions():
    creating = {a.type for a in ACTIONS.values() if a.creates_record}
    assert creating == {
        "create_deal", "create_ticket", "create_project", "create_invoice",
        "create_quotation", "generate_document", "send_template_email",
        "send_in_app_notification", "notify_ats",
    }


def test_update_deal_whitelist():
    assert catalog.UPDATE_DEAL_FIELDS == (
        "title", "stage", "status", "value", "currency", "probability", "notes")
    assert ACTIONS["update_deal"].defaults() == {"deal_id": "{{ trigger.deal.id }}"}


def test_grouping_follows_module_order_and_covers_everything():
    for grouped, items in ((catalog.triggers_by_module(), TRIGGERS),
                           (catalog.actions_by_module(), ACTIONS)):
        modules = [module for module, _members in grouped]
        assert modules == [m for m in MODULES if m in modules]
        members = [m for _module, group in grouped for m in group]
        assert len(members) == len(items) and set(members) == set(items.values())
        assert all(m.module == module for module, group in grouped for m in group)


def test_operators_statuses_and_strategies():
    assert list(catalog.CONDITION_OPERATORS) == [
        "eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "in", "not_in",
        "is_empty", "is_not_empty"]
    assert catalog.UNARY_OPERATORS == {"is_empty", "is_not_empty"}
    assert list(catalog.ERROR_STRATEGIES) == ["continue", "retry", "stop"]
    assert all(label and text for label, text in catalog.ERROR_STRATEGIES.values())
    assert catalog.WORKFLOW_STATUSES == ("draft", "active", "paused", "archived")
    assert catalog.EXECUTION_STATUSES == (
        "pending", "running", "completed", "failed", "cancelled", "paused")
    assert catalog.MAX_RETRIES == 3


def test_catalog_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TRIGGERS["deal_created"].label = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ACTIONS["log_event"].fields[0].required = False

"""What changed between two workflow definitions, in words people read (issue #21's History tab).

Steps are matched by their stable id (inside branch Then/Else paths too), so a step that moved is
"moved", not "removed" and "added". Each change is a dict: `kind` (added, removed, moved, changed,
trigger, conditions, workflow), `text` (one sentence) and `fields` ([(label, old words, new words)]).
"""
from difflib import SequenceMatcher
from typing import Any

from engine.core.catalog import ACTIONS, TRIGGERS
from engine.core.steps import BRANCH, StepPlan
from engine.core.wording import conditions_words, value_words

ERROR_STRATEGY_WORDS = {"continue": "continue with the next step", "stop": "stop the run"}
NOTHING = "(empty)"


def _words(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return NOTHING
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_words(item)}" for key, item in value.items())
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return "; ".join(_words(item) for item in value)
    return value_words(value)


def _action_label(action: dict) -> str:
    catalog_action = ACTIONS.get(action.get("type"))
    return catalog_action.label if catalog_action else str(action.get("type"))


def _trigger_label(trigger_type: Any) -> str:
    trigger = TRIGGERS.get(trigger_type)
    return f"{trigger.module} · {trigger.label}" if trigger else str(trigger_type)


def _steps(definition: dict) -> dict:
    """{key: (address label, container key, action)}: key is the step id (or its address without one)."""
    plan = StepPlan(definition.get("actions") or [])
    steps = {}
    by_address = {}
    for address, action in plan.steps:
        if not isinstance(action, dict):
            continue
        key = action.get("id") or f"@{address}"
        by_address[address.path] = key
        parent = by_address.get(address.path[:-2]) if len(address.path) > 1 else None
        steps[key] = (address.label, (parent, address.side), action)
    return steps


def _containers(steps: dict) -> dict:
    lists: dict = {}
    for key, (_label, container, _action) in steps.items():
        lists.setdefault(container, []).append(key)
    return lists


def _where(container: tuple) -> str:
    parent, side = container
    return "the main line" if parent is None else f"the {side.capitalize()} path of step '{parent}'"


def _field_changes(old: dict, new: dict, trigger_key: str | None) -> list[tuple[str, str, str]]:
    changes = []
    if old.get("type") != new.get("type"):
        changes.append(("Action", _action_label(old), _action_label(new)))
    if (old.get("delay_seconds") or 0) != (new.get("delay_seconds") or 0):
        changes.append(("Delay (seconds)", _words(old.get("delay_seconds") or 0), _words(new.get("delay_seconds") or 0)))
    old_config, new_config = old.get("config") or {}, new.get("config") or {}
    if new.get("type") == BRANCH and old.get("type") == BRANCH:
        before = conditions_words(old_config.get("conditions"), old_config.get("match"), trigger_key)
        after = conditions_words(new_config.get("conditions"), new_config.get("match"), trigger_key)
        if before != after:
            changes.append(("Condition", before, after))
        return changes
    catalog_action = ACTIONS.get(new.get("type"))
    labels = {field.name: field.label for field in catalog_action.fields} if catalog_action else {}
    for name in [*labels, *sorted((set(old_config) | set(new_config)) - set(labels))]:
        if old_config.get(name) != new_config.get(name) and (name in old_config or name in new_config):
            changes.append((labels.get(name, name), _words(old_config.get(name)), _words(new_config.get(name))))
    return changes


def diff_definitions(old: dict, new: dict) -> list[dict]:
    """The changes from `old` to `new`, workflow-level first, then the trigger, conditions and steps."""
    old, new = old or {}, new or {}
    changes: list[dict] = []
    for name, label in (("name", "Name"), ("description", "Description")):
        if (old.get(name) or "") != (new.get(name) or ""):
            changes.append({"kind": "workflow", "text": f"{label} changed.",
                            "fields": [(label, _words(old.get(name)), _words(new.get(name)))]})
    if (old.get("error_strategy") or "continue") != (new.get("error_strategy") or "continue"):
        before, after = (ERROR_STRATEGY_WORDS.get(d.get("error_strategy") or "continue", str(d.get("error_strategy")))
                         for d in (old, new))
        changes.append({"kind": "workflow", "text": f"When a step fails: now {after} (was {before}).",
                        "fields": [("When a step fails", before, after)]})
    old_trigger, new_trigger = old.get("trigger") or {}, new.get("trigger") or {}
    trigger_key = new_trigger.get("type")
    if old_trigger.get("type") != new_trigger.get("type"):
        changes.append({"kind": "trigger", "fields": [],
                        "text": f"Trigger changed from {_trigger_label(old_trigger.get('type'))} to {_trigger_label(trigger_key)}."})
    elif (old_trigger.get("config") or {}) != (new_trigger.get("config") or {}):
        trigger = TRIGGERS.get(trigger_key)
        labels = {field.name: field.label for field in trigger.config_fields} if trigger else {}
        old_config, new_config = old_trigger.get("config") or {}, new_trigger.get("config") or {}
        fields = [(labels.get(name, name), _words(old_config.get(name)), _words(new_config.get(name)))
                  for name in sorted(set(old_config) | set(new_config)) if old_config.get(name) != new_config.get(name)]
        changes.append({"kind": "trigger", "fields": fields, "text": f"Trigger settings of {_trigger_label(trigger_key)} changed."})
    before = conditions_words(old.get("conditions"), old.get("conditions_match"), old_trigger.get("type"))
    after = conditions_words(new.get("conditions"), new.get("conditions_match"), trigger_key)
    if before != after:
        changes.append({"kind": "conditions", "fields": [("Runs when", before, after)],
                        "text": f"Conditions changed: runs when {after} (was: {before})."})
    changes.extend(_step_changes(_steps(old), _steps(new), trigger_key))
    return changes


def _step_changes(old_steps: dict, new_steps: dict, trigger_key: str | None) -> list[dict]:
    changes = []
    for key, (label, container, action) in old_steps.items():
        if key not in new_steps:
            changes.append({"kind": "removed", "step": key, "fields": [],
                            "text": f"Removed step {label} “{_action_label(action)}” (id {key}) from {_where(container)}."})
    moved = _moved(old_steps, new_steps)
    for key, (label, container, action) in new_steps.items():
        if key not in old_steps:
            changes.append({"kind": "added", "step": key, "fields": [],
                            "text": f"Added step {label} “{_action_label(action)}” (id {key}) in {_where(container)}."})
            continue
        old_label, old_container, old_action = old_steps[key]
        if key in moved:
            place = f" from {_where(old_container)} to {_where(container)}" if old_container != container else ""
            changes.append({"kind": "moved", "step": key, "fields": [],
                            "text": f"Moved step “{_action_label(action)}” (id {key}){place}: was {old_label}, now {label}."})
        fields = _field_changes(old_action, action, trigger_key)
        if fields:
            changes.append({"kind": "changed", "step": key, "fields": fields,
                            "text": f"Changed step {label} “{_action_label(action)}” (id {key})."})
    return changes


def _moved(old_steps: dict, new_steps: dict) -> set:
    """Steps that changed list, or whose order among the steps both lists keep changed."""
    moved = {key for key in new_steps if key in old_steps and old_steps[key][1] != new_steps[key][1]}
    old_lists, new_lists = _containers(old_steps), _containers(new_steps)
    for container, new_keys in new_lists.items():
        old_keys = [key for key in old_lists.get(container, []) if key in new_steps and new_steps[key][1] == container]
        kept = [key for key in new_keys if key in old_keys]
        matcher = SequenceMatcher(a=old_keys, b=kept, autojunk=False)
        in_order = {kept[block.b + i] for block in matcher.get_matching_blocks() for i in range(block.size)}
        moved |= set(kept) - in_order
    return moved

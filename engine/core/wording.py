"""Conditions in words, for people: "Deal value ≥ 10,000 or Stage = won" (the editor's branch card, the run
detail's "took Then: ..."). Field labels come from the trigger's payload fields in the catalog."""
import re
from decimal import Decimal
from typing import Any

from engine.core.catalog import CONDITION_OPERATORS, TRIGGERS, UNARY_OPERATORS
from engine.core.conditions import MATCH_ANY, STEPS_PREFIX

_NUMBER = re.compile(r"^-?[0-9]{1,15}(\.[0-9]+)?$")
SYMBOLS = {"eq": "=", "neq": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def field_label(field: Any, trigger_key: str | None = None) -> str:
    if not isinstance(field, str) or not field:
        return "(no field)"
    if field.startswith(STEPS_PREFIX):
        parts = field.split(".")
        if len(parts) >= 4:
            return f"step {parts[1]}'s {'.'.join(parts[3:])}"
        return field
    trigger = TRIGGERS.get(trigger_key) if trigger_key else None
    for payload_field in trigger.payload_fields if trigger else ():
        if payload_field.path == field:
            return payload_field.label
    return field


def value_words(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "nothing"
    if isinstance(value, (int, float, Decimal)):
        try:
            return f"{int(value):,}" if isinstance(value, int) or value == int(value) else f"{value:,}"
        except (ValueError, OverflowError):  # NaN, infinity
            return str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(value_words(item) for item in value)
    if isinstance(value, str) and _NUMBER.match(value.strip()):  # the editor's form sends numbers as text
        return value_words(Decimal(value.strip()))
    return str(value)


def condition_words(condition: Any, trigger_key: str | None = None) -> str:
    if not isinstance(condition, dict):
        return "(an invalid condition)"
    op = condition.get("op")
    label = field_label(condition.get("field"), trigger_key)
    if op in UNARY_OPERATORS:
        return f"{label} {CONDITION_OPERATORS[op]}"
    words = SYMBOLS.get(op) or CONDITION_OPERATORS.get(op) or str(op)
    return f"{label} {words} {value_words(condition.get('value'))}"


def conditions_words(conditions: Any, match: Any = "all", trigger_key: str | None = None) -> str:
    """"Deal value ≥ 10,000 or Stage = won"; "always" when there is no condition."""
    if not conditions:
        return "always"
    joiner = " or " if match == MATCH_ANY else " and "
    return joiner.join(condition_words(condition, trigger_key) for condition in conditions)


def duration_words(seconds: int) -> str:
    """3600 → "1 h", 90 → "1 min 30 s"."""
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts) or "0 s"


# What a real run of these steps does, for "Run for real now…": (verb, noun) per action type with an effect.
EFFECTS = {
    "send_template_email": ("sends", "email"), "call_webhook": ("calls", "webhook"),
    "send_in_app_notification": ("sends", "notification"), "notify_ats": ("sends", "recruiting notification"),
    "create_deal": ("creates", "deal"), "create_ticket": ("creates", "ticket"), "create_project": ("creates", "project"),
    "create_invoice": ("creates", "invoice"), "create_quotation": ("creates", "quotation"),
    "generate_document": ("creates", "document"), "update_deal": ("changes", "deal"),
    "update_win_probability": ("changes", "deal's probability"), "assign_owner": ("reassigns", "record"),
    "close_sprint_cycle": ("closes", "sprint"), "flag_as_stale": ("flags", "deal as stale"),
    "log_event": ("logs", "audit event"),
}


def _steps(actions) -> list:
    steps = []
    for action in actions if isinstance(actions, list) else []:
        if isinstance(action, dict):
            steps.append(action)
            for side in ("then", "else"):
                steps.extend(_steps(action.get(side)))
    return steps


def effects_words(actions) -> str:
    """"sends 1 email, creates 1 deal" (at most: steps inside a branch are counted whichever path runs)."""
    counts: dict = {}
    for action in _steps(actions):
        effect = EFFECTS.get(action.get("type"))
        if effect:
            counts[effect] = counts.get(effect, 0) + 1
    parts = []
    for (verb, noun), count in counts.items():
        head, _, tail = noun.partition(" ")
        plural = head if count == 1 else (head[:-1] + "ies" if head.endswith("y") else head + "s")
        parts.append(f"{verb} {count} {plural}{' ' + tail if tail else ''}")
    return ", ".join(parts)

"""The workflow editor's form: parse it into a definition, edit that definition, and build the view model.

The whole editor is one HTML form. Every structural edit (add, remove, move, reorder an action;
change the trigger; add or remove a condition) posts the form to the server, which applies the
edit to the parsed definition and re-renders the editor, so nothing the user typed is lost.
"""
import json
import re
from dataclasses import dataclass, field

from engine.core.catalog import ACTIONS, CONDITION_OPERATORS, ERROR_STRATEGIES, TRIGGERS, UNARY_OPERATORS
from models.vocabulary import ErrorStrategy, Role
from services.common import is_plain_int

DEFAULT_TRIGGER = "deal_created"
ACTION_KEY = re.compile(r"^actions-(\d+)-(type|delay_seconds|delay_unit|config-(.+))$")
# Durations (a step's delay, Wait / Delay) are typed as a number and a unit and stored in seconds.
DURATION_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
DURATION_SHORT = {"seconds": "s", "minutes": "min", "hours": "h", "days": "d"}
WAIT_FIELD = ("wait_delay", "seconds")
CONDITION_KEY = re.compile(r"^conditions-(\d+)-(field|op|value)$")
TRIGGER_CONFIG_PREFIX = "trigger_config-"


def trigger_defaults(trigger, time_zone: str = "UTC") -> dict:
    """The trigger's default config; a schedule starts in the workspace's time zone."""
    defaults = trigger.defaults()
    if "timezone" in defaults:
        defaults["timezone"] = time_zone
    return defaults


def blank_definition(trigger_type: str = DEFAULT_TRIGGER, time_zone: str = "UTC") -> dict:
    trigger = TRIGGERS[trigger_type]
    return {
        "name": "", "description": "",
        "trigger": {"type": trigger_type, "config": trigger_defaults(trigger, time_zone)},
        "conditions": [], "actions": [], "error_strategy": ErrorStrategy.CONTINUE.value,
    }


def definition_from_form(form) -> dict:
    """Read the editor form (a MultiDict) into the definition shape; values stay as typed."""
    trigger_type = form.get("trigger_type", DEFAULT_TRIGGER)
    trigger_config = {
        key[len(TRIGGER_CONFIG_PREFIX):]: value for key, value in form.items() if key.startswith(TRIGGER_CONFIG_PREFIX)
    }
    actions: dict[int, dict] = {}
    conditions: dict[int, dict] = {}
    for key, value in form.items(multi=True):
        if match := ACTION_KEY.match(key):
            action = actions.setdefault(int(match.group(1)), {"type": "", "delay_seconds": 0, "config": {}})
            if match.group(3):
                action["config"][match.group(3)] = value
            else:
                action[match.group(2)] = value
        elif match := CONDITION_KEY.match(key):
            conditions.setdefault(int(match.group(1)), {})[match.group(2)] = value
    order = [int(i) for i in form.getlist("action_order") if is_plain_int(i) and int(i) in actions]
    order += [i for i in sorted(actions) if i not in order]
    return {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "trigger": {"type": trigger_type, "config": trigger_config},
        "conditions": [_clean_condition(conditions[i]) for i in sorted(conditions)],
        "actions": [_clean_action(actions[i]) for i in order],
        "error_strategy": form.get("error_strategy", ErrorStrategy.CONTINUE.value),
    }


def _clean_condition(condition: dict) -> dict:
    cleaned = {"field": condition.get("field", ""), "op": condition.get("op", "eq")}
    if cleaned["op"] not in UNARY_OPERATORS:
        cleaned["value"] = condition.get("value", "")
    return cleaned


def _in_seconds(value, unit) -> int | str:
    """A typed duration in seconds; anything that is not a whole number is kept as typed (the schema says why)."""
    text = str(value).strip()
    return int(text) * DURATION_UNITS.get(unit, 1) if is_plain_int(text) else text


def _clean_action(action: dict) -> dict:
    delay = str(action.get("delay_seconds", "0")).strip() or "0"
    config = {name: value for name, value in action["config"].items() if value != ""}
    unit = config.pop(f"{WAIT_FIELD[1]}_unit", None)
    if action["type"] == WAIT_FIELD[0] and WAIT_FIELD[1] in config:
        config[WAIT_FIELD[1]] = _in_seconds(config[WAIT_FIELD[1]], unit)
    return {"type": action["type"], "delay_seconds": _in_seconds(delay, action.get("delay_unit")), "config": config}


def as_duration(seconds) -> tuple[str, str]:
    """(number, unit) for showing a duration in seconds in its largest whole unit; other values as typed."""
    text = _as_text(seconds).strip()
    if not is_plain_int(text) or int(text) == 0:
        return text, "seconds"
    for unit in ("days", "hours", "minutes"):
        if int(text) % DURATION_UNITS[unit] == 0:
            return str(int(text) // DURATION_UNITS[unit]), unit
    return text, "seconds"


def short_duration(seconds) -> str:
    """"1 h", "90 s" for the card's delay badge; empty when there is no (valid) delay."""
    number, unit = as_duration(seconds)
    return f"{number} {DURATION_SHORT[unit]}" if is_plain_int(number) and int(number) > 0 else ""


def position_in_order(form, index: int) -> int | None:
    """Where the action posted as `actions-<index>-…` sits in the new order (after a drag, the card being
    edited keeps its panel open although its number changed)."""
    order = [int(i) for i in form.getlist("action_order") if is_plain_int(i)]
    return order.index(index) if index in order else index


# -- structural edits ------------------------------------------------------------------------
def apply_edit(definition: dict, edit: str, argument: str, time_zone: str = "UTC") -> tuple[dict, int | None]:
    """Apply one editor operation; returns the new definition and the action index to select."""
    actions = definition["actions"]
    index = int(argument) if is_plain_int(str(argument)) else None
    if edit == "add_action" and argument in ACTIONS:
        actions.append({"type": argument, "delay_seconds": 0, "config": dict(ACTIONS[argument].defaults())})
        return definition, len(actions) - 1
    if edit == "remove_action" and index is not None and index < len(actions):
        actions.pop(index)
        return definition, None
    if edit in ("move_up", "move_down") and index is not None and index < len(actions):
        target = index - 1 if edit == "move_up" else index + 1
        if 0 <= target < len(actions):
            actions[index], actions[target] = actions[target], actions[index]
            return definition, target
        return definition, index
    if edit == "add_condition":
        definition["conditions"].append({"field": "", "op": "eq", "value": ""})
    elif edit == "remove_condition" and index is not None and index < len(definition["conditions"]):
        definition["conditions"].pop(index)
    elif edit == "change_trigger" and definition["trigger"]["type"] in TRIGGERS:
        trigger = TRIGGERS[definition["trigger"]["type"]]
        known = {f.name for f in trigger.config_fields}
        kept = {k: v for k, v in definition["trigger"]["config"].items() if k in known and v != ""}
        definition["trigger"]["config"] = {**trigger_defaults(trigger, time_zone), **kept}
    return definition, None


def first_error_card(errors: dict) -> int | str | None:
    """The card to open after a failed save, so the first problem is in view."""
    for key in errors:
        head, _, rest = key.partition(".")
        if head == "trigger":
            return "trigger"
        if head == "conditions":
            return "conditions"
        if head == "actions" and is_plain_int(rest.split(".")[0]):
            return int(rest.split(".")[0])
    return None


# -- the view model ------------------------------------------------------------------------
@dataclass
class FieldView:
    name: str          # form input name
    label: str
    type: str
    value: str
    required: bool
    help: str
    choices: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    accepts_variables: bool = True
    unit: str | None = None  # a duration typed as number + unit (value is the number)


@dataclass
class ActionView:
    index: int
    type: str
    label: str
    module: str
    icon: str
    delay_seconds: str
    fields: list[FieldView]
    errors: list[str]
    summary: str
    known: bool = True
    delay_errors: list[str] = field(default_factory=list)
    summary_inputs: list[str] = field(default_factory=list)  # input ids, in summary order

    @property
    def delay_value(self) -> str:
        return as_duration(self.delay_seconds)[0]

    @property
    def delay_unit(self) -> str:
        return as_duration(self.delay_seconds)[1]

    @property
    def delay_badge(self) -> str:
        return short_duration(self.delay_seconds)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(f.errors for f in self.fields)


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def _field_view(catalog_field, prefix: str, value, errors: dict, error_prefix: str, member_choices) -> FieldView:
    choices = list(catalog_field.choices)
    if catalog_field.type == "user":
        choices = [("record_owner", "The record's owner"), ("owner", "The workspace owner"), *member_choices]
    if catalog_field.type == "role":
        choices = [(role.value, role.plural) for role in Role]
    return FieldView(
        name=f"{prefix}{catalog_field.name}",
        label=catalog_field.label,
        type=catalog_field.type,
        value=_as_text(value if value is not None else ""),
        required=catalog_field.required,
        help=catalog_field.help,
        choices=choices,
        errors=errors.get(f"{error_prefix}{catalog_field.name}", []),
        accepts_variables=catalog_field.type not in ("select", "cron", "timezone", "boolean", "role"),
    )


def _action_field_view(catalog_action, catalog_field, index: int, config: dict, errors: dict, member_choices) -> FieldView:
    view = _field_view(catalog_field, f"actions-{index}-config-", config.get(catalog_field.name), errors,
                       f"actions.{index}.config.", member_choices)
    if (catalog_action.type, catalog_field.name) == WAIT_FIELD:
        view.value, view.unit = as_duration(config.get(catalog_field.name, ""))
        view.label, view.help = "Wait for", "Up to 30 days."
    if catalog_field.type == "user" and any(f.name == "recipient" for f in catalog_action.fields):
        # the Recipient select already offers "Owner of the record"; this field is for "A user"
        view.choices = [c for c in view.choices if c[0] != "record_owner"]
        view.help = 'Used when Recipient is "A user".'
    return view


SUMMARY_KEYS = ("subject", "title", "event", "url", "name", "customer_name", "probability", "to")


def summary_keys(catalog_action) -> list[str]:
    """The fields a card's summary line is taken from, most telling first (editor.js follows the same order)."""
    names = [f.name for f in catalog_action.fields]
    return [key for key in dict.fromkeys((*SUMMARY_KEYS, *names)) if key in names]


def _summary(action: dict, catalog_action) -> str:
    """One line for the card: the most telling field that is filled in, by its label."""
    config = action.get("config") or {}
    labels = {f.name: f.label for f in catalog_action.fields}
    if action.get("type") == WAIT_FIELD[0] and short_duration(config.get(WAIT_FIELD[1])):
        return f"Waits {short_duration(config[WAIT_FIELD[1]])}"
    for key in summary_keys(catalog_action):
        if config.get(key) not in (None, "") and key in labels:
            return f"{labels[key]}: {_as_text(config[key])}"[:80]
    return "Not set up yet: select it to fill in its fields"


def action_views(definition: dict, errors: dict, member_choices) -> list[ActionView]:
    views = []
    for index, action in enumerate(definition.get("actions") or []):
        catalog_action = ACTIONS.get(action.get("type"))
        base = f"actions.{index}."
        if catalog_action is None:
            views.append(ActionView(index, action.get("type", ""), f"Unknown action '{action.get('type')}'", "", "question-circle",
                                    _as_text(action.get("delay_seconds", 0)), [], errors.get(f"{base}type", ["Unknown action type."]), "", False))
            continue
        config = action.get("config") or {}
        fields = [_action_field_view(catalog_action, f, index, config, errors, member_choices) for f in catalog_action.fields]
        own_errors = errors.get(f"{base}type", []) + errors.get(f"{base}config", [])
        own_errors += [f"{key.split('.')[-1]}: {' '.join(msgs)}" for key, msgs in errors.items()
                       if key.startswith(f"{base}config.") and key.split(".")[-1] not in {f.name for f in catalog_action.fields}]
        views.append(ActionView(
            index=index, type=catalog_action.type, label=catalog_action.label, module=catalog_action.module,
            icon=catalog_action.icon or "lightning", delay_seconds=_as_text(action.get("delay_seconds", 0)),
            fields=fields, errors=own_errors, summary=_summary(action, catalog_action),
            delay_errors=errors.get(f"{base}delay_seconds", []),
            summary_inputs=[] if catalog_action.type == WAIT_FIELD[0]
            else [f"f-actions-{index}-config-{key}" for key in summary_keys(catalog_action)],
        ))
    return views


def editor_context(definition: dict, errors: dict | None = None, selected: int | None = None, member_choices=()) -> dict:
    errors = errors or {}
    trigger_type = definition["trigger"].get("type") or DEFAULT_TRIGGER
    trigger = TRIGGERS.get(trigger_type)
    trigger_fields = [
        _field_view(f, TRIGGER_CONFIG_PREFIX, definition["trigger"].get("config", {}).get(f.name), errors, "trigger.config.", member_choices)
        for f in (trigger.config_fields if trigger else ())
    ]
    return {
        "definition": definition,
        "errors": errors,
        "trigger": trigger,
        "trigger_fields": trigger_fields,
        "payload_fields": list(trigger.payload_fields) if trigger else [],
        "conditions": [
            {"index": i, **c, "errors": [m for k, v in errors.items() if k.startswith(f"conditions.{i}.") for m in v]}
            for i, c in enumerate(definition.get("conditions") or [])
        ],
        "actions": action_views(definition, errors, list(member_choices)),
        "selected": selected,
        "operators": CONDITION_OPERATORS,
        "unary_operators": UNARY_OPERATORS,
        "error_strategies": ERROR_STRATEGIES,
    }

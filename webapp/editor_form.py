"""The workflow editor's form: parse it into a definition, edit that definition, and build the view model.

The whole editor is one HTML form. Every structural edit (add, remove, move, reorder an action;
change the trigger; add or remove a condition) posts the form to the server, which applies the
edit to the parsed definition and re-renders the editor, so nothing the user typed is lost.
"""
import json
import re
from dataclasses import dataclass, field

from engine.core.catalog import (ACTIONS, CONDITION_OPERATORS, ERROR_STRATEGIES, MATCH_CHOICES, TRIGGERS,
                                 UNARY_OPERATORS)
from engine.core.schemas import assign_step_ids
from engine.core.steps import BRANCH, BRANCH_PATHS, StepPlan, branch_paths
from engine.core.wording import conditions_words
from models.vocabulary import ConditionsMatch, ErrorStrategy, Role
from services.common import is_plain_int

DEFAULT_TRIGGER = "deal_created"
ACTION_KEY = re.compile(r"^actions-(\d+)-(type|delay_seconds|delay_unit|id|parent|config-(.+))$")
BRANCH_CONDITION_KEY = re.compile(r"^actions-(\d+)-cond-(\d+)-(field|op|value)$")
# Durations (a step's delay, Wait / Delay) are typed as a number and a unit and stored in seconds.
DURATION_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
DURATION_SHORT = {"seconds": "s", "minutes": "min", "hours": "h", "days": "d"}
WAIT_FIELD = ("wait_delay", "seconds")
CONDITION_KEY = re.compile(r"^conditions-(\d+)-(field|op|value)$")
TRIGGER_CONFIG_PREFIX = "trigger_config-"
# In the editor form every step has a flat number N (its position in the plan: a branch, its Then steps, its
# Else steps, then the next step); `actions-N-parent` says which list it is in: "" (the main line) or "M.then" /
# "M.else" (a path of the branch numbered M). `action_order` lists the numbers in the page's order.


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
        "conditions": [], "conditions_match": ConditionsMatch.ALL.value, "actions": [],
        "error_strategy": ErrorStrategy.CONTINUE.value,
    }


def definition_from_form(form) -> dict:
    """Read the editor form (a MultiDict) into the definition shape; values stay as typed."""
    trigger_type = form.get("trigger_type", DEFAULT_TRIGGER)
    trigger_config = {
        key[len(TRIGGER_CONFIG_PREFIX):]: value for key, value in form.items() if key.startswith(TRIGGER_CONFIG_PREFIX)
    }
    actions: dict[int, dict] = {}
    conditions: dict[int, dict] = {}
    branch_conditions: dict[int, dict[int, dict]] = {}
    for key, value in form.items(multi=True):
        if match := ACTION_KEY.match(key):
            action = actions.setdefault(int(match.group(1)), {"type": "", "delay_seconds": 0, "config": {}})
            if match.group(3):
                action["config"][match.group(3)] = value
            else:
                action[match.group(2)] = value
        elif match := BRANCH_CONDITION_KEY.match(key):
            branch_conditions.setdefault(int(match.group(1)), {}).setdefault(int(match.group(2)), {})[match.group(3)] = value
        elif match := CONDITION_KEY.match(key):
            conditions.setdefault(int(match.group(1)), {})[match.group(2)] = value
    order = []
    for i in form.getlist("action_order"):
        if is_plain_int(i) and int(i) in actions and int(i) not in order:
            order.append(int(i))
    order += [i for i in sorted(actions) if i not in order]
    definition = {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "trigger": {"type": trigger_type, "config": trigger_config},
        "conditions": [_clean_condition(conditions[i]) for i in sorted(conditions)],
        "actions": _nest(actions, order, branch_conditions),
        "error_strategy": form.get("error_strategy", ErrorStrategy.CONTINUE.value),
    }
    if form.get("conditions_match") in (ConditionsMatch.ALL, ConditionsMatch.ANY):
        definition["conditions_match"] = form["conditions_match"]
    return definition


def _nest(actions: dict[int, dict], order: list[int], branch_conditions: dict) -> list:
    """The main line's actions, each branch holding its Then and Else lists, from the flat numbered form."""
    cleaned = {number: _clean_action(actions[number], branch_conditions.get(number)) for number in order}
    parents = {number: _parent_of(actions[number].get("parent", ""), cleaned) for number in order}
    main: list = []
    for number in order:
        parent = parents[number]
        if parent is not None and _inside(number, parent, parents):
            parent = None  # a step dropped into its own path: keep it on the main line
        container = main if parent is None else cleaned[parent[0]][parent[1]]
        container.append(cleaned[number])
    return main


def _parent_of(text: str, cleaned: dict) -> tuple[int, str] | None:
    number, _, side = str(text or "").partition(".")
    if is_plain_int(number) and side in BRANCH_PATHS and cleaned.get(int(number), {}).get("type") == BRANCH:
        return int(number), side
    return None


def _inside(number: int, parent: tuple, parents: dict) -> bool:
    """True when `parent` (a branch path) lies inside step `number` itself (or is it)."""
    seen = set()
    current = parent
    while current is not None and current[0] not in seen:
        if current[0] == number:
            return True
        seen.add(current[0])
        current = parents.get(current[0])
    return current is not None


def _clean_condition(condition: dict) -> dict:
    cleaned = {"field": condition.get("field", ""), "op": condition.get("op", "eq")}
    if cleaned["op"] not in UNARY_OPERATORS:
        cleaned["value"] = condition.get("value", "")
    return cleaned


def _in_seconds(value, unit) -> int | str:
    """A typed duration in seconds; anything that is not a whole number is kept as typed (the schema says why)."""
    text = str(value).strip()
    return int(text) * DURATION_UNITS.get(unit, 1) if is_plain_int(text) else text


def _clean_action(action: dict, branch_conditions: dict | None = None) -> dict:
    delay = str(action.get("delay_seconds", "0")).strip() or "0"
    config = {name: value for name, value in action["config"].items() if value != ""}
    unit = config.pop(f"{WAIT_FIELD[1]}_unit", None)
    if action["type"] == WAIT_FIELD[0] and WAIT_FIELD[1] in config:
        config[WAIT_FIELD[1]] = _in_seconds(config[WAIT_FIELD[1]], unit)
    cleaned = {"type": action["type"], "delay_seconds": _in_seconds(delay, action.get("delay_unit")), "config": config}
    if action.get("id"):
        cleaned["id"] = action["id"]
    if action["type"] == BRANCH:
        config["conditions"] = [_clean_condition(c) for _, c in sorted((branch_conditions or {}).items())]
        config.setdefault("match", ConditionsMatch.ALL.value)
        cleaned.update({side: [] for side in BRANCH_PATHS})
    return cleaned


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


def position_in_order(form, number: int, definition: dict | None = None) -> int | None:
    """The plan position, in the new definition, of the step posted as `actions-<number>-…` (after a drag, the
    card being edited keeps its panel open although its number changed). Steps are found by their id in the
    new definition (a drag between a branch's paths and the main line changes the plan); without an id, by
    where the number sits in `action_order` (the page's order, which is the plan's: a branch, its Then steps,
    its Else steps, the next step)."""
    step_id = form.get(f"actions-{number}-id", "")
    if step_id and definition is not None:
        position = StepPlan(definition.get("actions") or []).position_of_id(step_id)
        if position is not None:
            return position
    order = []
    for i in form.getlist("action_order"):
        if is_plain_int(i) and int(i) not in order:
            order.append(int(i))
    return order.index(number) if number in order else number


# -- structural edits ------------------------------------------------------------------------
def _locate(definition: dict, position: int) -> tuple[list, int] | None:
    """The list holding the step at this plan position, and its place in that list."""
    plan = StepPlan(definition["actions"])
    step = plan.at(position)
    if step is None:
        return None
    address, _action = step
    container = definition["actions"]
    parts = address.path
    for depth in range(0, len(parts) - 1, 2):
        container = container[parts[depth]][parts[depth + 1]]
    return container, parts[-1]


def _position_of(definition: dict, action: dict) -> int | None:
    return next((position for position, (_address, step) in enumerate(StepPlan(definition["actions"]).steps)
                 if step is action), None)


def _target_list(definition: dict, target: str) -> list:
    """The list a new step goes to: a branch path ("3.then", by the branch's plan position) or the main line."""
    number, _, side = str(target or "").partition(".")
    if is_plain_int(number) and side in BRANCH_PATHS:
        step = StepPlan(definition["actions"]).at(int(number))
        if step is not None and step[1].get("type") == BRANCH:
            return step[1].setdefault(side, [])
    return definition["actions"]


def apply_edit(definition: dict, edit: str, argument: str, add_target: str = "",
               time_zone: str = "UTC") -> tuple[dict, int | None]:
    """Apply one editor operation; returns the new definition and the step (plan position) to select.
    Steps are numbered by their plan position, so a step inside a branch path is edited like any other.
    `add_target` is the branch path a new step goes to; `time_zone` the workspace's (a new schedule's default)."""
    actions = definition["actions"]
    index = int(argument) if is_plain_int(str(argument)) else None
    if edit == "add_action" and argument in ACTIONS:
        action = {"type": argument, "delay_seconds": 0, "config": dict(ACTIONS[argument].defaults())}
        if argument == BRANCH:
            action["config"]["conditions"] = [{"field": "", "op": "eq", "value": ""}]
            action.update({side: [] for side in BRANCH_PATHS})
        _target_list(definition, add_target).append(action)
        assign_step_ids(actions)
        return definition, _position_of(definition, action)
    located = _locate(definition, index) if index is not None else None
    if edit == "remove_action" and located:
        container, place = located
        container.pop(place)
        return definition, None
    if edit in ("move_up", "move_down") and located:
        container, place = located
        target = place - 1 if edit == "move_up" else place + 1
        moved = container[place]
        if 0 <= target < len(container):
            container[place], container[target] = container[target], container[place]
        return definition, _position_of(definition, moved)
    if edit == "add_branch_condition" and located:
        container, place = located
        if container[place].get("type") == BRANCH:
            container[place]["config"].setdefault("conditions", []).append({"field": "", "op": "eq", "value": ""})
        return definition, index
    if edit == "remove_branch_condition":
        number, _, row = str(argument).partition(".")
        located = _locate(definition, int(number)) if is_plain_int(number) else None
        if located and is_plain_int(row):
            conditions = located[0][located[1]]["config"].get("conditions") or []
            if int(row) < len(conditions):
                conditions.pop(int(row))
            return definition, int(number)
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


def first_error_card(errors: dict, definition: dict | None = None) -> int | str | None:
    """The card to open after a failed save, so the first problem is in view (a step inside a branch path by
    its plan position, when the definition is given)."""
    plan = StepPlan(definition.get("actions") or []) if definition else None
    for key in errors:
        head, _, rest = key.partition(".")
        if head == "trigger":
            return "trigger"
        if head == "conditions":
            return "conditions"
        if head == "actions" and is_plain_int(rest.split(".")[0]):
            if plan is not None:
                parts = rest.split(".")
                for length in range(len(parts), 0, -1):
                    position = plan.position_of(".".join(parts[:length]))
                    if position is not None:
                        return position
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
    # definition v2: where the step sits, and a branch's paths and conditions
    number: str = ""           # "2", "2 › Then 1"
    step_id: str = ""
    parent: str = ""           # "" or "M.then" / "M.else" (M: the branch's plan position)
    depth: int = 0
    is_branch: bool = False
    then: list = field(default_factory=list)
    else_: list = field(default_factory=list)
    conditions: list = field(default_factory=list)
    match: str = "all"
    step_outputs: list = field(default_factory=list)  # the Insert field picker's groups of earlier steps' outputs
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


def _action_field_view(catalog_action, catalog_field, index: int, config: dict, errors: dict, member_choices,
                       error_prefix: str | None = None) -> FieldView:
    """A step's field; `index` numbers its inputs (the plan position), `error_prefix` is where its errors are
    ("actions.<address>.config.": a step inside a branch path is addressed by its path)."""
    view = _field_view(catalog_field, f"actions-{index}-config-", config.get(catalog_field.name), errors,
                       error_prefix or f"actions.{index}.config.", member_choices)
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


def _branch_summary(action: dict, trigger_key: str | None) -> str:
    config = action.get("config") or {}
    conditions = [c for c in config.get("conditions") or [] if isinstance(c, dict) and c.get("field")]
    if not conditions:
        return "If … (add a condition)"
    return f"If {conditions_words(conditions, config.get('match'), trigger_key)}"[:160]


def _outputs_before(actions: list) -> dict:
    """For every step (by id(action)), the steps whose output it may read: those that can have run before it
    (earlier on its line, earlier on the lines around it, both paths of a branch it comes after)."""
    available: dict = {}

    def walk(steps: list, ran: list) -> list:
        ran = list(ran)
        for action in steps:
            if not isinstance(action, dict):
                continue
            available[id(action)] = list(ran)
            inside = ran + [action]
            for _side, nested in branch_paths(action):
                inside += [step for step in walk(nested, ran + [action]) if step not in inside]
            ran = inside
        return ran

    walk(actions, [])
    return available


def _output_groups(steps: list, numbers: dict) -> list[dict]:
    groups = []
    for step in steps:
        entry = ACTIONS.get(step.get("type"))
        if entry is None or not entry.outputs or not step.get("id"):
            continue
        groups.append({"label": f"Step {numbers.get(id(step), '?')} · {entry.label}", "id": step["id"],
                       "fields": [{"path": f"steps.{step['id']}.output.{key}", "label": label} for key, label in entry.outputs]})
    return groups


def action_views(definition: dict, errors: dict, member_choices) -> list[ActionView]:
    """A view per step in plan order (a branch, its Then steps, its Else steps, the next step); a branch's view
    also lists the views of its paths (the flow draws them under it)."""
    views = []
    trigger_key = (definition.get("trigger") or {}).get("type")
    plan = StepPlan(definition.get("actions") or [])
    numbers = {id(action): address.label for address, action in plan.steps}
    before = _outputs_before(definition.get("actions") or [])
    by_path: dict[str, ActionView] = {}
    positions = {str(address): position for position, (address, _action) in enumerate(plan.steps)}
    for index, (address, action) in enumerate(plan.steps):
        action = action if isinstance(action, dict) else {}
        catalog_action = ACTIONS.get(action.get("type"))
        base = f"actions.{address}."
        parent = ""
        if address.side:
            parent = f"{positions['.'.join(str(p) for p in address.path[:-2])]}.{address.side}"
        if catalog_action is None:
            view = ActionView(index, action.get("type", ""), f"Unknown action '{action.get('type')}'", "", "question-circle",
                              _as_text(action.get("delay_seconds", 0)), [], errors.get(f"{base}type", ["Unknown action type."]), "", False)
        else:
            config = action.get("config") or {}
            shown = [f for f in catalog_action.fields if f.type != "conditions" and not (action.get("type") == BRANCH and f.name == "match")]
            fields = [_action_field_view(catalog_action, f, index, config, errors, member_choices, f"{base}config.")
                      for f in shown]
            own_errors = errors.get(f"{base}type", []) + errors.get(f"{base}config", []) + errors.get(f"{base}id", [])
            own_errors += [f"{key.split('.')[-1]}: {' '.join(msgs)}" for key, msgs in errors.items()
                           if key.startswith(f"{base}config.") and key.split(".")[-1] not in {f.name for f in catalog_action.fields}
                           and not key.startswith(f"{base}config.conditions")]
            view = ActionView(
                index=index, type=catalog_action.type, label=catalog_action.label, module=catalog_action.module,
                icon=catalog_action.icon or "lightning", delay_seconds=_as_text(action.get("delay_seconds", 0)),
                fields=fields, errors=own_errors,
                summary=_branch_summary(action, trigger_key) if action.get("type") == BRANCH else _summary(action, catalog_action),
                delay_errors=errors.get(f"{base}delay_seconds", []),
                summary_inputs=[] if catalog_action.type in (WAIT_FIELD[0], BRANCH)
                else [f"f-actions-{index}-config-{key}" for key in summary_keys(catalog_action)],
            )
            if action.get("type") == BRANCH:
                view.is_branch = True
                view.match = config.get("match") or ConditionsMatch.ALL.value
                view.conditions = [
                    {"index": n, "field": c.get("field", ""), "op": c.get("op", "eq"), "value": c.get("value", ""),
                     "errors": [m for k, v in errors.items() if k.startswith(f"{base}config.conditions.{n}.") for m in v]}
                    for n, c in enumerate(config.get("conditions") or []) if isinstance(c, dict)]
                view.errors += errors.get(f"{base}config.conditions", []) + errors.get(f"{base}then", []) + errors.get(f"{base}else", [])
        view.number, view.step_id, view.parent, view.depth = address.label, action.get("id") or "", parent, address.depth
        view.step_outputs = _output_groups(before.get(id(action), []), numbers)
        by_path[str(address)] = view
        views.append(view)
        if address.side:
            owner = by_path['.'.join(str(p) for p in address.path[:-2])]
            (owner.then if address.side == "then" else owner.else_).append(view)
    return views


def editor_context(definition: dict, errors: dict | None = None, selected: int | None = None, member_choices=(),
                   add_target: str = "") -> dict:
    errors = errors or {}
    assign_step_ids(definition.get("actions") or [])  # so the page can offer each step's output to later steps
    all_actions = action_views(definition, errors, list(member_choices))
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
        "actions": [view for view in all_actions if not view.parent],  # the main line (branch views hold their paths)
        "all_actions": all_actions,
        "add_target": add_target,
        "add_target_label": next((f"{view.number} · {'Then' if add_target.endswith('.then') else 'Else'}"
                                  for view in all_actions if add_target.startswith(f"{view.index}.") and view.is_branch), ""),
        "conditions_match": definition.get("conditions_match") or ConditionsMatch.ALL.value,
        "match_choices": MATCH_CHOICES,
        "selected": selected,
        "operators": CONDITION_OPERATORS,
        "unary_operators": UNARY_OPERATORS,
        "error_strategies": ERROR_STRATEGIES,
    }

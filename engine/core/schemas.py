"""Validation of workflow definitions (marshmallow 4), driven by the catalog.

Config checks are generated from the catalog's `Field`s: one checker per field type,
plus a few per-action cross-field checks. The runner re-uses `validate_action_config`
on rendered configs, so every checker also accepts already-rendered values.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from flask import current_app, has_app_context
from marshmallow import (RAISE, Schema, ValidationError, fields, post_dump, post_load,
                         validate, validates_schema)

from engine.core.addresses import is_loopback_name, is_public_address, literal_address
from engine.core.catalog import (ACTIONS, CONDITION_OPERATORS, DEAL_CHANGE_FIELDS,
                            ERROR_STRATEGIES, MAX_BRANCH_DEPTH, MAX_DELAY_SECONDS, ROLES, TRIGGERS,
                            UNARY_OPERATORS, UPDATE_DEAL_FIELDS, USER_KEYWORDS,
                            WORKFLOW_STATUSES, Field)
from engine.core.conditions import STEPS_PREFIX
from engine.core.steps import BRANCH, BRANCH_PATHS, StepPlan, branch_paths
from engine.core.templating import contains_placeholder, is_placeholder, placeholders, step_reference
from models.vocabulary import FALSE_WORDS, TRUE_WORDS, ConditionsMatch, ErrorStrategy, WorkflowStatus, values

REQUIRED = "This field is required."
UNKNOWN_FIELD = "Unknown field."
NAME_REQUIRED = "Name is required."
MAX_STRING = 2000
MAX_TEXT = 50000
MAX_CONDITIONS = 20
MAX_ACTIONS = 50
MAX_NUMBER = 10**15

_EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_INTEGER_RE = re.compile(r"^[+-]?[0-9]{1,18}$")
_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
STEP_ID_RE = re.compile(r"^[a-z0-9_]{1,32}$")
STEP_ID_MESSAGE = "A step id is 1 to 32 lowercase letters, digits or _, with at least one letter or _."
NO_CONDITIONS = "Add at least one condition."


class FieldValueError(ValueError):
    """A config value failed its field's check; the message is user-facing. `details`: messages by
    sub-path (a list field's entries), reported under the field instead of the message."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details


# --- One checker per field type: (field, value) -> clean value, or FieldValueError --------

def _range(field: Field, number):
    low, high = field.min, field.max
    if low is not None and high is not None and not low <= number <= high:
        raise FieldValueError(f"Must be between {_fmt(low)} and {_fmt(high)}.")
    if low is not None and number < low:
        raise FieldValueError(f"Must be at least {_fmt(low)}.")
    if high is not None and number > high:
        raise FieldValueError(f"Must be at most {_fmt(high)}.")
    return number


def _fmt(number) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _check_text(limit: int) -> Callable[[Field, Any], str]:
    def check(field: Field, value: Any) -> str:
        if isinstance(value, (dict, list, tuple)):
            raise FieldValueError("Must be text.")
        text = value if isinstance(value, str) else str(value)
        if len(text) > limit:
            raise FieldValueError(f"Must be at most {limit} characters.")
        return text
    return check


def _check_email(field: Field, value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL_RE.match(value.strip()):
        raise FieldValueError("Enter a valid email address.")
    return value.strip()


def _check_url(field: Field, value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldValueError("Enter a valid http(s) URL.")
    try:
        parts.port
    except ValueError:
        raise FieldValueError("Enter a valid http(s) URL: the port must be a number up to 65535, "
                              "and an IPv6 address goes in brackets (http://[2001:db8::1]/).") from None
    host = parts.hostname
    if host not in _allowed_hosts():
        address = literal_address(host)
        if is_loopback_name(host) or (address is not None and not is_public_address(address)):
            raise FieldValueError(
                f"{host} is a local or private address, which workflows may not reach: use the service's public "
                "URL, or ask whoever runs this Workestra server to allow the host.")
    return text


def _allowed_hosts() -> set[str]:
    """WEBHOOK_ALLOWED_HOSTS, when an app is there to say (outgoing calls check it again at run time)."""
    if not has_app_context():
        return set()
    raw = current_app.config.get("WEBHOOK_ALLOWED_HOSTS") or ()
    items = str(raw).split(",") if isinstance(raw, str) else raw
    return {str(host).strip().lower().strip("[]") for host in items if str(host).strip()}


def _parse_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise FieldValueError("Must be a whole number.")
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)) and _is_whole(value):
        return int(value)
    if isinstance(value, str) and _INTEGER_RE.match(value.strip()):
        return int(value.strip())
    raise FieldValueError("Must be a whole number.")


def _is_whole(number: float | Decimal) -> bool:
    try:
        return abs(number) <= MAX_NUMBER and number == int(number)
    except (ValueError, OverflowError, InvalidOperation):
        return False


def _check_integer(field: Field, value: Any) -> int:
    return _range(field, _parse_integer(value))


def _check_number(field: Field, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise FieldValueError("Must be a number.")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise FieldValueError("Must be a number.") from None
    if not number.is_finite() or abs(number) > MAX_NUMBER:
        raise FieldValueError("Must be a number.")
    _range(field, number)
    return int(number) if _is_whole(number) else float(number)


def _check_select(field: Field, value: Any) -> str:
    allowed = [choice for choice, _label in field.choices]
    if value not in allowed:
        listed = ", ".join(choice for choice in allowed if choice)
        raise FieldValueError(f"Must be one of: {listed}.")
    return value


def _check_role(field: Field, value: Any) -> str:
    return _check_select(field if field.choices else _with_choices(field, ROLES), value)


def _with_choices(field: Field, choices) -> Field:
    return Field(field.name, field.label, "select", choices=choices)


def _check_record_id(field: Field, value: Any) -> int:
    try:
        number = _parse_integer(value)
    except FieldValueError:
        number = 0
    if number < 1:
        raise FieldValueError("Enter a record id (a positive whole number) "
                          "or a {{ trigger.… }} value.")
    return number


def _check_user(field: Field, value: Any) -> int | str:
    if isinstance(value, str) and value.strip() in USER_KEYWORDS:
        return value.strip()
    try:
        return _check_record_id(field, value)
    except FieldValueError:
        raise FieldValueError('Enter a user id, a {{ trigger.… }} value, '
                          'or "owner" / "record_owner".') from None


def _check_json(field: Field, value: Any) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise FieldValueError(f"Not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.") from None
    if not isinstance(value, dict):
        raise FieldValueError("Must be a JSON object.")
    return value


def _check_cron(field: Field, value: Any) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise FieldValueError("Invalid cron expression.")
    return text


def _check_timezone(field: Field, value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise FieldValueError(f"Unknown time zone '{name}'.") from None
    return name


def _check_boolean(field: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise FieldValueError("Must be true or false.")


def _check_conditions(field: Field, value: Any) -> list:
    if not isinstance(value, list):
        raise FieldValueError("Must be a list of conditions.")
    if len(value) > MAX_CONDITIONS:
        raise FieldValueError(f"At most {MAX_CONDITIONS} conditions.")
    clean, problems = [], {}
    for number, condition in enumerate(value):
        try:
            clean.append(ConditionSchema().load(condition))
        except ValidationError as error:
            problems[number] = error.messages
    if problems:
        raise FieldValueError("Some conditions are invalid.", problems)
    return clean


CHECKERS: dict[str, Callable[[Field, Any], Any]] = {
    "string": _check_text(MAX_STRING),
    "text": _check_text(MAX_TEXT),
    "email": _check_email,
    "url": _check_url,
    "integer": _check_integer,
    "number": _check_number,
    "select": _check_select,
    "user": _check_user,
    "record_id": _check_record_id,
    "json": _check_json,
    "cron": _check_cron,
    "timezone": _check_timezone,
    "boolean": _check_boolean,
    "role": _check_role,
    "conditions": _check_conditions,
}
_NO_TEMPLATES = {"cron", "timezone"}  # trigger settings: never rendered


def _is_template(field: Field, value: Any) -> bool:
    if field.type in _NO_TEMPLATES:
        return False
    if field.type == "json":
        return is_placeholder(value)
    return contains_placeholder(value)


def check_value(field: Field, value: Any, allow_templates: bool = True) -> Any:
    """The clean value for one field, or FieldValueError. Templates pass through unchecked."""
    if allow_templates and _is_template(field, value):
        return value
    return CHECKERS[field.type](field, value)


def _is_blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == {} or value == []


# --- Whole configs ---------------------------------------------------------------------

def check_config(config_fields: tuple[Field, ...], config: Any,
                 allow_templates: bool = True) -> tuple[dict, dict]:
    """(clean config, errors by field name). A missing or blank optional value takes the
    field's default (or is left out); a blank required value is an error."""
    if not isinstance(config, dict):
        return {}, {"_schema": ["Must be a JSON object."]}
    known = {f.name for f in config_fields}
    errors = {key: [UNKNOWN_FIELD] for key in config if key not in known}
    clean: dict = {}
    for field in config_fields:
        value = config.get(field.name, field.default)
        if _is_blank(value):
            if field.required:
                errors[field.name] = [NO_CONDITIONS if field.type == "conditions" else REQUIRED]
            elif field.default is not None:
                clean[field.name] = field.default
            continue
        try:
            clean[field.name] = check_value(field, value, allow_templates)
        except FieldValueError as error:
            errors[field.name] = error.details or [str(error)]
    return clean, errors


def _check_recipient(clean: dict, allow_templates: bool) -> dict:
    needed = {"user": "user_id", "role": "role"}.get(clean.get("recipient"))
    if needed and needed not in clean:
        return {needed: [REQUIRED]}
    return {}


_DEAL_CHANGES = {f.name: f for f in DEAL_CHANGE_FIELDS}


def _check_deal_changes(clean: dict, allow_templates: bool) -> dict:
    """Only whitelisted deal columns, each with a valid value. Normalises clean["changes"]."""
    changes = clean.get("changes")
    if not isinstance(changes, dict):
        return {}
    messages, normalised = [], {}
    for key, value in changes.items():
        field = _DEAL_CHANGES.get(key)
        if field is None:
            messages.append(f"'{key}' cannot be updated; allowed: "
                            f"{', '.join(UPDATE_DEAL_FIELDS)}.")
            continue
        try:
            normalised[key] = check_value(field, value, allow_templates)
        except FieldValueError as error:
            messages.append(f"{key}: {error}")
    clean["changes"] = normalised
    return {"changes": messages} if messages else {}


ACTION_CHECKS: dict[str, Callable[[dict, bool], dict]] = {
    "send_in_app_notification": _check_recipient,
    "update_deal": _check_deal_changes,
}


def clean_action_config(action_type: str, config: Any,
                        allow_templates: bool = True) -> tuple[dict, dict]:
    """(clean config, errors) for one action's config."""
    action = ACTIONS.get(action_type) if isinstance(action_type, str) else None
    if action is None:
        return {}, {"type": [f"Unknown action type '{action_type}'."]}
    clean, errors = check_config(action.fields, config, allow_templates)
    extra = ACTION_CHECKS.get(action_type)
    if extra:
        for name, messages in extra(clean, allow_templates).items():
            errors.setdefault(name, messages)
    return clean, errors


def validate_action_config(action_type: str, config: Any,
                           allow_templates: bool = True) -> dict:
    """Errors by field name ({} when valid). At run time, pass allow_templates=False:
    a rendered value that still looks like a placeholder came from the payload."""
    return clean_action_config(action_type, config, allow_templates)[1]


def clean_trigger_config(trigger_key: str, config: Any) -> tuple[dict, dict]:
    trigger = TRIGGERS.get(trigger_key) if isinstance(trigger_key, str) else None
    if trigger is None:
        return {}, {"type": [f"Unknown trigger '{trigger_key}'."]}
    return check_config(trigger.config_fields, config, allow_templates=False)


# --- Schemas ---------------------------------------------------------------------------

class StrippedString(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class _StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _one_of(choices, what: str) -> validate.OneOf:
    return validate.OneOf(list(choices), error=f"Unknown {what} '{{input}}'.")


class TriggerSchema(_StrictSchema):
    type = fields.String(required=True, validate=_one_of(TRIGGERS, "trigger"))
    config = fields.Dict(keys=fields.String(), load_default=dict)

    @validates_schema
    def _validate_config(self, data, **kwargs):
        errors = clean_trigger_config(data["type"], data["config"])[1]
        if errors:
            raise ValidationError({"config": errors})

    @post_load
    def _clean_config(self, data, **kwargs):
        data["config"] = clean_trigger_config(data["type"], data["config"])[0]
        return data


class ConditionSchema(_StrictSchema):
    field = StrippedString(required=True, validate=validate.Regexp(
        _PATH_RE, error="Enter a dotted path into the trigger payload, like deal.value."))
    op = fields.String(required=True, validate=_one_of(CONDITION_OPERATORS, "operator"))
    value = fields.Raw(allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def _value_required(self, data, **kwargs):
        if data.get("op") in CONDITION_OPERATORS and data["op"] not in UNARY_OPERATORS \
                and "value" not in data:
            raise ValidationError(REQUIRED, "value")

    @post_load
    def _default_value(self, data, **kwargs):
        data.setdefault("value", None)
        return data


class ActionSchema(_StrictSchema):
    id = fields.String(validate=validate.Regexp(STEP_ID_RE, error=STEP_ID_MESSAGE))
    type = fields.String(required=True, validate=_one_of(ACTIONS, "action type"))
    delay_seconds = fields.Integer(
        load_default=0, strict=False,
        validate=validate.Range(0, MAX_DELAY_SECONDS,
                                error=f"Must be between 0 and {MAX_DELAY_SECONDS} "
                                      "seconds (30 days)."))
    config = fields.Dict(keys=fields.String(), load_default=dict)
    then = fields.List(fields.Nested(lambda: ActionSchema()))
    else_ = fields.List(fields.Nested(lambda: ActionSchema()), data_key="else", attribute="else")

    @validates_schema(skip_on_field_errors=False)
    def _validate_config(self, data, **kwargs):
        errors = {}
        if data.get("type") in ACTIONS and "config" in data:
            config_errors = validate_action_config(data["type"], data["config"])
            if config_errors:
                errors["config"] = config_errors
        if data.get("type") != BRANCH:
            for side in BRANCH_PATHS:
                if side in data:
                    errors[side] = ["Only a branch step has Then and Else paths."]
        if data.get("id") is not None and data["id"].isdigit():
            errors["id"] = [STEP_ID_MESSAGE]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _clean_config(self, data, **kwargs):
        data["config"] = clean_action_config(data["type"], data["config"])[0]
        if data["type"] == BRANCH:
            for side in BRANCH_PATHS:
                data.setdefault(side, [])
        return data


class WorkflowDefinitionSchema(_StrictSchema):
    name = StrippedString(
        required=True,
        validate=[validate.Length(min=1, error=NAME_REQUIRED),
                  validate.Length(max=200, error="Name must be at most 200 characters.")],
        error_messages={"required": NAME_REQUIRED, "null": NAME_REQUIRED})
    description = StrippedString(load_default="", validate=validate.Length(
        max=2000, error="Description must be at most 2000 characters."))
    trigger = fields.Nested(TriggerSchema, required=True)
    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list,
                             validate=validate.Length(
                                 max=MAX_CONDITIONS,
                                 error=f"At most {MAX_CONDITIONS} conditions."))
    actions = fields.List(
        fields.Nested(ActionSchema), required=True,
        error_messages={"required": "Add at least one action."},
        validate=[validate.Length(min=1, error="Add at least one action."),
                  validate.Length(max=MAX_ACTIONS, error=f"At most {MAX_ACTIONS} actions.")])
    conditions_match = fields.String(load_default=ConditionsMatch.ALL.value,
                                     validate=validate.OneOf(values(ConditionsMatch),
                                                             error="Must be all or any."))
    error_strategy = fields.String(load_default=ErrorStrategy.CONTINUE.value,
                                   validate=validate.OneOf(list(ERROR_STRATEGIES)))
    status = fields.String(load_default=WorkflowStatus.DRAFT.value,
                           validate=validate.OneOf(list(WORKFLOW_STATUSES)))

    @validates_schema(skip_on_field_errors=True)
    def _validate_steps(self, data, **kwargs):
        errors = step_problems(data.get("conditions") or [], data.get("actions") or [])
        if errors:
            raise ValidationError(errors)

    @post_load
    def _assign_ids(self, data, **kwargs):
        if "actions" in data:
            assign_step_ids(data["actions"])
        return data


# --- Definition v2: step ids, branch nesting, references to earlier steps --------------------------

def _nest(errors: dict, path: tuple, message: str) -> None:
    """errors["actions"][1]["then"][0]["config"]["to"] = [message], for flatten_errors' dotted paths."""
    node = errors
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(path[-1], []).append(message)


def _references(action: dict) -> list[tuple[tuple, str]]:
    """(where in the action, step id or index text) for every earlier step the action's config reads."""
    config = action.get("config") or {}
    found = []
    for key, value in config.items():
        for path in placeholders(value):
            step = step_reference(path)
            if step is not None:
                found.append((("config", key), step))
    if action.get("type") == BRANCH:
        for number, condition in enumerate(config.get("conditions") or []):
            step = step_reference(condition.get("field")) if isinstance(condition, dict) else None
            if step is not None:
                found.append((("config", "conditions", number, "field"), step))
    return found


def step_problems(conditions: list, actions: list) -> dict:
    """Nested errors for: duplicate ids, branches nested deeper than MAX_BRANCH_DEPTH, unknown step ids and
    references to a step that cannot have run before (a later step, or one on a path not taken)."""
    errors: dict = {}
    for number, condition in enumerate(conditions):
        if str(condition.get("field") or "").startswith(STEPS_PREFIX):
            _nest(errors, ("conditions", number, "field"),
                  "The workflow's conditions are checked before any step runs; test a step's output with a branch.")
    plan = StepPlan(actions)
    if len(plan) > MAX_ACTIONS:
        _nest(errors, ("actions",), f"At most {MAX_ACTIONS} steps in all, branch paths included.")
    known_ids = {action.get("id") for _address, action in plan.steps if action.get("id")}
    seen: set = set()
    for address, action in plan.steps:
        step_id = action.get("id")
        if step_id and step_id in seen:
            _nest(errors, ("actions", *address.path, "id"), f"Another step already has the id '{step_id}'.")
        seen.add(step_id)
        if action.get("type") == BRANCH and address.depth >= MAX_BRANCH_DEPTH:
            _nest(errors, ("actions", *address.path, "type"), f"Branches nest at most {MAX_BRANCH_DEPTH} deep.")

    def walk(steps: list, prefix: tuple, ran_ids: set, top: int | None) -> set:
        ran = set(ran_ids)
        for number, action in enumerate(steps):
            path = (*prefix, number)
            top_index = number if top is None else top
            for where, step in _references(action):
                if step.isdigit():
                    if not (int(step) < top_index or (top is not None and int(step) == top_index)):
                        _nest(errors, ("actions", *path, *where),
                              f"Step {int(step) + 1} runs after this one: its output is not there yet.")
                elif step not in known_ids:
                    _nest(errors, ("actions", *path, *where), f"There is no step with the id '{step}'.")
                elif step not in ran:
                    _nest(errors, ("actions", *path, *where),
                          f"Step '{step}' cannot have run before this one (it comes later, or lies on the other path).")
            inside = ran | ({action["id"]} if action.get("id") else set())
            for side, nested in branch_paths(action):
                inside |= walk(nested, (*path, side), ran | ({action["id"]} if action.get("id") else set()), top_index)
            ran = inside
        return ran

    walk(actions, (), set(), None)
    return errors


def assign_step_ids(actions: list) -> None:
    """Give every step without an id one that no other step of the definition has ("s1", "s2", ...)."""
    steps = [(address, action) for address, action in StepPlan(actions).steps if isinstance(action, dict)]
    used = {action.get("id") for _address, action in steps if action.get("id")}
    counter = 0
    for _address, action in steps:
        if not action.get("id"):
            counter += 1
            while f"s{counter}" in used:
                counter += 1
            action["id"] = f"s{counter}"
            used.add(action["id"])


def validate_definition(data: Any) -> tuple[dict | None, dict]:
    """(clean definition, {}) when valid, else (None, nested errors)."""
    try:
        return WorkflowDefinitionSchema().load(data), {}
    except ValidationError as error:
        return None, error.messages


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"actions": {0: {"config": {"x": [...]}}}} -> {"actions.0.config.x": [...]}."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, messages in flatten_errors(value, path).items():
                flat.setdefault(sub_path, []).extend(messages)
        return flat
    if isinstance(errors, (list, tuple)):
        flat = {}
        for item in errors:
            for sub_path, messages in flatten_errors(item, prefix).items():
                flat.setdefault(sub_path, []).extend(messages)
        return flat
    return {prefix: [str(errors)]}


# --- Executions (dump only) -------------------------------------------------------------

class _DateTimeOut(fields.DateTime):
    """ISO 8601; a value already stored as a string is passed through."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, str):
            return value
        return super()._serialize(value, attr, obj, **kwargs)


class ExecutionSchema(Schema):
    id = fields.Integer(dump_only=True)
    workflow_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    trigger_type = fields.String(dump_only=True)
    started_at = _DateTimeOut(dump_only=True)
    finished_at = _DateTimeOut(dump_only=True)
    duration_ms = fields.Integer(dump_only=True)
    error = fields.String(dump_only=True, allow_none=True)
    completed_actions = fields.List(fields.Dict(), dump_only=True)

    @post_dump
    def _list_steps(self, data, **kwargs):
        if data.get("completed_actions") is None:
            data["completed_actions"] = []
        return data

"""Helpers the business executors share: service errors become step errors, user resolution,
record lookups scoped to the step's workspace, and links to what a step created (engine.core.records)."""
from __future__ import annotations

from contextlib import contextmanager

from engine.core.records import record_path
from engine.core.schemas import clean_action_config, flatten_errors
from engine.executors import StepContext, StepError
from models import User
from services import common
from services.errors import NotFound, PermissionDenied, ValidationFailed

# Payload objects whose owner "record_owner" means, in this order; and the key that holds it.
RECORD_OWNER_KEYS = (
    ("deal", "owner_id"), ("ticket", "owner_id"), ("task", "assignee_id"), ("contact", "owner_id"),
    ("project", "lead_id"), ("application", "recruiter_id"),
)

def link(kind: str, object_id: int) -> str:
    return record_path(kind, object_id)


def origin(step: StepContext) -> tuple[int, int]:
    return (step.execution_id, step.step_index)


def earlier_record(model, step: StepContext):
    """The row an earlier attempt of this step created; not looked up on a first attempt, when none can exist."""
    return common.created_by(model, step.workspace_id, origin(step)) if step.may_have_run_before else None


def config_of(step: StepContext) -> dict:
    """The step's config, checked against the catalog unless the runner already did (a direct call may not)."""
    if step.config_cleaned:
        return step.config
    config, errors = clean_action_config(step.action_type, step.config or {}, allow_templates=False)
    if errors:
        details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in flatten_errors(errors).items())
        raise StepError(f"Invalid configuration: {details}", retryable=False)
    return config


def _message(failure: ValidationFailed) -> str:
    parts = []
    for field, messages in failure.errors.items():
        if isinstance(messages, dict):
            messages = [f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
                        for key, value in messages.items()]
        text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
        parts.append(f"{field}: {text}")
    return "; ".join(parts)


@contextmanager
def service_errors():
    """NotFound / ValidationFailed / PermissionDenied from a service: a non-retryable step error."""
    try:
        yield
    except NotFound as missing:
        raise StepError(str(missing), retryable=False) from None
    except ValidationFailed as failure:
        raise StepError(_message(failure), retryable=False) from None
    except PermissionDenied as denied:
        raise StepError(str(denied), retryable=False) from None


def record_owner_id(payload: dict) -> int | None:
    for key, attribute in RECORD_OWNER_KEYS:
        record = payload.get(key)
        if isinstance(record, dict) and record.get(attribute):
            return record[attribute]
    return None


def _workspace_owner(step: StepContext) -> User:
    owner = common.workspace_owner(step.workspace_id)
    if owner is None:
        raise StepError("This workspace has no owner.", retryable=False)
    return owner


def user_id_of(step: StepContext, value) -> int:
    """The user id a user field names: an id, "owner" or "record_owner". Membership is not checked here
    (resolve_user checks it; notification_service.notify_members writes only to members)."""
    if value == "owner":
        return _workspace_owner(step).id
    if value == "record_owner":
        value = record_owner_id(step.payload or {})
        if value is None:
            raise StepError("The trigger's record has no owner (record_owner).", retryable=False)
    if not common.is_plain_int(str(value)):
        raise StepError(f"User {value} is not a member of this workspace.", retryable=False)
    return int(value)


def resolve_user(step: StepContext, value, field: str = "user_id") -> User:
    """A member of the step's workspace from a user field: an id, "owner" or "record_owner"."""
    if value == "owner":
        return _workspace_owner(step)
    user_id = user_id_of(step, value)
    try:
        return common.workspace_member(step.workspace_id, user_id, field)
    except ValidationFailed:
        raise StepError(f"User {user_id} is not a member of this workspace.", retryable=False) from None


def optional_user_id(step: StepContext, value, field: str) -> int | None:
    if value in (None, ""):
        return None
    return resolve_user(step, value, field).id

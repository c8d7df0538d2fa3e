"""A workflow's operating settings (DESIGN.md "Operating many workflows"): `workflows.settings`, a JSON object.

- `alert_on_failure` (default true): a failed run notifies the workspace's owners and admins (services/failure_alerts.py).
- `auto_pause_after_failures` (default: the workspace's `auto_pause_after_failures`, 5): pause the workflow after
  this many failed runs in a row; 0 = never. Absent or null: the workspace's default.
- `max_concurrent_runs` (default null, no cap): at most this many runs at once; the others wait as pending
  (engine/core/caps.py). A column, `workflows.max_concurrent_runs`, not a key of the JSON: every claim reads it.

Settings are not part of the definition: no version is added, a run reads the workflow's current settings, and
only owners and admins change them (switching alerts off or capping runs is an operating decision, like the
workspace default).
"""
from marshmallow import Schema, ValidationError, fields, validate

from models import Role, User, Workflow, Workspace, db
from services import audit_service
from services.errors import PermissionDenied, ValidationFailed

ALERT_ON_FAILURE = "alert_on_failure"
AUTO_PAUSE_AFTER_FAILURES = "auto_pause_after_failures"
DEFAULT_AUTO_PAUSE_AFTER_FAILURES = 5  # a new workspace's default (workspaces.auto_pause_after_failures)
MAX_AUTO_PAUSE_AFTER_FAILURES = 1000
MAX_CONCURRENT_RUNS = "max_concurrent_runs"
MAX_CONCURRENT_RUNS_LIMIT = 1000
CAP_MESSAGE = f"Enter a whole number from 1 to {MAX_CONCURRENT_RUNS_LIMIT}, or leave it empty for no limit."
CHANGE_ROLE = Role.ADMIN
_AUTO_PAUSE_RANGE = validate.Range(min=0, max=MAX_AUTO_PAUSE_AFTER_FAILURES,
                                   error=f"Enter a whole number from 0 (never) to {MAX_AUTO_PAUSE_AFTER_FAILURES}.")


class WorkflowSettingsSchema(Schema):
    """The settings a request may change; keys left out keep their value."""
    alert_on_failure = fields.Boolean(metadata={
        "description": "Notify the workspace's owners and admins when a run fails (default true)."})
    auto_pause_after_failures = fields.Integer(strict=True, allow_none=True, validate=_AUTO_PAUSE_RANGE, metadata={
        "description": "Pause the workflow after this many failed runs in a row; 0 = never; null = the "
                       "workspace's default."})
    max_concurrent_runs = fields.Integer(strict=True, allow_none=True, validate=validate.Range(
        min=1, max=MAX_CONCURRENT_RUNS_LIMIT, error=CAP_MESSAGE), error_messages={"invalid": CAP_MESSAGE}, metadata={
        "description": "At most this many runs at once (1 to 1000); the others wait as pending. null = no limit."})


def alert_on_failure(settings: dict | None) -> bool:
    return (settings or {}).get(ALERT_ON_FAILURE) is not False


def auto_pause_override(settings: dict | None) -> int | None:
    value = (settings or {}).get(AUTO_PAUSE_AFTER_FAILURES)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def auto_pause_threshold(settings: dict | None, workspace_default: int) -> int:
    """After how many failed runs in a row the workflow pauses; 0 = never."""
    override = auto_pause_override(settings)
    return workspace_default if override is None else override


def settings_of(workflow: Workflow) -> dict:
    """The stored settings with the cap (a column) beside them: what a workflow's API document shows."""
    return {**(workflow.settings or {}), MAX_CONCURRENT_RUNS: workflow.max_concurrent_runs}


def effective_settings(workflow: Workflow) -> dict:
    """What the API shows: every setting with the value that applies (the workspace's default filled in)."""
    workspace = db.session.get(Workspace, workflow.workspace_id)
    settings = dict(workflow.settings or {})
    return {**settings, ALERT_ON_FAILURE: alert_on_failure(settings),
            AUTO_PAUSE_AFTER_FAILURES: auto_pause_override(settings),
            "auto_pause_after_failures_effective": auto_pause_threshold(settings, workspace.auto_pause_after_failures),
            MAX_CONCURRENT_RUNS: workflow.max_concurrent_runs}


def may_change(role: Role | None) -> bool:
    return role is not None and role.rank >= CHANGE_ROLE.rank


def clean_settings(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationFailed({"settings": ["Must be an object."]})
    try:
        return WorkflowSettingsSchema().load(data)
    except ValidationError as error:
        raise ValidationFailed({f"settings.{key}": messages for key, messages in error.normalized_messages().items()}) \
            from None


def update_settings(workflow: Workflow, data: dict, actor: User | None, role: Role | None) -> Workflow:
    """Change some settings (owners and admins); the others keep their values. Audited when something changed.
    Sending the values a setting already has is no change (a member's editor may post them back)."""
    changes = clean_settings(data)
    if not may_change(role) and _would_change(workflow, changes):
        raise PermissionDenied("Only owners and admins change a workflow's settings.")
    if MAX_CONCURRENT_RUNS in changes:
        _set_cap(workflow, changes.pop(MAX_CONCURRENT_RUNS), actor)
    settings = dict(workflow.settings or {})
    before = dict(settings)
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    if settings == before:
        return workflow
    workflow.settings = settings
    db.session.flush()
    audit_service.record_event(
        workflow.workspace_id, "workflow.settings_changed", f"Settings of workflow {workflow.name!r} changed",
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        subject_type="workflow", subject_id=workflow.id, data={"from": before, "to": settings})
    return workflow


def _would_change(workflow: Workflow, changes: dict) -> bool:
    stored = settings_of(workflow)
    return any(stored.get(key) != value for key, value in changes.items())


def _set_cap(workflow: Workflow, limit: int | None, actor: User | None) -> None:
    if limit == workflow.max_concurrent_runs:
        return
    workflow.max_concurrent_runs = limit
    db.session.flush()
    audit_service.record_event(
        workflow.workspace_id, "workflow.settings_changed",
        f"Workflow {workflow.name!r}: " + (f"at most {limit} runs at once" if limit else "no limit on runs at once"),
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        subject_type="workflow", subject_id=workflow.id)


def _whole_number_or_text(raw: str):
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else raw


def settings_from_form(form) -> dict:
    """The editor's settings fields as update_settings takes them; {} when the form has none (a member's editor
    shows them disabled, so the browser sends nothing). An empty number field: null (default / no limit)."""
    settings: dict = {}
    if form.get("settings-present") == "1":
        auto_pause = (form.get("settings-auto_pause_after_failures") or "").strip()
        settings[ALERT_ON_FAILURE] = form.get("settings-alert_on_failure") == "on"
        settings[AUTO_PAUSE_AFTER_FAILURES] = _whole_number_or_text(auto_pause) if auto_pause else None
    if MAX_CONCURRENT_RUNS in form:
        cap = form[MAX_CONCURRENT_RUNS].strip()
        settings[MAX_CONCURRENT_RUNS] = _whole_number_or_text(cap) if cap else None
    return settings


def set_workspace_auto_pause(workspace: Workspace, raw, by: User) -> None:
    """The workspace's default (Settings → Workspace). Owners and admins only (the route checks)."""
    text = str(raw if raw is not None else "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or int(text) > MAX_AUTO_PAUSE_AFTER_FAILURES:
        raise ValidationFailed({"auto_pause_after_failures": [
            f"Enter a whole number from 0 (never) to {MAX_AUTO_PAUSE_AFTER_FAILURES}."]})
    value = int(text)
    if value == workspace.auto_pause_after_failures:
        return
    previous, workspace.auto_pause_after_failures = workspace.auto_pause_after_failures, value
    audit_service.record_event(workspace.id, "workspace.auto_pause_changed",
                               f"Workflows now pause after {value} failed runs in a row" if value else
                               "Workflows are no longer paused after failed runs",
                               actor_id=by.id, actor_label=by.email, data={"from": previous, "to": value})

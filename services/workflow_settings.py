"""A workflow's operating settings (DESIGN.md "Operating many workflows"): not part of its definition, so
changing them adds no version, and runs read the workflow's current value (a cap applies to runs already
waiting). Today: `max_concurrent_runs` (None = no cap), kept in workflows.max_concurrent_runs.
(Issue #22's other settings, alert_on_failure and auto_pause_after_failures, belong here too.)"""
from models import User, Workflow, db
from services import audit_service
from services.errors import ValidationFailed

MAX_CONCURRENT_RUNS_LIMIT = 1000
CAP_MESSAGE = f"Enter a whole number from 1 to {MAX_CONCURRENT_RUNS_LIMIT}, or leave it empty for no limit."


def settings_of(workflow: Workflow) -> dict:
    return {"max_concurrent_runs": workflow.max_concurrent_runs}


def clean_max_concurrent_runs(value) -> int | None:
    """None (no cap) or a whole number from 1 to MAX_CONCURRENT_RUNS_LIMIT; ValidationFailed otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENT_RUNS_LIMIT:
        raise ValidationFailed({"settings.max_concurrent_runs": [CAP_MESSAGE]})
    return value


def settings_from_form(form) -> dict:
    """The settings a form sent, typed as the API takes them (an empty field: no cap); {} when it sent none."""
    if "max_concurrent_runs" not in form:
        return {}
    text = form["max_concurrent_runs"].strip()
    return {"max_concurrent_runs": None if not text else int(text) if text.isdigit() and len(text) < 10 else text}


def clean_settings(data) -> dict:
    """The settings given in `data` (an object), validated; keys not given are left out."""
    if not isinstance(data, dict):
        raise ValidationFailed({"settings": ["Must be an object."]})
    unknown = sorted(set(data) - {"max_concurrent_runs"})
    if unknown:
        raise ValidationFailed({f"settings.{key}": ["Unknown setting."] for key in unknown})
    clean = {}
    if "max_concurrent_runs" in data:
        clean["max_concurrent_runs"] = clean_max_concurrent_runs(data["max_concurrent_runs"])
    return clean


def update_settings(workflow: Workflow, data, actor: User | None = None) -> Workflow:
    """Change the settings given in `data`; audited when a value changes."""
    clean = clean_settings(data)
    if "max_concurrent_runs" in clean and clean["max_concurrent_runs"] != workflow.max_concurrent_runs:
        workflow.max_concurrent_runs = clean["max_concurrent_runs"]
        db.session.flush()
        limit = workflow.max_concurrent_runs
        audit_service.record_event(
            workflow.workspace_id, "workflow.settings_changed",
            f"Workflow {workflow.name!r}: " + (f"at most {limit} runs at once" if limit else "no limit on runs at once"),
            actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
            subject_type="workflow", subject_id=workflow.id)
    return workflow

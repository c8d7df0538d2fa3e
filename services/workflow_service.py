"""Workflows: create, update, change status, duplicate, delete. Every write is validated and audited.

Quick Rule workflows (the hidden workflows that Settings → Quick Rules creates, linked by
workspace_rule_settings) are hidden and read-only for every front door: the pages and /api/v1 list
workflows with `editable_conditions()` and load one with `get_editable_workflow()`, which answers
NotFound for them. Only quick_rules_service changes them, through the writes below.
"""
from sqlalchemy import select

from engine.core.schemas import flatten_errors, validate_definition
from models import User, Workflow, db
from models.triggers import WorkspaceRuleSetting
from models.vocabulary import WorkflowStatus
from services import audit_service, failure_alerts, schedule_service, version_service
from services.common import get_in_workspace
from services.errors import NotFound, ValidationFailed

STATUS_VERBS = {WorkflowStatus.ACTIVE: "activated", WorkflowStatus.PAUSED: "paused", WorkflowStatus.ARCHIVED: "archived",
                WorkflowStatus.DRAFT: "moved to draft"}
QUICK_RULE_NOT_EDITABLE = "This automation is a Quick Rule: switch it on or off in Settings → Quick Rules."


def get_workflow(workspace_id: int, workflow_id) -> Workflow:
    """Any workflow of the workspace, Quick Rule workflows included (for the services that manage them)."""
    return get_in_workspace(Workflow, workspace_id, workflow_id, "Workflow")


def quick_rule_workflow_ids():
    """A subquery of the ids of the workflows that run Quick Rules."""
    return select(WorkspaceRuleSetting.workflow_id).where(WorkspaceRuleSetting.workflow_id.is_not(None))


def is_quick_rule_workflow(workflow_id: int | None) -> bool:
    if workflow_id is None:
        return False
    return db.session.scalar(
        select(WorkspaceRuleSetting.id).where(WorkspaceRuleSetting.workflow_id == workflow_id)) is not None


def editable_conditions(workspace_id: int) -> list:
    """The WHERE conditions of every list of workflows a person sees: this workspace's, without the
    Quick Rule workflows."""
    return [Workflow.workspace_id == workspace_id, Workflow.id.not_in(quick_rule_workflow_ids())]


def editable_workflows(workspace_id: int, status: str | None = None) -> list[Workflow]:
    """The workspace's workflows (Quick Rule workflows left out), most recently changed first."""
    query = select(Workflow).where(*editable_conditions(workspace_id))
    if status:
        query = query.where(Workflow.status == status)
    return list(db.session.scalars(query.order_by(Workflow.updated_at.desc(), Workflow.id.desc())))


def get_editable_workflow(workspace_id: int, workflow_id) -> Workflow:
    """A workflow of the workspace that people may read and change; NotFound for a Quick Rule workflow,
    as for a workflow of another workspace."""
    workflow = get_workflow(workspace_id, workflow_id)
    if is_quick_rule_workflow(workflow.id):
        raise NotFound(QUICK_RULE_NOT_EDITABLE)
    return workflow


def clean_definition(data) -> dict:
    """The validated definition, or ValidationFailed with messages keyed by dotted field path."""
    clean, errors = validate_definition(data)
    if errors:
        raise ValidationFailed(flatten_errors(errors))
    return clean


def _apply(workflow: Workflow, definition: dict) -> None:
    workflow.name = definition["name"]
    workflow.description = definition.get("description", "")
    workflow.trigger = definition["trigger"]
    workflow.trigger_type = definition["trigger"]["type"]
    workflow.conditions = definition.get("conditions", [])
    workflow.conditions_match = definition.get("conditions_match") or "all"
    workflow.actions = definition["actions"]
    workflow.error_strategy = definition.get("error_strategy", "continue")


def _audit(workflow: Workflow, event: str, message: str, actor: User | None) -> None:
    audit_service.record_event(
        workflow.workspace_id, event, message,
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        subject_type="workflow", subject_id=workflow.id,
    )


REQUIRED_MESSAGE = "This field is required."


def definition_problems(workflow: Workflow) -> dict:
    """What still keeps this workflow from being activated (field path → messages); {} when complete."""
    return flatten_errors(validate_definition(workflow.definition())[1])


def _only_missing_values(errors: dict) -> bool:
    return bool(errors) and all(
        key.startswith("actions.") and ".config." in key and messages == [REQUIRED_MESSAGE] for key, messages in errors.items()
    )


def create_workflow(workspace_id: int, data: dict, actor: User | None = None, allow_incomplete: bool = False,
                    note: str = "") -> Workflow:
    """Create a workflow. `allow_incomplete`: a draft may still miss required action values
    (a template copy asks for its webhook URL in the editor); it cannot be activated until they are filled."""
    try:
        definition = clean_definition(data)
    except ValidationFailed as failure:
        if not (allow_incomplete and _only_missing_values(failure.errors)):
            raise
        definition = dict(data, status=WorkflowStatus.DRAFT.value)
    workflow = Workflow(workspace_id=workspace_id, created_by_id=actor.id if actor else None,
                        status=definition.get("status", WorkflowStatus.DRAFT.value), version=1)
    _apply(workflow, definition)
    db.session.add(workflow)
    db.session.flush()
    version_service.record_version(workflow, actor, note)
    _audit(workflow, "workflow.created", f"Created workflow {workflow.name!r}", actor)
    schedule_service.sync_workflow_triggers(workflow)
    return workflow


def update_workflow(workflow: Workflow, data: dict, actor: User | None = None, note: str = "") -> Workflow:
    """Save a new definition; a save that changes it adds a version (with the optional `note`).
    Running executions keep the snapshot they started with."""
    note = version_service.clean_note(note)
    definition = clean_definition(data)
    before = version_service.versioned_definition(workflow)
    _apply(workflow, definition)
    if "status" in (data or {}):
        workflow.status = definition["status"]
    db.session.flush()
    if version_service.versioned_definition(workflow) != before:
        version_service.record_version(workflow, actor, note)
        _audit(workflow, "workflow.updated", f"Updated workflow {workflow.name!r} (version {workflow.version})", actor)
    schedule_service.sync_workflow_triggers(workflow)
    return workflow


def restore_version(workflow: Workflow, number, actor: User | None = None) -> Workflow:
    """Make version `number`'s definition the workflow's again, as a new version; the status never changes.
    An active workflow only takes a complete definition; a draft may take one that still misses values."""
    version = version_service.get_version(workflow, number)
    data = dict(version.definition, status=workflow.status)
    try:
        definition = clean_definition(data)
    except ValidationFailed as failure:
        if workflow.status == WorkflowStatus.ACTIVE or not _only_missing_values(failure.errors):
            raise
        definition = data
    _apply(workflow, definition)
    db.session.flush()
    version_service.record_version(workflow, actor, f"Restored version {version.number}", restored_from=version.number)
    _audit(workflow, "workflow.restored",
           f"Restored version {version.number} of workflow {workflow.name!r} as version {workflow.version}", actor)
    schedule_service.sync_workflow_triggers(workflow)
    return workflow


def set_status(workflow: Workflow, status: str, actor: User | None = None) -> Workflow:
    if status not in STATUS_VERBS:
        raise ValidationFailed({"status": [f"Unknown status {status!r}."]})
    if status == WorkflowStatus.ACTIVE:
        clean_definition(workflow.definition())  # a workflow goes live only when it is valid
        failure_alerts.end_streak(workflow.id)  # activated again (after an auto-pause): its failures count anew
    workflow.status = status
    workflow.paused_reason = None  # a person's choice replaces the engine's
    db.session.flush()
    _audit(workflow, f"workflow.{status}", f"Workflow {workflow.name!r} {STATUS_VERBS[status]}", actor)
    schedule_service.sync_workflow_triggers(workflow)
    return workflow


def duplicate_workflow(workflow: Workflow, actor: User | None = None) -> Workflow:
    definition = dict(workflow.definition(), name=f"{workflow.name} (copy)"[:200], status=WorkflowStatus.DRAFT.value)
    return create_workflow(workflow.workspace_id, definition, actor)


def delete_workflow(workflow: Workflow, actor: User | None = None) -> None:
    _audit(workflow, "workflow.deleted", f"Deleted workflow {workflow.name!r}", actor)
    db.session.delete(workflow)
    db.session.flush()

"""Workflow versions (issue #21, DESIGN.md "Versions and files"): every save that changes the definition adds
an immutable version; restoring version N adds version N+1 with N's definition; status changes appear in
the history (from the audit log) without a version."""
import copy
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from engine.core.definition_diff import diff_definitions
from models import AuditEvent, User, Workflow, WorkflowVersion, db
from models.automations import VERSIONED_FIELDS
from models.vocabulary import WorkflowStatus
from services.errors import NotFound, ValidationFailed

MAX_NOTE = 500
HISTORY_PAGE = 100
STATUS_EVENTS = tuple(f"workflow.{status.value}" for status in WorkflowStatus)


def versioned_definition(source) -> dict:
    """The part of a definition a version keeps (no status), from a Workflow or a definition dict."""
    definition = source.definition() if isinstance(source, Workflow) else (source or {})
    return copy.deepcopy({name: definition.get(name) for name in VERSIONED_FIELDS})


def clean_note(note) -> str:
    note = (note or "").strip() if isinstance(note, str) else ""
    if len(note) > MAX_NOTE:
        raise ValidationFailed({"note": [f"A note must be at most {MAX_NOTE} characters."]})
    return note


def record_version(workflow: Workflow, actor: User | None = None, note: str = "",
                   restored_from: int | None = None) -> WorkflowVersion:
    """Add the workflow's current definition as its next version and make it the workflow's version."""
    last = db.session.scalar(select(func.max(WorkflowVersion.number)).where(WorkflowVersion.workflow_id == workflow.id))
    version = WorkflowVersion(
        workspace_id=workflow.workspace_id, workflow_id=workflow.id, number=(last or 0) + 1,
        definition=versioned_definition(workflow), note=clean_note(note), restored_from=restored_from,
        created_by_id=actor.id if actor else None, created_by_label=actor.display_name if actor else "System",
    )
    db.session.add(version)
    workflow.version = version.number
    db.session.flush()
    return version


def get_version(workflow: Workflow, number) -> WorkflowVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFound("No such version.") from None
    version = db.session.scalar(select(WorkflowVersion).where(
        WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.workspace_id == workflow.workspace_id,
        WorkflowVersion.number == number))
    if version is None:
        raise NotFound(f"This workflow has no version {number}.")
    return version


def list_versions(workflow: Workflow, before: int | None = None, limit: int = HISTORY_PAGE) -> list[WorkflowVersion]:
    """The workflow's versions, newest first (`before`: only numbers below it)."""
    query = select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow.id,
                                          WorkflowVersion.workspace_id == workflow.workspace_id)
    if before is not None:
        query = query.where(WorkflowVersion.number < before)
    return list(db.session.scalars(query.order_by(WorkflowVersion.number.desc()).limit(limit)))


@dataclass
class HistoryEntry:
    at: datetime
    who: str
    version: WorkflowVersion | None = None
    status_event: str | None = None  # "activated", "paused", ... for a status change
    message: str = ""


def history(workflow: Workflow, before: int | None = None) -> tuple[list[HistoryEntry], int | None]:
    """Versions (a page, newest first) with the status changes between them; and the `before` of the next page."""
    versions = list_versions(workflow, before, HISTORY_PAGE + 1)
    more = len(versions) > HISTORY_PAGE
    versions = versions[:HISTORY_PAGE]
    entries = [HistoryEntry(at=v.created_at, who=v.created_by_label or "System", version=v) for v in versions]
    if versions:
        events = select(AuditEvent).where(
            AuditEvent.workspace_id == workflow.workspace_id, AuditEvent.subject_type == "workflow",
            AuditEvent.subject_id == workflow.id, AuditEvent.event.in_(STATUS_EVENTS))
        if more:
            events = events.where(AuditEvent.created_at >= versions[-1].created_at)
        if before is not None:
            newer = db.session.scalar(select(WorkflowVersion.created_at).where(
                WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.number == before))
            if newer is not None:
                events = events.where(AuditEvent.created_at < newer)
        for event in db.session.scalars(events.order_by(AuditEvent.id.desc()).limit(HISTORY_PAGE * 4)):
            entries.append(HistoryEntry(at=event.created_at, who=event.actor_label or "System",
                                        status_event=event.event.split(".", 1)[1], message=event.message))
    entries.sort(key=lambda entry: (entry.at, entry.version.number if entry.version else 0), reverse=True)
    return entries, (versions[-1].number if more else None)


def diff(workflow: Workflow, old_ref, new_ref) -> tuple[dict, dict, list[dict]]:
    """(old definition, new definition, changes); a ref is a version number or "draft" (the saved workflow)."""
    old, new = (_definition_of(workflow, ref) for ref in (old_ref, new_ref))
    return old, new, diff_definitions(old, new)


def _definition_of(workflow: Workflow, ref) -> dict:
    if ref in (None, "", "draft", "current"):
        return versioned_definition(workflow)
    return get_version(workflow, ref).definition

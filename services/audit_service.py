"""The audit log: who did what, when, in which workspace."""
from sqlalchemy import insert, select

import re

from models import AuditEvent, Workflow, db

WORKFLOW_ACTOR = re.compile(r"^Workflow #(\d+)$")  # the label the engine writes for a workflow's own actions


def record_event(workspace_id: int, event: str, message: str = "", **details) -> AuditEvent:
    """Add an entry to the audit log; `details` are the keyword arguments of _columns."""
    entry = AuditEvent(**_columns(workspace_id, event, message, **details))
    db.session.add(entry)
    db.session.flush()
    return entry


_INSERT_EVENT = insert(AuditEvent.__table__).returning(AuditEvent.id)  # built once: building costs more than running it


def write_event(workspace_id: int, event: str, message: str = "", **details) -> int:
    """record_event as one INSERT … RETURNING id, without an ORM object (the engine's hot path)."""
    return db.session.execute(_INSERT_EVENT, _columns(workspace_id, event, message, **details)).scalar_one()


def _columns(workspace_id: int, event: str, message: str = "", *, actor_id: int | None = None,
             actor_label: str = "", subject_type: str | None = None, subject_id: int | None = None,
             data: dict | None = None, execution_id: int | None = None) -> dict:
    return {
        "workspace_id": workspace_id, "event": event, "message": message or "", "actor_id": actor_id,
        "actor_label": actor_label or "", "subject_type": subject_type, "subject_id": subject_id,
        "data": data or {}, "execution_id": execution_id,
    }


def recent_events(workspace_id: int, limit: int = 100, before_id: int | None = None,
                  event: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if event:
        query = query.where(AuditEvent.event == event)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    return list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))


def event_kinds(workspace_id: int) -> list[str]:
    """The distinct events recorded in the workspace, for the log's filter."""
    return list(db.session.scalars(select(AuditEvent.event).where(AuditEvent.workspace_id == workspace_id)
                                   .distinct().order_by(AuditEvent.event)))


def workflow_names(workspace_id: int, events: list[AuditEvent]) -> dict[int, str]:
    """{workflow id: name} for the workflows these entries name (as subject or as "Workflow #N" actor)."""
    ids = {e.subject_id for e in events if e.subject_type == "workflow" and e.subject_id}
    ids |= {int(m.group(1)) for e in events if (m := WORKFLOW_ACTOR.match(e.actor_label or ""))}
    if not ids:
        return {}
    return dict(db.session.execute(select(Workflow.id, Workflow.name).where(
        Workflow.workspace_id == workspace_id, Workflow.id.in_(ids))).all())


def actor_workflow_id(entry: AuditEvent) -> int | None:
    match = WORKFLOW_ACTOR.match(entry.actor_label or "")
    return int(match.group(1)) if match else None

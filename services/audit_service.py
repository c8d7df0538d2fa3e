"""The audit log: who did what, when, in which workspace."""
from sqlalchemy import select

from models import AuditEvent, db


def record_event(
    workspace_id: int,
    event: str,
    message: str = "",
    *,
    actor_id: int | None = None,
    actor_label: str = "",
    subject_type: str | None = None,
    subject_id: int | None = None,
    data: dict | None = None,
    execution_id: int | None = None,
) -> AuditEvent:
    entry = AuditEvent(
        workspace_id=workspace_id,
        event=event,
        message=message or "",
        actor_id=actor_id,
        actor_label=actor_label or "",
        subject_type=subject_type,
        subject_id=subject_id,
        data=data or {},
        execution_id=execution_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def recent_events(workspace_id: int, limit: int = 100, before_id: int | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    return list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))

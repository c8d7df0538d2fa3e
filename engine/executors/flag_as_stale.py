"""Flag as Stale: record a `stale_flagged` audit event about a deal."""
from sqlalchemy import select

from engine.executors import StepContext, register
from engine.executors._common import config_of, link, service_errors
from models import AuditEvent, db
from models.base import utcnow
from services import audit_service, deal_service


@register("flag_as_stale")
def flag_as_stale(step: StepContext) -> dict:
    config = config_of(step)
    with service_errors():
        deal = deal_service.get_deal(step.workspace_id, config["deal_id"])
    days_inactive = max(0, (utcnow() - deal.updated_at).days) if deal.updated_at else None
    entry = db.session.scalar(select(AuditEvent).where(
        AuditEvent.workspace_id == step.workspace_id, AuditEvent.event == "stale_flagged",
        AuditEvent.execution_id == step.execution_id, AuditEvent.subject_type == "deal",
        AuditEvent.subject_id == deal.id))
    if entry is None:
        reason = config.get("reason") or f"No activity for {days_inactive} days"
        entry = audit_service.record_event(
            step.workspace_id, "stale_flagged", f"Deal '{deal.title}' flagged as stale: {reason}",
            actor_label=f"Workflow #{step.workflow_id}" if step.workflow_id else "Workflow",
            subject_type="deal", subject_id=deal.id, execution_id=step.execution_id,
            data={"step": step.step_index, "reason": reason, "stale_days": config.get("stale_days"),
                  "days_inactive": days_inactive},
        )
    return {"audit_event_id": entry.id, "deal_id": deal.id, "days_inactive": days_inactive,
            "link": link("deal", deal.id)}

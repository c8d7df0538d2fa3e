"""Flag as Stale: record a `stale_flagged` audit event about a deal, or about every open deal gone quiet."""
from datetime import timedelta

from sqlalchemy import select

from engine.executors import StepContext, register
from engine.executors._common import config_of, link, service_errors
from models import AuditEvent, Deal, db
from models.base import utcnow
from models.vocabulary import STALE_AFTER_DAYS, DealStatus
from services import audit_service, deal_service

MAX_FLAGGED_PER_RUN = 500


@register("flag_as_stale")
def flag_as_stale(step: StepContext) -> dict:
    config = config_of(step)
    stale_days = int(config.get("stale_days") or STALE_AFTER_DAYS)
    if config.get("deal_id") not in (None, ""):
        with service_errors():
            deal = deal_service.get_deal(step.workspace_id, config["deal_id"])
        entry, days_inactive = _flag(step, deal, config.get("reason"), stale_days)
        return {"audit_event_id": entry.id, "deal_id": deal.id, "days_inactive": days_inactive,
                "flagged_count": 1, "link": link("deal", deal.id)}
    cutoff = utcnow() - timedelta(days=stale_days)
    stale = db.session.scalars(
        select(Deal).where(Deal.workspace_id == step.workspace_id, Deal.status == DealStatus.OPEN, Deal.updated_at < cutoff)
        .order_by(Deal.updated_at).limit(MAX_FLAGGED_PER_RUN)
    ).all()
    flagged = [_flag(step, deal, config.get("reason"), stale_days)[0] for deal in stale]
    return {"flagged_count": len(flagged), "deal_ids": [deal.id for deal in stale],
            "audit_event_ids": [entry.id for entry in flagged], "stale_days": stale_days}


def _flag(step: StepContext, deal, reason, stale_days: int):
    """One stale_flagged event per (execution, deal): a re-run of the step does not add another."""
    days_inactive = max(0, (utcnow() - deal.updated_at).days) if deal.updated_at else None
    entry = db.session.scalar(select(AuditEvent).where(
        AuditEvent.workspace_id == step.workspace_id, AuditEvent.event == "stale_flagged",
        AuditEvent.execution_id == step.execution_id, AuditEvent.subject_type == "deal",
        AuditEvent.subject_id == deal.id))
    if entry is None:
        reason = reason or f"No activity for {days_inactive} days"
        entry = audit_service.record_event(
            step.workspace_id, "stale_flagged", f"Deal '{deal.title}' flagged as stale: {reason}",
            actor_label=f"Workflow #{step.workflow_id}" if step.workflow_id else "Workflow",
            subject_type="deal", subject_id=deal.id, execution_id=step.execution_id,
            data={"step": step.step_index, "reason": reason, "stale_days": stale_days, "days_inactive": days_inactive},
        )
    return entry, days_inactive

"""Scheduled (Cron) triggers: firing the due ones (the fire times come from engine.core.cron).

`fire_due_schedules(now)` claims each due slot with a conditional UPDATE of `next_run_at` (the same
idea as the runner's claim), so two sweepers can never both fire it; slots missed while nobody swept
fire once, marked late.
"""
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from engine.core.cron import UTC, ScheduleError, count_missed, next_fire_after
from engine.core.payloads import workspace_payload
from engine.core.runs import NewRun, start_runs
from models import Deal, Workflow, db
from models.triggers import WorkflowSchedule
from models.vocabulary import STALE_AFTER_DAYS, DealStatus, RunSource, WorkflowStatus

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)  # fired this long after its slot: the run says it was late
FIRE_BATCH = 200
STALE_LIST_LIMIT = 50
SCHEDULE_ACTOR = {"id": None, "name": "Schedule", "email": None}
SCHEDULED_TRIGGER = "scheduled"  # the catalog's Scheduled (Cron) trigger


# --- Firing -------------------------------------------------------------------------------

def due_schedule_ids(now: datetime, limit: int = FIRE_BATCH) -> list[int]:
    return list(db.session.scalars(
        select(WorkflowSchedule.id)
        .join(Workflow, Workflow.id == WorkflowSchedule.workflow_id)
        .where(WorkflowSchedule.next_run_at.is_not(None), WorkflowSchedule.next_run_at <= now,
               Workflow.status == WorkflowStatus.ACTIVE, Workflow.trigger_type == SCHEDULED_TRIGGER)
        .order_by(WorkflowSchedule.next_run_at)
        .limit(limit)
    ))


def fire_due_schedules(now: datetime | None = None) -> int:
    """Fire every active scheduled workflow whose slot has come; returns how many executions were created.

    With the feature flag off nothing fires (like event dispatch); the slots stay due and fire,
    once and late, when the flag is back on.
    """
    if not current_app.config["AUTOMATIONS_ENABLED"]:
        return 0
    now = (now or datetime.now(UTC)).astimezone(UTC)
    ids = due_schedule_ids(now)
    db.session.commit()  # end the read before the claims (SQLite: no stale snapshot to upgrade)
    fired = 0
    for schedule_id in ids:
        try:
            fired += _fire_one(schedule_id, now)
        except Exception:
            db.session.rollback()
            log.exception("Scheduled workflow (schedule %s) could not fire", schedule_id)
    return fired


def _fire_one(schedule_id: int, now: datetime) -> int:
    schedule = db.session.get(WorkflowSchedule, schedule_id)
    if schedule is None or schedule.next_run_at is None or schedule.next_run_at > now:
        db.session.rollback()
        return 0
    workflow = schedule.workflow
    slot = schedule.next_run_at
    cron, tz_name = schedule.cron, schedule.timezone
    try:
        following = next_fire_after(cron, tz_name, now)
        missed = count_missed(cron, tz_name, slot, now)
    except ScheduleError as problem:
        following, missed = None, 0
        log.warning("Schedule %s stops: %s", schedule_id, problem)
    claimed = db.session.execute(
        update(WorkflowSchedule)
        .where(WorkflowSchedule.id == schedule_id, WorkflowSchedule.next_run_at == slot)
        .values(next_run_at=following, last_fired_slot=slot, last_fired_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # another sweeper took this slot
        db.session.rollback()
        return 0
    # created_at is the sweep's clock (injected in tests), so later sweeps see the run as due.
    [execution_id] = start_runs([NewRun.of(workflow, scheduled_payload(workflow, schedule, slot, now, missed),
                                           RunSource.SCHEDULE)], created_at=now)
    db.session.execute(
        update(WorkflowSchedule).where(WorkflowSchedule.id == schedule_id)
        .values(last_execution_id=execution_id).execution_options(synchronize_session=False)
    )
    db.session.commit()
    return 1


def scheduled_payload(workflow: Workflow, schedule: WorkflowSchedule, slot: datetime, now: datetime,
                      missed: int = 0) -> dict:
    """The Scheduled trigger's payload: the catalog's scheduled_for, fired_at and late, plus how
    late, how many slots were folded in, the workspace, and the open deals gone stale (for the
    Stale Deal Alert template)."""
    return {
        "scheduled_for": slot.astimezone(UTC).isoformat(),
        "fired_at": now.astimezone(UTC).isoformat(),
        "late": now - slot > LATE_AFTER,
        "late_by_seconds": max(0, int((now - slot).total_seconds())),
        "missed_slots": missed,
        "timezone": schedule.timezone,
        "stale_deals": stale_deals(workflow.workspace_id, now),
        "actor": dict(SCHEDULE_ACTOR),
        "workspace": workspace_payload(workflow.workspace_id),
    }


def stale_deals(workspace_id: int, now: datetime, days: int = STALE_AFTER_DAYS, limit: int = STALE_LIST_LIMIT) -> dict:
    """Open deals with no change for `days` days: {"days", "count", "ids", "items"} (items capped at `limit`)."""
    cutoff = now - timedelta(days=days)
    stale = (Deal.workspace_id == workspace_id, Deal.status == DealStatus.OPEN, Deal.updated_at <= cutoff)
    count = db.session.scalar(select(db.func.count()).select_from(Deal).where(*stale)) or 0
    deals = db.session.scalars(select(Deal).where(*stale).order_by(Deal.updated_at).limit(limit)).all()
    items = [{"id": deal.id, "title": deal.title, "owner_id": deal.owner_id, "stage": deal.stage,
              "days_inactive": (now - deal.updated_at).days} for deal in deals]
    return {"days": days, "count": count, "ids": [item["id"] for item in items], "items": items}

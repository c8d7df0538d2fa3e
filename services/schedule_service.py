"""Trigger bookkeeping for workflows: the cron schedule of a Scheduled workflow (its next fire
time) and, through incoming_webhook_service, the endpoint of a Webhook Received workflow.

workflow_service calls `sync_workflow_triggers(workflow)` after every create, update and status
change, so an active scheduled workflow always has its next_run_at and a webhook workflow its
token and secret from the start.
"""
from datetime import datetime, timezone

from sqlalchemy import select

from engine.core.cron import ScheduleError, next_fire_after, next_fire_times, zone
from models import Workflow, Workspace, db
from models.triggers import WorkflowSchedule
from models.vocabulary import WorkflowStatus
from services import incoming_webhook_service

PREVIEW_COUNT = 5
CRON_PRESETS = (
    ("0 9 * * *", "Every day at 09:00"),
    ("0 9 * * 1-5", "Weekdays at 09:00"),
    ("0 * * * *", "Every hour"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 8 * * 1", "Mondays at 08:00"),
    ("0 8 1 * *", "The 1st of each month at 08:00"),
)


def sync_workflow_triggers(workflow: Workflow, now: datetime | None = None) -> None:
    """Bring the schedule and the webhook endpoint in line with the workflow's trigger and status."""
    sync_schedule(workflow, now)
    incoming_webhook_service.sync_endpoint(workflow)


def schedule_of(workflow_id: int) -> WorkflowSchedule | None:
    return db.session.scalar(select(WorkflowSchedule).where(WorkflowSchedule.workflow_id == workflow_id))


def workflow_timezone(workflow: Workflow) -> str:
    """The trigger's time zone, else the workspace's, else UTC."""
    configured = ((workflow.trigger or {}).get("config") or {}).get("timezone")
    if configured:
        return configured
    workspace = db.session.get(Workspace, workflow.workspace_id)
    return (workspace.timezone if workspace is not None else None) or "UTC"


def workflow_cron(workflow: Workflow) -> str:
    return ((workflow.trigger or {}).get("config") or {}).get("cron") or ""


def sync_schedule(workflow: Workflow, now: datetime | None = None) -> WorkflowSchedule | None:
    """Keep one schedule row per Scheduled workflow; next_run_at is set only while it is active.

    The next fire time is recomputed when the workflow becomes active or its cron / time zone
    changes; otherwise a pending slot is kept (saving the workflow does not skip it).
    """
    schedule = schedule_of(workflow.id)
    if workflow.trigger_type != "scheduled":
        if schedule is not None:
            db.session.delete(schedule)
            db.session.flush()
        return None
    now = now or datetime.now(timezone.utc)
    cron, tz_name = workflow_cron(workflow), workflow_timezone(workflow)
    if schedule is None:
        schedule = WorkflowSchedule(workspace_id=workflow.workspace_id, workflow_id=workflow.id, cron=cron, timezone=tz_name)
        db.session.add(schedule)
    changed = schedule.cron != cron or schedule.timezone != tz_name
    schedule.cron, schedule.timezone = cron, tz_name
    if workflow.status != WorkflowStatus.ACTIVE:
        schedule.next_run_at = None
    elif schedule.next_run_at is None or changed:
        schedule.next_run_at = _next_or_none(cron, tz_name, now)
    db.session.flush()
    return schedule


def _next_or_none(cron: str, tz_name: str, now: datetime) -> datetime | None:
    try:
        return next_fire_after(cron, tz_name, now)
    except ScheduleError:
        return None


def preview(cron: str, tz_name: str | None, now: datetime | None = None, count: int = PREVIEW_COUNT) -> dict:
    """The next `count` fire times of a cron expression in a time zone, for the editor.

    {"times": [{"utc": datetime, "local": datetime, "iso": str}], "error": str | None, "timezone": str}
    """
    now = now or datetime.now(timezone.utc)
    tz_name = (tz_name or "").strip() or "UTC"
    cron = " ".join((cron or "").split())
    try:
        tz = zone(tz_name)
        instants = next_fire_times(cron, tz_name, now, count)
    except ScheduleError as problem:
        return {"times": [], "error": str(problem), "timezone": tz_name, "cron": cron}
    times = [{"utc": instant, "local": instant.astimezone(tz), "iso": instant.isoformat()} for instant in instants]
    error = None if times else "This schedule never fires."
    return {"times": times, "error": error, "timezone": tz_name, "cron": cron}


def _in_zone(tz_name: str):
    try:
        tz = zone(tz_name)
    except ScheduleError:
        tz = timezone.utc
    return lambda moment: moment.astimezone(tz) if moment is not None else None


def schedule_panel_context(workflow: Workflow, now: datetime | None = None) -> dict:
    """Everything triggers/_schedule_panel.html needs for this workflow (include it with these names)."""
    schedule = schedule_of(workflow.id) if workflow.id else None
    context = preview(workflow_cron(workflow), workflow_timezone(workflow), now)
    local = _in_zone(context["timezone"])
    context.update(
        workflow=workflow,
        next_run_local=local(schedule.next_run_at) if schedule else None,
        last_fired_local=local(schedule.last_fired_at) if schedule else None,
        active=workflow.status == WorkflowStatus.ACTIVE,
        next_run_at=schedule.next_run_at if schedule else None,
        last_fired_at=schedule.last_fired_at if schedule else None,
        last_fired_slot=schedule.last_fired_slot if schedule else None,
        last_execution_id=schedule.last_execution_id if schedule else None,
        presets=CRON_PRESETS,
    )
    return context

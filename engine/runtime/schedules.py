"""Scheduled (Cron) triggers: next fire times in a time zone, and firing the due ones.

Cron expressions are matched against the *local wall clock* of the schedule's IANA time zone,
then turned into UTC instants:

- a wall time that does not exist (the skipped hour when clocks go forward) fires once, at the
  first valid local time after it (the moment the clocks jumped);
- a wall time that happens twice (the repeated hour when clocks go back) fires once, at its
  first occurrence.

Slots that map to the same instant fire once. `fire_due_schedules(now)` claims each due slot
with a conditional UPDATE of `next_run_at` (the same idea as the runner's claim), so two
sweepers can never both fire it; slots missed while nobody swept fire once, marked late.
"""
import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from flask import current_app
from sqlalchemy import select, update

from engine.core.runs import hand_to_queue_after_commit, new_execution
from models import Deal, Workflow, db
from models.triggers import WorkflowSchedule
from services.common import workspace_payload

log = logging.getLogger(__name__)

UTC = timezone.utc
LATE_AFTER = timedelta(minutes=5)  # fired this long after its slot: the run says it was late
FIRE_BATCH = 200
STALE_DAYS = 14  # the Flag as Stale action's default "stale after"
STALE_LIST_LIMIT = 50
SCHEDULE_ACTOR = {"id": None, "name": "Schedule", "email": None}
_MAX_STEPS = 5000  # bound on cron iterations (a never-matching expression must not spin)


class ScheduleError(ValueError):
    """The cron expression or the time zone cannot be used."""


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo((name or "UTC").strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ScheduleError(f"Unknown time zone '{name}'.") from None


def _wall_time_exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def wall_time_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time: its first occurrence, or the end of the gap it falls in."""
    candidate = naive
    while not _wall_time_exists(candidate, tz):  # inside a gap: walk to the first valid minute
        candidate = candidate.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return candidate.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _cron(expression: str, start: datetime) -> croniter:
    if not isinstance(expression, str) or len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f"Invalid cron expression {expression!r}.")
    return croniter(expression, start)


def next_fire_after(expression: str, tz_name: str | None, after: datetime) -> datetime | None:
    """The first fire instant (UTC) strictly after `after`, or None when the expression never matches again."""
    tz = zone(tz_name)
    after = after.astimezone(UTC)
    local_start = after.astimezone(tz).replace(tzinfo=None)
    # Start an hour earlier in wall-clock time: after a fall-back, the wall clock reads less than
    # a slot that is still ahead in real time; the loop skips anything not after `after`.
    iterator = _cron(expression, local_start - timedelta(hours=1))
    for _ in range(_MAX_STEPS):
        try:
            naive = iterator.get_next(datetime)
        except (CroniterError, StopIteration):
            return None
        instant = wall_time_to_utc(naive, tz)
        if instant > after:
            return instant
    return None


def next_fire_times(expression: str, tz_name: str | None, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` distinct fire instants (UTC) after `after`."""
    times: list[datetime] = []
    cursor = after
    while len(times) < count:
        following = next_fire_after(expression, tz_name, cursor)
        if following is None:
            break
        times.append(following)
        cursor = following
    return times


def count_missed(expression: str, tz_name: str | None, slot: datetime, now: datetime, limit: int = 1000) -> int:
    """How many further slots after `slot` passed by `now` (capped at `limit`): they are folded into this one run."""
    missed = 0
    cursor = slot
    while missed < limit:
        following = next_fire_after(expression, tz_name, cursor)
        if following is None or following > now:
            break
        missed += 1
        cursor = following
    return missed


# --- Firing -------------------------------------------------------------------------------

def due_schedule_ids(now: datetime, limit: int = FIRE_BATCH) -> list[int]:
    return list(db.session.scalars(
        select(WorkflowSchedule.id)
        .join(Workflow, Workflow.id == WorkflowSchedule.workflow_id)
        .where(WorkflowSchedule.next_run_at.is_not(None), WorkflowSchedule.next_run_at <= now,
               Workflow.status == "active", Workflow.trigger_type == "scheduled")
        .order_by(WorkflowSchedule.next_run_at)
        .limit(limit)
    ))


def fire_due_schedules(now: datetime | None = None) -> int:
    """Fire every active scheduled workflow whose slot has come; returns how many executions were created.

    With the feature flag off nothing fires (like event dispatch); the slots stay due and fire,
    once and late, when the flag is back on.
    """
    if not current_app.config.get("AUTOMATIONS_ENABLED"):
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
    execution = new_execution(workflow, scheduled_payload(workflow, schedule, slot, now, missed), 0, "schedule")
    execution.created_at = now  # the sweep's clock (injected in tests), so later sweeps see it as due
    db.session.add(execution)
    db.session.flush()
    db.session.execute(
        update(WorkflowSchedule).where(WorkflowSchedule.id == schedule_id)
        .values(last_execution_id=execution.id).execution_options(synchronize_session=False)
    )
    hand_to_queue_after_commit([execution.id])
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


def stale_deals(workspace_id: int, now: datetime, days: int = STALE_DAYS, limit: int = STALE_LIST_LIMIT) -> dict:
    """Open deals with no change for `days` days: {"days", "count", "ids", "items"} (items capped at `limit`)."""
    cutoff = now - timedelta(days=days)
    stale = (Deal.workspace_id == workspace_id, Deal.status == "open", Deal.updated_at <= cutoff)
    count = db.session.scalar(select(db.func.count()).select_from(Deal).where(*stale)) or 0
    deals = db.session.scalars(select(Deal).where(*stale).order_by(Deal.updated_at).limit(limit)).all()
    items = [{"id": deal.id, "title": deal.title, "owner_id": deal.owner_id, "stage": deal.stage,
              "days_inactive": (now - deal.updated_at).days} for deal in deals]
    return {"days": days, "count": count, "ids": [item["id"] for item in items], "items": items}

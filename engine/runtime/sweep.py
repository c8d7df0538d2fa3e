"""sweep_pending_executions (**contract**): run every execution that is due and fire due schedules.

The backstop of every hand-off: pending runs nobody picked up, running runs whose lease expired,
waits and retries whose time has come. The embedded runner, RQ's periodic job, the cron route and
`flask automations sweep` all call it.

With RQ the sweep does not run them itself: it hands the due ids to the same list the hand-off fills,
so every worker works the backlog (after a Redis outage, recovery runs on all of them). Without Redis,
or when Redis does not answer, it runs them here, within the job's time budget when it has one.

It is also the backstop of mail: queued emails whose retry is due, or that nobody sent (the process that
queued them stopped first), go to a delivery job (sent here with ENGINE_HANDOFF=sweep).

And of retention: when a workspace was not pruned within RUN_PRUNE_INTERVAL_SECONDS, a prune job
(services.retention_service) deletes its history past the retention period. Only on the real clock.
"""
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select
from werkzeug.utils import import_string

from engine.core import caps
from engine.core.handoff import hand_off_of, jobs_of
from engine.runtime import budget
from engine.runtime.runner import claim_states, claimable, default_worker_id, run_claimed, shifted_clock
from engine.runtime.schedules import fire_due_schedules
from models import OutboxEmail, WorkflowExecution, Workspace, db
from models.base import utcnow
from models.vocabulary import EmailStatus, RunStatus

SWEEP_BATCH = 500
EMAIL_DELIVERY_JOB = "services.email_service.deliver_job"  # by its path: the engine does not import services
FAILURE_DIGESTS = "services.failure_alerts.send_due_digests"  # failure emails that waited for the hour to pass
STRANDED_EMAIL_AFTER = timedelta(minutes=2)  # a fresh email is its committing request's job until then
PRUNE_JOB = "services.retention_service.prune_job"  # by its path, like the mail job
PRUNE_HERE = "services.retention_service.prune_due_workspaces"  # the same in this session (no background jobs)


def due_execution_ids(now: datetime, limit: int = SWEEP_BATCH, fresh_too: bool = False) -> list[int]:
    """The due runs, oldest first, that may start now: expired leases, runs under no cap, and of the runs under
    a concurrency cap only as many as their free slots (engine.core.caps). With WORKSPACE_MAX_RUNNING on, the
    waiting runs come in rounds across workspaces (each one's oldest first), so one workspace's backlog never
    fills the batch."""
    grace = timedelta(seconds=current_app.config["SWEEP_PENDING_GRACE_SECONDS"])
    fresh_pending = and_(
        WorkflowExecution.status == RunStatus.PENDING,
        WorkflowExecution.resume_at.is_(None),
        WorkflowExecution.created_at > now - grace,
    )
    due = claimable(now) if fresh_too else and_(claimable(now), ~fresh_pending)
    workspace_max = current_app.config["WORKSPACE_MAX_RUNNING"]
    free = or_(WorkflowExecution.status == RunStatus.RUNNING, ~caps.capped(workspace_max))
    uncapped = list(db.session.scalars(
        select(WorkflowExecution.id).where(due, free).order_by(WorkflowExecution.id).limit(limit)))
    fitting = caps.fitting(caps.waiting_candidates(and_(due, caps.capped(workspace_max))), workspace_max,
                           order_fairly=workspace_max > 0)
    capped = list(db.session.scalars(fitting.limit(limit)))
    if workspace_max > 0:  # only takeovers are uncapped: they go first, then the rounds across workspaces
        return (uncapped + capped)[:limit]
    return sorted(uncapped + capped)[:limit]


_LAST_FAIR_PICK = {"at": 0.0}
FAIR_PICK_EVERY_SECONDS = 1.0


def fair_pick(limit: int) -> list[int]:
    """For a worker whose handed-over ids were all held back by full caps (a workspace's burst ahead of the
    others in the hand-off list): the oldest due runs that fit, in rounds across workspaces, straight from the
    database, so a waiting workspace does not wait for another's backlog to drain. At most once a second per
    process (it reads every due run); [] when no cap is in play."""
    if current_app.config["WORKSPACE_MAX_RUNNING"] <= 0:
        return []
    now = time.monotonic()
    if now - _LAST_FAIR_PICK["at"] < FAIR_PICK_EVERY_SECONDS:
        return []
    _LAST_FAIR_PICK["at"] = now
    ids = due_execution_ids(utcnow(), limit, fresh_too=True)
    db.session.commit()
    return ids


def held_back(execution_ids: list[int]) -> list[int]:
    """Of these ids, the due waiting runs a full cap holds back now (caps.fitting leaves them out): a claim would
    leave them pending, and a freed slot or the sweep hands them over later (engine.runtime.crew sifts the due
    list with it)."""
    workspace_max = current_app.config["WORKSPACE_MAX_RUNNING"]
    waiting = and_(WorkflowExecution.id.in_(execution_ids), WorkflowExecution.status.in_(
        (RunStatus.PENDING, RunStatus.PAUSED)), caps.capped(workspace_max))
    now = utcnow()
    due = or_(WorkflowExecution.resume_at.is_(None), WorkflowExecution.resume_at <= now)
    fit = caps.fitting(caps.waiting_candidates(and_(waiting, due)), workspace_max).subquery("fit")
    ids = list(db.session.scalars(select(WorkflowExecution.id).where(
        waiting, due, WorkflowExecution.id.not_in(select(fit.c.id)))))
    db.session.commit()
    return ids


def sweep_pending_executions(now: datetime | None = None, worker_id: str | None = None) -> dict:
    """Run every execution that is due: pending ones nobody picked up, expired leases, waits that are over.

    Runs whatever the feature flag says, so runs started before the flag went off still finish. Each run is
    claimed just before it runs (not all at once), so the later ones' leases do not age while it works.
    A time travelling caller (`now` given: tests) always runs them here.
    """
    moved = now is not None
    clock = shifted_clock(now)
    now = clock()
    owner = worker_id or default_worker_id()
    counts = {"due": 0, "claimed": 0, "handed_off": 0, "left": 0} | {
        status.value: 0 for status in RunStatus if status is not RunStatus.RUNNING}
    ids = due_execution_ids(now)
    db.session.commit()
    counts["due"] = len(ids)
    if ids and not moved and hand_off_of(current_app).hand_over_from_sweep(ids):
        counts["handed_off"] = len(ids)
        ids = []
    for position, execution_id in enumerate(ids):
        if budget.should_yield():
            counts["left"] = len(ids) - position  # still due: the sweep job queues another sweep for them
            break
        for state in claim_states([execution_id], owner, clock() if moved else None):
            status = run_claimed(state, owner, clock if moved else shifted_clock(None)).value
            counts["claimed"] += 1
            counts[status] = counts.get(status, 0) + 1
    counts["scheduled_fired"] = fire_due_schedules(now)
    counts["emails_due"] = hand_over_due_emails(now)
    counts["failure_digests"] = import_string(FAILURE_DIGESTS)(now)
    counts["prune_due"] = 0 if moved else hand_over_due_prune(now)
    return counts


def hand_over_due_emails(now: datetime) -> int:
    """Queued emails that are due (a retry's time has come, or nobody sent them since they were queued):
    handed to a delivery job, or delivered here when there are no background jobs."""
    due = db.session.scalar(select(func.count()).select_from(OutboxEmail).where(
        OutboxEmail.status == EmailStatus.QUEUED,
        or_(OutboxEmail.next_attempt_at <= now,
            and_(OutboxEmail.next_attempt_at.is_(None), OutboxEmail.created_at < now - STRANDED_EMAIL_AFTER)),
    ))
    db.session.commit()
    if due:
        jobs = jobs_of(current_app)
        if jobs is not None:
            jobs.run_job(EMAIL_DELIVERY_JOB, [None])
        else:
            import_string(EMAIL_DELIVERY_JOB)(None)
    return due


def prune_due_condition(now: datetime, interval_seconds: float):
    """Workspaces whose history the periodic prune has not looked at within the interval."""
    return or_(Workspace.retention_checked_at.is_(None),
               Workspace.retention_checked_at < now - timedelta(seconds=interval_seconds))


def hand_over_due_prune(now: datetime) -> int:
    """Workspaces due for the retention prune: handed to a prune job, or pruned here without background jobs.
    RUN_PRUNE_INTERVAL_SECONDS = 0 leaves pruning to `flask automations prune`."""
    interval = current_app.config["RUN_PRUNE_INTERVAL_SECONDS"]
    if interval <= 0:
        return 0
    due = db.session.scalar(select(func.count()).select_from(Workspace).where(prune_due_condition(now, interval)))
    db.session.commit()
    if due:
        jobs = jobs_of(current_app)
        if jobs is not None:
            jobs.run_job(PRUNE_JOB, [])
        else:
            import_string(PRUNE_HERE)()
    return due

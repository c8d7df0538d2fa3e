"""What a finished run means for its workflow (issue #22): failure alerts, auto-pause and the workflow_failed trigger.

The runner calls `on_run_finished` once per run, inside the transaction that closes the run, so a run is
counted exactly once and its alerts commit (or roll back) with its final status.

- A completed run ends the workflow's failure streak (one UPDATE that matches no row unless there is a streak).
- A failed run, in a SAVEPOINT (a problem here never undoes the run's close):
  - counts in the streak; at `auto_pause_after_failures` failed runs in a row (the workflow's setting, else the
    workspace's, 5; 0 = never) an active workflow goes to `paused` with `paused_reason`, and owners and admins
    are told (in the app and by email);
  - with `alert_on_failure` (default true): one in-app notification per owner and admin, grouped (an unread
    notification of the workflow's failures is updated: "3 new failures of X"), and at most one email per
    workflow per hour, summing the failures since the last one, with links to the runs. Failures within the
    hour wait for the next email: the next failure after the hour, or the sweep (`send_due_digests`);
  - fires `workflow_failed` (module Platform), never for a run of a workflow that itself runs on
    `workflow_failed` (the loop guard), as an event caused by the failed run (chain depth and budget apply).
The workflow's row is read by id and workspace: a run only ever acts on its own workspace's workflow.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.core.finished import FinishedRun
from engine.core.runs import caused_by_execution
from models import (Membership, Notification, Role, User, Workflow, WorkflowExecution, WorkflowFailureState, Workspace,
                    db)
from models.types import UTCDateTime
from models.vocabulary import RunStatus, WorkflowStatus
from services import audit_service, email_service, notification_service, schedule_service, workflow_settings
from services.common import fire

log = logging.getLogger(__name__)

TRIGGER = "workflow_failed"
EMAIL_INTERVAL = timedelta(hours=1)
RUNS_LISTED_IN_EMAIL = 10
ALERTED_ROLES = (Role.OWNER.value, Role.ADMIN.value)
STATES = WorkflowFailureState.__table__


def counts_for_alerts(run: FinishedRun) -> bool:
    """Whether this run counts for alerts, streaks and workflow_failed: every run of a workflow that still exists.
    (Test runs never get here: the runner does not call this hook when a test run closes.)"""
    return run.workflow_id is not None


def on_run_finished(run: FinishedRun) -> None:
    """The runner's hook, inside the run's closing transaction (before its commit)."""
    if not counts_for_alerts(run):
        return
    if run.status == RunStatus.COMPLETED:
        end_streak(run.workflow_id)
    elif run.status == RunStatus.FAILED:
        try:
            with db.session.begin_nested(), caused_by_execution(run.event_depth, [], run.id):
                _on_failure(run)
        except Exception:  # alerting must never cost the run its final status
            log.exception("Failure alerts of execution %s failed; the run's status is kept", run.id)


# Built once (building a statement costs more than running it): on the hot path of every completed run.
_END_STREAK = (update(STATES).where(STATES.c.workflow_id == bindparam("streak_of"), STATES.c.consecutive_failures > 0)
               .values(consecutive_failures=0))


def end_streak(workflow_id: int) -> None:
    """A successful run (or an activation) ends the workflow's run of failures: one UPDATE that matches no row
    (and so takes no row lock) unless there is a streak."""
    db.session.execute(_END_STREAK, {"streak_of": workflow_id})


# -- a failed run ------------------------------------------------------------------------------------

def _on_failure(run: FinishedRun) -> None:
    workflow = db.session.scalar(select(Workflow).where(Workflow.id == run.workflow_id,
                                                        Workflow.workspace_id == run.workspace_id))
    if workflow is None:
        return
    workspace = db.session.get(Workspace, run.workspace_id)
    now = run.finished_at
    state = _count_failure(run, now)
    threshold = workflow_settings.auto_pause_threshold(workflow.settings, workspace.auto_pause_after_failures)
    paused = bool(threshold) and state.consecutive_failures >= threshold and _pause(workflow, threshold, run)
    recipients = alert_recipients(run.workspace_id)
    if workflow_settings.alert_on_failure(workflow.settings):
        _notify_grouped(workflow, run, recipients, now)
        if state.last_email_at is None or now - state.last_email_at >= EMAIL_INTERVAL:
            _email_digest(workflow, recipients, state.unemailed_failures, state.unemailed_since or now, now)
    else:
        _forget_unemailed(workflow.id)
    if paused:
        _tell_paused(workflow, run, recipients)
    if run.trigger_type != TRIGGER:  # the loop guard: an alert flow's own failure fires nothing
        fire(run.workspace_id, TRIGGER, None, **failure_payload(workflow, run, state.consecutive_failures, paused))


def _count_failure(run: FinishedRun, now: datetime):
    """Add the failure to the workflow's streak and to the failures not yet emailed; the row as it is now.
    One atomic upsert: two failures finishing at once count twice, and the row stays locked until the commit,
    so what follows (grouping, the hourly email, the pause) is decided by one failure at a time."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    at = literal(now, UTCDateTime())
    statement = insert(STATES).values(
        workflow_id=run.workflow_id, workspace_id=run.workspace_id, consecutive_failures=1, unemailed_failures=1,
        unemailed_since=now, last_failure_at=now)
    statement = statement.on_conflict_do_update(index_elements=[STATES.c.workflow_id], set_={
        "consecutive_failures": STATES.c.consecutive_failures + 1,
        "unemailed_failures": STATES.c.unemailed_failures + 1,
        "unemailed_since": db.func.coalesce(STATES.c.unemailed_since, at),
        "last_failure_at": at,
    })
    return db.session.execute(statement.returning(*STATES.c)).one()


def _pause(workflow: Workflow, threshold: int, run: FinishedRun) -> bool:
    """Pause an active workflow after `threshold` failed runs in a row. True when this run paused it."""
    if workflow.status != WorkflowStatus.ACTIVE:
        return False
    reason = (f"Paused automatically after {threshold} failed run{'s' if threshold != 1 else ''} in a row "
              f"(the last one, run #{run.id}: {_short(run.error) or 'no error message'}).")
    workflow.status, workflow.paused_reason = WorkflowStatus.PAUSED.value, reason
    db.session.flush()
    audit_service.record_event(workflow.workspace_id, "workflow.auto_paused", reason, actor_label="System",
                               subject_type="workflow", subject_id=workflow.id, execution_id=run.id,
                               data={"threshold": threshold, "run_id": run.id})
    schedule_service.sync_workflow_triggers(workflow)
    return True


def alert_recipients(workspace_id: int) -> list[tuple[int, str]]:
    """(user id, email) of the workspace's owners and admins."""
    return [(row.id, row.email) for row in db.session.execute(
        select(User.id, User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, Membership.role.in_(ALERTED_ROLES)).order_by(User.id))]


def group_key(workflow_id: int) -> str:
    return f"{TRIGGER}:{workflow_id}"


def _notify_grouped(workflow: Workflow, run: FinishedRun, recipients, now: datetime) -> None:
    """One unread notification per person for the workflow's failures: updated ("3 new failures of X"), or added."""
    key = group_key(workflow.id)
    user_ids = [user_id for user_id, _ in recipients]
    unread = {n.user_id: n for n in db.session.scalars(select(Notification).where(
        Notification.workspace_id == workflow.workspace_id, Notification.user_id.in_(user_ids),
        Notification.group_key == key, Notification.read_at.is_(None)))} if user_ids else {}
    body = f"Run #{run.id}: {_short(run.error) or 'failed'}"
    for user_id in user_ids:
        notification = unread.get(user_id)
        if notification is None:
            db.session.add(Notification(
                workspace_id=workflow.workspace_id, user_id=user_id, title=f"{workflow.name} failed"[:300], body=body,
                link=f"/automations/runs/{run.id}", created_at=now, group_key=key, group_count=1))
            continue
        notification.group_count += 1
        notification.title = f"{notification.group_count} new failures of {workflow.name}"[:300]
        notification.body = f"Latest: {body}"
        notification.link = failed_runs_path(workflow.id)
        notification.created_at = now  # back to the top of the bell
    db.session.flush()


def failed_runs_path(workflow_id: int) -> str:
    return f"/automations/runs?status=failed&workflow={workflow_id}"


def _email_digest(workflow: Workflow, recipients, count: int, since: datetime, now: datetime) -> None:
    """One email per owner and admin summing the workflow's failures since `since`; resets the count."""
    runs = list(db.session.execute(
        select(WorkflowExecution.id, WorkflowExecution.finished_at, WorkflowExecution.error)
        .where(WorkflowExecution.workspace_id == workflow.workspace_id, WorkflowExecution.workflow_id == workflow.id,
               WorkflowExecution.status == RunStatus.FAILED, WorkflowExecution.finished_at >= since)
        .order_by(WorkflowExecution.finished_at.desc(), WorkflowExecution.id.desc()).limit(RUNS_LISTED_IN_EMAIL)))
    count = max(count, len(runs))
    subject = f"{count} failed run{'s' if count != 1 else ''} of {workflow.name}"
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    lines = [f"“{workflow.name}” failed {count} time{'s' if count != 1 else ''} since "
             f"{since:%Y-%m-%d %H:%M} UTC.", ""]
    for run_id, finished_at, error in runs:
        lines.append(f"- Run #{run_id} at {finished_at:%H:%M} UTC: {_short(error) or 'failed'}")
        lines.append(f"  {base}/automations/runs/{run_id}")
    if count > len(runs):
        lines.append(f"- … and {count - len(runs)} more")
    lines += ["", f"All failed runs of this workflow: {base}{failed_runs_path(workflow.id)}",
              f"The workflow: {base}/automations/{workflow.id}", "",
              "You get at most one of these emails per workflow per hour. Owners and admins can turn them off in the "
              "workflow's settings (When a run fails)."]
    for _, email in recipients:
        email_service.send_email(workflow.workspace_id, email, subject, "\n".join(lines))
    db.session.execute(update(STATES).where(STATES.c.workflow_id == workflow.id).values(
        unemailed_failures=0, unemailed_since=None, last_email_at=now))


def _forget_unemailed(workflow_id: int) -> None:
    db.session.execute(update(STATES).where(STATES.c.workflow_id == workflow_id).values(
        unemailed_failures=0, unemailed_since=None))


def _tell_paused(workflow: Workflow, run: FinishedRun, recipients) -> None:
    title = f"{workflow.name} was paused after failing repeatedly"
    notification_service.notify(workflow.workspace_id, [user_id for user_id, _ in recipients], title,
                                workflow.paused_reason or "", f"/automations/{workflow.id}")
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    body = (f"{workflow.paused_reason}\n\nIt runs on no new events until someone activates it again. "
            f"Fix it and activate it: {base}/automations/{workflow.id}\n"
            f"The failed run: {base}/automations/runs/{run.id}")
    for _, email in recipients:
        email_service.send_email(workflow.workspace_id, email, title, body)


def failure_payload(workflow: Workflow, run: FinishedRun, consecutive_failures: int, paused: bool) -> dict:
    """The workflow_failed payload (its fields are documented in the catalog)."""
    return {
        "workflow": {"id": workflow.id, "name": workflow.name, "trigger_type": run.trigger_type,
                     "status": workflow.status},
        "run": {"id": run.id, "error": run.error or "", "url": f"/automations/runs/{run.id}",
                "started_at": run.started_at.isoformat() if run.started_at else None,
                "finished_at": run.finished_at.isoformat()},
        "consecutive_failures": consecutive_failures,
        "auto_paused": paused,
    }


def _short(text: str | None, limit: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- the hourly digest of the failures that came within the hour -------------------------------------

def send_due_digests(now: datetime) -> int:
    """Email the failures that waited for the hour to pass (called by the sweep). How many workflows were emailed."""
    due = list(db.session.scalars(select(STATES.c.workflow_id).where(
        STATES.c.unemailed_failures > 0, STATES.c.last_email_at <= now - EMAIL_INTERVAL).limit(200)))
    sent = 0
    for workflow_id in due:
        query = select(WorkflowFailureState).where(
            WorkflowFailureState.workflow_id == workflow_id, WorkflowFailureState.unemailed_failures > 0,
            WorkflowFailureState.last_email_at <= now - EMAIL_INTERVAL)
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # a failure of this workflow finishing now decides
        state = db.session.scalar(query)
        workflow = db.session.scalar(select(Workflow).where(Workflow.id == workflow_id,
                                                            Workflow.workspace_id == state.workspace_id)) \
            if state is not None else None
        if workflow is not None:
            if workflow_settings.alert_on_failure(workflow.settings):
                _email_digest(workflow, alert_recipients(workflow.workspace_id), state.unemailed_failures,
                              state.unemailed_since or now, now)
                sent += 1
            else:
                _forget_unemailed(workflow_id)
        db.session.commit()
    return sent

"""Retention (issue #22): each workspace keeps finished runs, webhook deliveries, sent emails and read
notifications for `run_retention_days` (Settings → Workspace; unset: RUN_RETENTION_DAYS), then the prune
deletes them.

- In batches of RUN_PRUNE_BATCH rows, one short transaction each (no long locks: a batch locks only the rows
  it deletes), oldest first on the (workspace_id, time) indexes.
- Only what is done with, and done with before the cutoff: runs that finished (completed / failed /
  cancelled), never pending, running or waiting ones; sent emails, never queued or failed ones; read
  notifications, never unread ones; every webhook delivery. A workspace's cutoff is its own.
- The daily rollups stay: deleted runs are NOT subtracted from them (keep_rollups_on_delete), so the stats
  strip, the status counts of finished runs, the chart and Insights read the same figures after a prune.
- `flask automations prune` prunes every workspace now; the periodic sweep hands the workspaces whose last
  prune is older than RUN_PRUNE_INTERVAL_SECONDS to prune_due_workspaces (engine.runtime.sweep), which takes
  each one with a conditional UPDATE (the database decides which worker prunes which workspace) and stops
  after ENGINE_JOB_BUDGET_SECONDS, leaving the rest of an unfinished workspace for the next sweep.

Test runs (issue #20, mode='test') are pruned like any other run: nothing here filters on the mode.

A failed run's `resolved_by_id` (the replay that resolved it; no foreign key) is not cleared here. The failed run
was created and finished before its replay was created, so whenever the replay is past the cutoff the failed run
is too, and the prune (oldest first) deletes it in the same batch or an earlier one. Should a replay still go
first (a clock skewed right at the cutoff, another delete path), the pages show "resolved by #N" without a link
(run_history_service.gone_resolvers: a primary-key lookup of at most a page's ids). Clearing links here would
cost an UPDATE on resolved_by_id, which no index leads with, for every batch: at 1M runs (PostgreSQL, measured
2026-11-27) 620 ms per 1,000-row batch as a sequential scan, 322 ms through the partial "resolved" index of one
workspace holding 14k resolved runs, against 0.1 ms for a page's lookup; for nothing in the usual case.
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import delete, func, insert, or_, select, update

from engine.runtime.sweep import prune_due_condition
from models import Notification, OutboxEmail, RunRollupHold, WebhookDelivery, Workspace, WorkflowExecution, db
from models.base import utcnow
from models.vocabulary import TERMINAL_RUN_STATUSES, EmailStatus
from services import audit_service
from services.common import is_plain_int
from services.errors import ValidationFailed

MIN_DAYS = 1
MAX_DAYS = 3650
FINISHED = tuple(status.value for status in TERMINAL_RUN_STATUSES)
DUE_WORKSPACES_PER_JOB = 200


@dataclass(frozen=True)
class PrunedTable:
    """One table the prune deletes from: its rows of a workspace older than the cutoff that `done` allows."""
    key: str
    label: str
    model: type
    time_column: object
    kept: str  # what the prune leaves, in words (Settings page)
    done: Callable[[datetime], list] = field(default=lambda cutoff: [])

    def old_rows(self, workspace_id: int, cutoff: datetime) -> list:
        return [self.model.workspace_id == workspace_id, self.time_column < cutoff, *self.done(cutoff)]


TABLES = (
    PrunedTable("runs", "Runs", WorkflowExecution, WorkflowExecution.created_at,
                "pending, running and waiting runs stay",
                lambda cutoff: [WorkflowExecution.status.in_(FINISHED),
                                or_(WorkflowExecution.finished_at.is_(None), WorkflowExecution.finished_at < cutoff)]),
    PrunedTable("webhook_deliveries", "Webhook deliveries", WebhookDelivery, WebhookDelivery.received_at,
                "none"),
    PrunedTable("outbox_emails", "Outbox emails", OutboxEmail, OutboxEmail.created_at,
                "queued and failed emails stay",
                lambda cutoff: [OutboxEmail.status == EmailStatus.SENT.value,
                                or_(OutboxEmail.sent_at.is_(None), OutboxEmail.sent_at < cutoff)]),
    PrunedTable("notifications", "Notifications", Notification, Notification.created_at,
                "unread notifications stay", lambda cutoff: [Notification.read_at < cutoff]),
)


# -- the setting ---------------------------------------------------------------------------------------------
def default_days() -> int | None:
    """RUN_RETENTION_DAYS; None when it is 0 (keep everything)."""
    return current_app.config["RUN_RETENTION_DAYS"] or None


def retention_days(workspace: Workspace) -> int | None:
    """The days this workspace keeps its history: its own choice, else the default (None: forever)."""
    return workspace.run_retention_days or default_days()


def set_retention_days(workspace: Workspace, raw, by) -> None:
    """Owners and admins (the route checks). Blank: back to the default."""
    text = (raw or "").strip() if isinstance(raw, str) else raw
    if text in ("", None):
        days = None
    elif not is_plain_int(str(text)) or not MIN_DAYS <= int(text) <= MAX_DAYS:
        raise ValidationFailed({"run_retention_days": [
            f"Enter a whole number of days from {MIN_DAYS} to {MAX_DAYS:,}, or leave it empty for the default."]})
    else:
        days = int(text)
    if days == workspace.run_retention_days:
        return
    previous, workspace.run_retention_days = workspace.run_retention_days, days
    workspace.retention_checked_at = None  # the next sweep applies the new period
    audit_service.record_event(
        workspace.id, "workspace.retention_changed",
        f"Run history is kept {_in_words(days)} (was {_in_words(previous)})",
        actor_id=by.id, actor_label=by.email, data={"from": previous, "to": days})


def _in_words(days: int | None) -> str:
    return f"{days} days" if days else "for the default period"


# -- what each table holds (Settings page) -------------------------------------------------------------------
ROWS_COUNTED_UP_TO = 100_000  # the Settings page says "100,000+" beyond: counting a million rows takes seconds
DUE_COUNTED_UP_TO = 10_000


def _count_up_to(model, conditions: list, cap: int) -> tuple[int, bool]:
    """(rows matching, up to `cap`; True when there are more)."""
    counted = db.session.scalar(select(func.count()).select_from(
        select(model.id).where(*conditions).limit(cap + 1).subquery()))
    return min(counted, cap), counted > cap


def table_sizes(workspace: Workspace, now: datetime | None = None) -> list[dict]:
    """Per pruned table: rows of the workspace, the oldest row's time, and the rows past the retention period
    that the next prune deletes. Counts stop at ROWS_COUNTED_UP_TO / DUE_COUNTED_UP_TO (`more` says so)."""
    days = retention_days(workspace)
    cutoff = (now or utcnow()) - timedelta(days=days) if days else None
    sizes = []
    for table in TABLES:
        in_workspace = table.model.workspace_id == workspace.id
        rows, more_rows = _count_up_to(table.model, [in_workspace], ROWS_COUNTED_UP_TO)
        oldest = db.session.scalar(select(func.min(table.time_column)).where(in_workspace)) if rows else None
        due, more_due = (_count_up_to(table.model, table.old_rows(workspace.id, cutoff), DUE_COUNTED_UP_TO)
                         if cutoff and rows else (0, False))
        sizes.append({"key": table.key, "label": table.label, "rows": rows, "more_rows": more_rows, "oldest": oldest,
                      "due": due, "more_due": more_due, "kept": table.kept})
    return sizes


# -- deleting ------------------------------------------------------------------------------------------------
@contextmanager
def keep_rollups_on_delete():
    """Runs deleted inside this block (in the current transaction) stay counted in the daily rollups: the
    delete trigger of migration d0220000cc22 skips them. Commit after the block."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.set_config("workestra.keep_rollups", "on", True)))
        try:
            yield
        finally:
            db.session.execute(select(func.set_config("workestra.keep_rollups", "off", True)))
    else:
        hold = db.session.execute(insert(RunRollupHold).values()).inserted_primary_key[0]
        try:
            yield
        finally:
            db.session.execute(delete(RunRollupHold).where(RunRollupHold.id == hold))


def prune_batch(table: PrunedTable, workspace_id: int, cutoff: datetime, batch: int) -> int:
    """Delete up to `batch` of the workspace's oldest prunable rows of one table and commit; the number deleted."""
    oldest = (select(table.model.id).where(*table.old_rows(workspace_id, cutoff))
              .order_by(table.time_column).limit(batch))
    statement = delete(table.model).where(table.model.id.in_(oldest), *table.old_rows(workspace_id, cutoff))
    if table.model is WorkflowExecution:
        with keep_rollups_on_delete():
            deleted = db.session.execute(statement, execution_options={"synchronize_session": False}).rowcount
    else:
        deleted = db.session.execute(statement, execution_options={"synchronize_session": False}).rowcount
    db.session.commit()
    return deleted


@dataclass
class PruneResult:
    workspace_id: int
    cutoff: datetime | None
    deleted: dict = field(default_factory=lambda: {table.key: 0 for table in TABLES})
    finished: bool = True  # False: the time budget ran out with rows left


def prune_workspace(workspace: Workspace, now: datetime | None = None, batch: int | None = None,
                    deadline: float | None = None) -> PruneResult:
    """Delete the workspace's history past its retention period, batch by batch (each committed); stop before
    a new batch once time.monotonic() passes `deadline`."""
    days = retention_days(workspace)
    workspace_id = workspace.id
    cutoff = (now or utcnow()) - timedelta(days=days) if days else None
    result = PruneResult(workspace_id, cutoff)
    db.session.commit()  # each batch is its own short transaction
    if cutoff is None:
        return result
    batch = max(1, batch or current_app.config["RUN_PRUNE_BATCH"])
    for table in TABLES:
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                result.finished = False
                return result
            deleted = prune_batch(table, workspace_id, cutoff, batch)
            result.deleted[table.key] += deleted
            if deleted < batch:
                break
    return result


def prune_all(now: datetime | None = None, batch: int | None = None) -> list[PruneResult]:
    """Every workspace, completely (`flask automations prune`)."""
    results = []
    for workspace_id in db.session.scalars(select(Workspace.id).order_by(Workspace.id)).all():
        workspace = db.session.get(Workspace, workspace_id)
        results.append(prune_workspace(workspace, now, batch))
        db.session.execute(update(Workspace).where(Workspace.id == workspace_id)
                           .values(retention_checked_at=now or utcnow()))
        db.session.commit()
    return results


def _take(workspace_id: int, now: datetime, interval: float) -> bool:
    """Claim the workspace for this prune: only one of several workers gets it per interval."""
    taken = db.session.execute(
        update(Workspace).where(Workspace.id == workspace_id, prune_due_condition(now, interval))
        .values(retention_checked_at=now), execution_options={"synchronize_session": False}).rowcount
    db.session.commit()
    return bool(taken)


def prune_due_workspaces(now: datetime | None = None) -> dict:
    """The periodic prune (a background job the sweep starts): the workspaces not pruned within
    RUN_PRUNE_INTERVAL_SECONDS, within ENGINE_JOB_BUDGET_SECONDS. A workspace left unfinished is due again
    at the next sweep."""
    now = now or utcnow()
    interval = current_app.config["RUN_PRUNE_INTERVAL_SECONDS"]
    deadline = time.monotonic() + current_app.config["ENGINE_JOB_BUDGET_SECONDS"]
    totals = {"workspaces": 0, **{table.key: 0 for table in TABLES}}
    due = db.session.scalars(select(Workspace.id).where(prune_due_condition(now, interval))
                             .order_by(Workspace.retention_checked_at.nulls_first(), Workspace.id)
                             .limit(DUE_WORKSPACES_PER_JOB)).all()
    for workspace_id in due:
        if time.monotonic() >= deadline or not _take(workspace_id, now, interval):
            continue
        result = prune_workspace(db.session.get(Workspace, workspace_id), now, deadline=deadline)
        totals["workspaces"] += 1
        for key, count in result.deleted.items():
            totals[key] += count
        if not result.finished:
            db.session.execute(update(Workspace).where(Workspace.id == workspace_id)
                               .values(retention_checked_at=None))
            db.session.commit()
    return totals


def prune_job() -> dict:
    """The background job the sweep starts (by this dotted path): prune_due_workspaces, leaving the session clean."""
    try:
        return prune_due_workspaces()
    finally:
        db.session.remove()

"""Insights (issue #22, /automations/insights): per workflow, over a period of UTC days (today included): runs,
success rate, failures, average duration, time saved; per workflow also p50 / p95 duration, failures by step
and the daily trend.

Where the figures come from, so the page stays fast at a million runs:
- runs, completed, failed, success rate, average duration and the trend: the daily rollups (finished runs)
  plus the few unfinished runs counted live, as the Runs page's stats (run_history_service). They survive
  the retention prune.
- p50 / p95: the durations of the workflow's latest DURATION_SAMPLE finished runs of the period (one
  backward walk of the (workspace_id, workflow_id, id) index); failures by step: the step records of its
  latest FAILED_SAMPLE failed runs. Both read runs themselves, so they only cover runs the retention
  period has kept; the page says so when it is shorter than the period.
- time saved: minutes_saved_per_run (a workflow setting, set on the workflow's Insights page) × its
  completed runs.

Test runs (issue #20, mode='test') are left out of Insights: `counted_runs()` is the one place the raw-run
queries take their conditions from; the rollups must leave them out too (see that issue's stats change).
"""
import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, union_all

from engine.core.catalog import ACTIONS
from engine.core.steps import StepAddress, record_path
from models import Workflow, WorkflowExecution, WorkflowRunDaily, Workspace, db
from models.vocabulary import RunMode, RunStatus
from services import audit_service, retention_service, run_history_service
from services.common import is_plain_int
from services.errors import ValidationFailed
from services.run_history_service import FINISHED_STATUSES, UNFINISHED_STATUSES, RunFilter, day_start, period_start

PERIOD_CHOICES = (7, 30, 90)
DEFAULT_PERIOD_DAYS = 30
PAGE_SIZE = 25
DURATION_SAMPLE = 2000
FAILED_SAMPLE = 500
MAX_MINUTES_SAVED = 10_080  # a week
MAX_SEARCH_LENGTH = 200


def counted_runs() -> list:
    """The conditions on workflow_executions of every run Insights counts: live runs (test runs are left out)."""
    return [WorkflowExecution.mode == RunMode.LIVE]


def parse_period(raw) -> int:
    return int(raw) if is_plain_int(raw or "") and int(raw) in PERIOD_CHOICES else DEFAULT_PERIOD_DAYS


# -- the figures of a list of workflows ------------------------------------------------------------------------
@dataclass
class Figures:
    runs: int = 0
    completed: int = 0
    failed: int = 0
    duration_sum: int = 0
    timed: int = 0

    @property
    def success_rate(self) -> float | None:
        finished = self.completed + self.failed
        return round(100.0 * self.completed / finished, 1) if finished else None

    @property
    def avg_duration_ms(self) -> int | None:
        return round(self.duration_sum / self.timed) if self.timed else None


@dataclass
class WorkflowInsight:
    id: int
    name: str
    status: str
    minutes_saved_per_run: int | None
    figures: Figures

    @property
    def minutes_saved(self) -> int | None:
        """Minutes saved in the period: minutes per run × completed runs (None when not set)."""
        if self.minutes_saved_per_run is None:
            return None
        return self.minutes_saved_per_run * self.figures.completed


def figures_of(workspace_id: int, workflow_ids: list[int], first_day: date) -> dict[int, Figures]:
    """{workflow id: Figures} since `first_day`: one statement over the rollup (primary key range per
    workflow) and the unfinished runs."""
    figures = {workflow_id: Figures() for workflow_id in workflow_ids}
    if not workflow_ids:
        return figures
    rollup = WorkflowRunDaily
    finished = (
        select(rollup.workflow_id, rollup.status, func.sum(rollup.runs), func.sum(rollup.total_duration_ms),
               func.sum(rollup.timed_runs))
        .where(rollup.workspace_id == workspace_id, rollup.workflow_id.in_(workflow_ids), rollup.day >= first_day)
        .group_by(rollup.workflow_id, rollup.status)
    )
    run = WorkflowExecution
    unfinished = (
        select(run.workflow_id, run.status, func.count(), func.coalesce(func.sum(run.duration_ms), 0),
               func.count(run.duration_ms))
        .where(run.workspace_id == workspace_id, run.workflow_id.in_(workflow_ids), run.status.in_(UNFINISHED_STATUSES),
               run.created_at >= day_start(first_day), *counted_runs())
        .group_by(run.workflow_id, run.status)
    )
    for workflow_id, status, runs, duration_sum, timed in db.session.execute(union_all(finished, unfinished)):
        into = figures[workflow_id]
        into.runs += int(runs or 0)
        into.duration_sum += int(duration_sum or 0)
        into.timed += int(timed or 0)
        if status == RunStatus.COMPLETED:
            into.completed += int(runs or 0)
        elif status == RunStatus.FAILED:
            into.failed += int(runs or 0)
    return figures


# -- the overview page -------------------------------------------------------------------------------------------
@dataclass
class Overview:
    period_days: int
    summary: dict  # run_history_service.stats of the workspace
    minutes_saved: int | None
    chart: dict
    workflows: list[WorkflowInsight]
    page: int
    pages: int
    total: int
    search: str


def overview(workspace_id: int, period_days: int = DEFAULT_PERIOD_DAYS, search: str = "", page: int = 1) -> Overview:
    """The workspace's figures, its trend, and one page of its workflows by name (those whose name contains
    `search`), each with its figures."""
    first_day = period_start(period_days)
    search = (search or "").strip()[:MAX_SEARCH_LENGTH]
    query = select(Workflow.id, Workflow.name, Workflow.status, Workflow.minutes_saved_per_run).where(
        Workflow.workspace_id == workspace_id)
    if search:
        query = query.where(func.lower(Workflow.name).contains(search.lower(), autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.session.execute(query.order_by(func.lower(Workflow.name), Workflow.id)
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    figures = figures_of(workspace_id, [row.id for row in rows], first_day)
    workflows = [WorkflowInsight(row.id, row.name, row.status, row.minutes_saved_per_run, figures[row.id]) for row in rows]
    return Overview(period_days, run_history_service.stats(workspace_id, period_days), minutes_saved(workspace_id, first_day),
                    run_history_service.daily_chart(workspace_id, days=period_days), workflows, page, pages, total, search)


def minutes_saved(workspace_id: int, first_day: date) -> int | None:
    """Minutes saved by every workflow that has minutes_saved_per_run (None when none has)."""
    rates = dict(db.session.execute(select(Workflow.id, Workflow.minutes_saved_per_run).where(
        Workflow.workspace_id == workspace_id, Workflow.minutes_saved_per_run.is_not(None))).tuples().all())
    if not rates:
        return None
    completed = db.session.execute(
        select(WorkflowRunDaily.workflow_id, func.sum(WorkflowRunDaily.runs))
        .where(WorkflowRunDaily.workspace_id == workspace_id, WorkflowRunDaily.workflow_id.in_(list(rates)),
               WorkflowRunDaily.day >= first_day, WorkflowRunDaily.status == RunStatus.COMPLETED.value)
        .group_by(WorkflowRunDaily.workflow_id)).tuples().all()
    return sum(rates[workflow_id] * int(runs) for workflow_id, runs in completed)


# -- one workflow -----------------------------------------------------------------------------------------------
@dataclass
class Durations:
    p50_ms: int | None
    p95_ms: int | None
    sample: int
    capped: bool  # the period had more finished runs than DURATION_SAMPLE: the latest ones were used


def percentile(sorted_values: list[int], percent: float) -> int | None:
    """Nearest rank: the smallest value with at least `percent` % of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def _id_floor(workspace_id: int, workflow_id: int, first_day: date) -> list:
    return run_history_service.id_range(workspace_id, RunFilter(workflow_id=workflow_id, date_from=first_day))


def durations(workspace_id: int, workflow_id: int, first_day: date) -> Durations:
    run = WorkflowExecution
    values = list(db.session.scalars(
        select(run.duration_ms)
        .where(run.workspace_id == workspace_id, run.workflow_id == workflow_id, *_id_floor(workspace_id, workflow_id, first_day),
               run.created_at >= day_start(first_day), run.status.in_(FINISHED_STATUSES), run.duration_ms.is_not(None),
               *counted_runs())
        .order_by(run.id.desc()).limit(DURATION_SAMPLE + 1)))
    capped = len(values) > DURATION_SAMPLE
    values = sorted(values[:DURATION_SAMPLE])
    return Durations(percentile(values, 50), percentile(values, 95), len(values), capped)


@dataclass
class StepFailures:
    label: str  # "Step 2 · Send email"
    failures: int
    last_error: str | None
    last_run_id: int


def _step_label(record: dict) -> str:
    path = record_path(record)
    parts = tuple(int(part) if part.isdigit() else part for part in str(path).split("."))
    number = StepAddress(parts).label if parts and isinstance(parts[0], int) else str(path)
    entry = ACTIONS.get(record.get("type"))
    return f"Step {number} · {entry.label if entry else record.get('type') or 'Unknown action'}"


def failures_by_step(workspace_id: int, workflow_id: int, first_day: date) -> tuple[list[StepFailures], int]:
    """(the steps that failed in the workflow's latest FAILED_SAMPLE failed runs of the period, most failures
    first; the number of failed runs read). A run failed before any step (a bad snapshot) counts under
    "Before the first step"."""
    run = WorkflowExecution
    rows = db.session.execute(
        select(run.id, run.completed_actions, run.error)
        .where(run.workspace_id == workspace_id, run.workflow_id == workflow_id, *_id_floor(workspace_id, workflow_id, first_day),
               run.created_at >= day_start(first_day), run.status == RunStatus.FAILED.value, *counted_runs())
        .order_by(run.id.desc()).limit(FAILED_SAMPLE)).all()
    steps: dict[str, StepFailures] = {}
    for run_id, records, error in rows:
        failed = [record for record in records or [] if isinstance(record, dict) and record.get("status") == "failed"]
        for record in failed or [None]:
            label = _step_label(record) if record else "Before the first step"
            entry = steps.get(label)
            if entry is None:  # rows come newest first: the first error seen is the latest
                entry = steps[label] = StepFailures(label, 0, (record or {}).get("error") or error, run_id)
            entry.failures += 1
    return sorted(steps.values(), key=lambda entry: (-entry.failures, entry.label)), len(rows)


@dataclass
class WorkflowDetail:
    workflow: Workflow
    period_days: int
    stats: dict
    chart: dict
    durations: Durations
    failures: list[StepFailures]
    failed_runs_read: int
    minutes_saved: int | None
    retention_days: int | None  # shorter than the period: p50/p95 and the failing steps cover only the kept runs


def workflow_detail(workspace: Workspace, workflow: Workflow, period_days: int = DEFAULT_PERIOD_DAYS) -> WorkflowDetail:
    first_day = period_start(period_days)
    stats = run_history_service.stats(workspace.id, period_days, workflow_id=workflow.id)
    failures, read = failures_by_step(workspace.id, workflow.id, first_day)
    saved = workflow.minutes_saved_per_run * stats["completed"] if workflow.minutes_saved_per_run is not None else None
    kept = retention_service.retention_days(workspace)
    return WorkflowDetail(workflow, period_days, stats,
                          run_history_service.daily_chart(workspace.id, days=period_days, workflow_id=workflow.id),
                          durations(workspace.id, workflow.id, first_day), failures, read, saved,
                          kept if kept and kept < period_days else None)


def set_minutes_saved(workflow: Workflow, raw, by) -> None:
    """The minutes one completed run saves someone (blank: not set)."""
    text = (raw or "").strip() if isinstance(raw, str) else raw
    if text in ("", None):
        minutes = None
    elif not is_plain_int(str(text)) or not 0 <= int(text) <= MAX_MINUTES_SAVED:
        raise ValidationFailed({"minutes_saved_per_run": [
            f"Enter whole minutes from 0 to {MAX_MINUTES_SAVED:,}, or leave it empty."]})
    else:
        minutes = int(text)
    if minutes == workflow.minutes_saved_per_run:
        return
    previous, workflow.minutes_saved_per_run = workflow.minutes_saved_per_run, minutes
    audit_service.record_event(
        workflow.workspace_id, "workflow.minutes_saved_changed",
        f"Minutes saved per run of {workflow.name}: {minutes if minutes is not None else 'not set'}",
        actor_id=by.id, actor_label=by.email, subject_type="workflow", subject_id=workflow.id,
        data={"from": previous, "to": minutes})

"""Run history: the filtered, keyset-paginated list of executions, counts per status, the stats strip
and the daily chart.

Every query takes the workspace id first and filters on it. Lists page on the execution id (newest
first) with `before`/`after` cursors, never OFFSET, so page 1,000 costs what page 1 costs on the
(workspace_id, status, id) and (workspace_id, workflow_id, id) indexes. Counts, stats and the chart
read the workflow_run_stats view (per workspace, workflow and UTC day); the status tabs count the base
table with the list's conditions. Date filters work on UTC days.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, Integer, column, func, select, table

from engine.catalog import ACTIONS
from models import ExecutionStatus, Workflow, WorkflowExecution, db
from models.base import utcnow
from services.common import is_plain_int
from services.errors import ValidationFailed

STATUSES = tuple(status.value for status in ExecutionStatus)
ACTIVE_STATUSES = ("pending", "running")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PERIOD_CHOICES = (1, 7, 30, 90)
DEFAULT_PERIOD_DAYS = 7
CHART_DAYS = 30

# The view of migration c7a1c0de0001, described for queries (it is not an ORM model).
run_stats = table(
    "workflow_run_stats",
    column("workspace_id", Integer),
    column("workflow_id", Integer),
    column("day", Date),
    column("total", Integer),
    *(column(status, Integer) for status in STATUSES),
    column("total_duration_ms", Integer),
    column("timed_runs", Integer),
)


@dataclass(frozen=True)
class RunFilter:
    """What the Runs tab shows: a status tab, a workflow, an inclusive range of UTC days."""
    status: str | None = None
    workflow_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def query_args(self) -> dict:
        """The filter as URL query arguments (for links that keep it)."""
        args = {"status": self.status, "workflow": self.workflow_id,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None}
        return {key: value for key, value in args.items() if value is not None}

    def without_status(self) -> "RunFilter":
        return RunFilter(None, self.workflow_id, self.date_from, self.date_to)


@dataclass
class RunPage:
    runs: list
    newer_cursor: int | None = None  # pass as `after` for the newer page
    older_cursor: int | None = None  # pass as `before` for the older page
    has_active: bool = False
    extra: dict = field(default_factory=dict)


def parse_filter(workspace_id: int, args) -> RunFilter:
    """The filter from query arguments; ValidationFailed names each bad field (status, workflow, from, to)."""
    errors: dict[str, list[str]] = {}
    status = (args.get("status") or "").strip().lower() or None
    if status is not None and status not in STATUSES:
        errors["status"] = [f"Unknown status {status!r}."]
        status = None
    workflow_id = _parse_workflow(workspace_id, args.get("workflow"), errors)
    date_from = _parse_day(args.get("from"), "from", errors)
    date_to = _parse_day(args.get("to"), "to", errors)
    if date_from and date_to and date_from > date_to:
        errors["to"] = ["The end date must not be before the start date."]
    if errors:
        raise ValidationFailed(errors)
    return RunFilter(status, workflow_id, date_from, date_to)


def _parse_workflow(workspace_id: int, raw, errors: dict) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not is_plain_int(raw) or db.session.scalar(
        select(Workflow.id).where(Workflow.id == int(raw), Workflow.workspace_id == workspace_id)
    ) is None:
        errors["workflow"] = ["Choose a workflow of this workspace."]
        return None
    return int(raw)


def _parse_day(raw, name: str, errors: dict) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = ["Enter a date as YYYY-MM-DD."]
        return None


def parse_cursor(raw) -> int | None:
    """A page cursor (an execution id); ValidationFailed when it is not a positive whole number."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not is_plain_int(raw) or int(raw) <= 0 or int(raw) > 2**63 - 1:
        raise ValidationFailed({"cursor": ["This page link is broken; go back to the first page."]})
    return int(raw)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def list_conditions(workspace_id: int, run_filter: RunFilter) -> list:
    """The WHERE conditions of the list for this filter."""
    conditions = [WorkflowExecution.workspace_id == workspace_id]
    if run_filter.status:
        conditions.append(WorkflowExecution.status == run_filter.status)
    if run_filter.workflow_id:
        conditions.append(WorkflowExecution.workflow_id == run_filter.workflow_id)
    if run_filter.date_from:
        conditions.append(WorkflowExecution.created_at >= day_start(run_filter.date_from))
    if run_filter.date_to:
        conditions.append(WorkflowExecution.created_at < day_start(run_filter.date_to + timedelta(days=1)))
    return conditions


def list_runs(workspace_id: int, run_filter: RunFilter = RunFilter(), *, before: int | None = None,
              after: int | None = None, page_size: int = PAGE_SIZE) -> RunPage:
    """One page of runs, newest first. `before`: the page older than that id; `after`: the page newer than it."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    conditions = list_conditions(workspace_id, run_filter)
    query = select(WorkflowExecution).where(*conditions)
    if after is not None:
        rows = list(db.session.scalars(
            query.where(WorkflowExecution.id > after).order_by(WorkflowExecution.id.asc()).limit(page_size + 1)
        ))
        if len(rows) <= page_size:
            # Back at the newest runs: show a full first page rather than a short one.
            return list_runs(workspace_id, run_filter, page_size=page_size)
        runs = list(reversed(rows[:page_size]))
        page = RunPage(runs, newer_cursor=runs[0].id, older_cursor=runs[-1].id)
    else:
        if before is not None:
            query = query.where(WorkflowExecution.id < before)
        rows = list(db.session.scalars(query.order_by(WorkflowExecution.id.desc()).limit(page_size + 1)))
        runs = rows[:page_size]
        page = RunPage(runs)
        if runs and len(rows) > page_size:
            page.older_cursor = runs[-1].id
        if runs and before is not None and _exists(conditions, WorkflowExecution.id > runs[0].id):
            page.newer_cursor = runs[0].id
    page.has_active = any(run.status in ACTIVE_STATUSES for run in page.runs)
    return page


def _exists(conditions: list, extra) -> bool:
    return db.session.scalar(select(WorkflowExecution.id).where(*conditions, extra).limit(1)) is not None


# -- aggregates from the workflow_run_stats view --------------------------------------------------------
def _stats_conditions(workspace_id: int, workflow_id: int | None, date_from: date | None, date_to: date | None):
    conditions = [run_stats.c.workspace_id == workspace_id]
    if workflow_id:
        conditions.append(run_stats.c.workflow_id == workflow_id)
    if date_from:
        conditions.append(run_stats.c.day >= date_from)
    if date_to:
        conditions.append(run_stats.c.day <= date_to)
    return conditions


def status_counts(workspace_id: int, run_filter: RunFilter = RunFilter()) -> dict[str, int]:
    """Runs per status (and "all") for the filter's workflow and dates: the numbers on the status tabs.
    Counted on the base table with the list's own conditions (an index-only scan of
    (workspace_id, status, id) without dates), so the tabs always agree with the list."""
    conditions = list_conditions(workspace_id, run_filter.without_status())
    rows = db.session.execute(
        select(WorkflowExecution.status, func.count()).where(*conditions).group_by(WorkflowExecution.status)
    ).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(count) for status, count in rows})
    counts["all"] = sum(counts.values())
    return counts


def period_start(period_days: int, today: date | None = None) -> date:
    """The first UTC day of a period of `period_days` days that ends today."""
    today = today or utcnow().date()
    return today - timedelta(days=max(1, int(period_days)) - 1)


def stats(workspace_id: int, period_days: int = DEFAULT_PERIOD_DAYS, workflow_id: int | None = None,
          today: date | None = None) -> dict:
    """The stats strip over the last `period_days` UTC days (today included).

    total: every run; completed / failed: runs in that status; success_rate: completed out of
    completed + failed, in percent (None when neither); avg_duration_ms: the mean duration of the runs
    that have one (None when none).
    """
    row = db.session.execute(
        select(
            func.coalesce(func.sum(run_stats.c.total), 0),
            func.coalesce(func.sum(run_stats.c.completed), 0),
            func.coalesce(func.sum(run_stats.c.failed), 0),
            func.coalesce(func.sum(run_stats.c.total_duration_ms), 0),
            func.coalesce(func.sum(run_stats.c.timed_runs), 0),
        ).where(*_stats_conditions(workspace_id, workflow_id, period_start(period_days, today), None))
    ).one()
    total, completed, failed, duration_sum, timed = (int(value) for value in row)
    finished = completed + failed
    return {
        "total": total,
        "completed": completed,
        "failed": failed,
        "success_rate": round(100.0 * completed / finished, 1) if finished else None,
        "avg_duration_ms": round(duration_sum / timed) if timed else None,
        "period_days": int(period_days),
    }


def daily_chart(workspace_id: int, days: int = CHART_DAYS, workflow_id: int | None = None,
                today: date | None = None) -> dict:
    """Runs per UTC day and status for the last `days` days, oldest first, every day present."""
    first = period_start(days, today)
    sums = [func.coalesce(func.sum(run_stats.c[status]), 0).label(status) for status in STATUSES]
    rows = db.session.execute(
        select(run_stats.c.day, *sums)
        .where(*_stats_conditions(workspace_id, workflow_id, first, None))
        .group_by(run_stats.c.day)
    ).all()
    by_day = {_as_date(row.day): {status: int(getattr(row, status)) for status in STATUSES} for row in rows}
    series = []
    for offset in range(max(1, int(days))):
        day = first + timedelta(days=offset)
        counts = by_day.get(day, dict.fromkeys(STATUSES, 0))
        series.append({"day": day, "counts": counts, "total": sum(counts.values())})
    return {"days": series, "statuses": STATUSES, "max_total": max((d["total"] for d in series), default=0),
            "total": sum(d["total"] for d in series)}


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def workflow_choices(workspace_id: int) -> list[tuple[int, str]]:
    """(id, name) of the workspace's workflows, for the filter."""
    return list(db.session.execute(
        select(Workflow.id, Workflow.name).where(Workflow.workspace_id == workspace_id).order_by(Workflow.name)
    ).tuples())


def replays_of(workspace_id: int, execution_id: int) -> list[WorkflowExecution]:
    """The runs that replayed this one, newest first."""
    return list(db.session.scalars(
        select(WorkflowExecution)
        .where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.id > execution_id,
               WorkflowExecution.replay_of_id == execution_id)
        .order_by(WorkflowExecution.id.desc())
        .limit(20)
    ))


# -- the run detail's timeline ---------------------------------------------------------------------------
def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def timeline(execution: WorkflowExecution) -> list[dict]:
    """One entry per action of the run's snapshot: its record when it ran, or why it has not (yet)."""
    records = {record.get("index"): record for record in execution.completed_actions or []}
    steps = []
    for index, action in enumerate(execution.definition.get("actions") or []):
        record = records.get(index) or {}
        catalog_entry = ACTIONS.get(action.get("type"))
        step = {
            "index": index, "number": index + 1, "type": action.get("type"),
            "label": catalog_entry.label if catalog_entry else action.get("type") or "Unknown action",
            "icon": (catalog_entry.icon if catalog_entry else "") or "gear",
            "delay_seconds": int(action.get("delay_seconds") or 0),
            "status": record.get("status") or _unrun_status(execution, index),
            "attempts": record.get("attempts"), "started_at": _parse_time(record.get("started_at")),
            "finished_at": _parse_time(record.get("finished_at")), "duration_ms": record.get("duration_ms"),
            "input": record.get("input"), "output": record.get("output"), "error": record.get("error"),
            "skipped_reason": record.get("skipped_reason"), "missing_fields": record.get("missing_fields") or [],
            "replayed_from": record.get("replayed_from"), "note": None,
        }
        if not record:
            step["note"] = _unrun_note(execution, index)
        steps.append(step)
    return steps


def _unrun_status(execution: WorkflowExecution, index: int) -> str:
    if index != execution.current_step or execution.status in ("completed", "failed", "cancelled"):
        return "not_run"
    if execution.status == "pending" and execution.step_attempts:
        return "retrying"
    return {"running": "running", "paused": "waiting"}.get(execution.status, "pending")


def _unrun_note(execution: WorkflowExecution, index: int) -> str | None:
    if execution.status == "cancelled" and index >= execution.current_step:
        return "Not run: the run was cancelled before this step."
    if index != execution.current_step:
        return None
    if execution.status == "paused":
        return "waiting"  # the template shows when it resumes
    if execution.status == "pending" and execution.step_attempts:
        return "retrying"
    return None

"""Run history: the filtered, keyset-paginated list of executions, counts per status, the stats strip
and the daily chart.

`list_runs` is the one run listing: the Runs tab and GET /api/v1/executions both page through it, and
both read and write its cursors with `parse_cursor` / `encode_cursor`.

Every query takes the workspace id first and filters on it. Lists page on the execution id (newest
first) with `before`/`after` cursors, never OFFSET, so page 1,000 costs what page 1 costs on the
(workspace_id, status, id) and (workspace_id, workflow_id, id) indexes. The status tabs, the stats
strip and the chart never scan the history: finished runs come from the daily rollups that database
triggers keep (models/run_rollups.py), unfinished runs (few at any time) are counted live with the
list's own conditions. Date filters work on UTC days.
"""
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, func, select, text, union_all
from sqlalchemy.orm import aliased
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from engine.core.catalog import ACTIONS
from engine.core.steps import BRANCH, BRANCH_NOT_TAKEN, StepPlan, record_path
from engine.core.wording import conditions_words
from models import Workflow, WorkflowExecution, WorkflowRunDaily, WorkspaceRunDaily, db
from models.base import utcnow
from models.vocabulary import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES, RunMode, RunStatus
from services import run_search
from services.common import is_plain_int
from services.errors import ValidationFailed

STATUSES = tuple(status.value for status in RunStatus)
FINISHED_STATUSES = tuple(status.value for status in RunStatus if status in TERMINAL_RUN_STATUSES)
UNFINISHED_STATUSES = tuple(status for status in STATUSES if status not in FINISHED_STATUSES)
ACTIVE_STATUSES = tuple(status.value for status in ACTIVE_RUN_STATUSES)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PERIOD_CHOICES = (1, 7, 30, 90)
DEFAULT_PERIOD_DAYS = 7
CHART_DAYS = 30
MAX_SEARCH_LENGTH = 200


# The Runs tab's filter "Completed with errors": completed runs with a step that failed under "continue on
# error" (the runner writes the first failed step's error on such a run; a clean completed run has none).
COMPLETED_WITH_ERRORS = "completed_with_errors"
FILTER_STATUSES = STATUSES + (COMPLETED_WITH_ERRORS,)
MIN_SEARCH_LENGTH = 3


@dataclass(frozen=True)
class RunFilter:
    """Which runs a list shows: a status (or COMPLETED_WITH_ERRORS), a workflow, an inclusive range of UTC days
    (the Runs tab), runs created at or after a moment (`since`, the API's filter), a search in run data
    (`search`, services.run_search), and whether the Failed list leaves out runs a replay resolved."""
    status: str | None = None
    workflow_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    since: datetime | None = None
    search: str | None = None
    hide_resolved: bool = False
    mode: str = RunMode.LIVE.value  # test runs (issue #20) only under the Tests filter (mode=test)

    def query_args(self) -> dict:
        """The filter as URL query arguments (for links that keep it)."""
        args = {"status": self.status, "workflow": self.workflow_id,
                "mode": self.mode if self.mode == RunMode.TEST else None,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "q": self.search or None, "resolved": None if self.hide_resolved else "show"}
        return {key: value for key, value in args.items() if value is not None}

    def without_status(self) -> "RunFilter":
        return replace(self, status=None)

    @property
    def narrowed(self) -> bool:
        """A workflow, dates or a search narrow the list (beyond its status tab)."""
        return bool(self.workflow_id or self.date_from or self.date_to or self.search)


@dataclass
class RunPage:
    runs: list
    newer_cursor: str | None = None  # pass as `after` for the newer page (encode_cursor)
    older_cursor: str | None = None  # pass as `before` for the older page (the API's next_cursor)
    has_active: bool = False
    extra: dict = field(default_factory=dict)


def parse_filter(workspace_id: int, args) -> RunFilter:
    """The filter from query arguments; ValidationFailed names each bad field (status, workflow, from, to)."""
    errors: dict[str, list[str]] = {}
    status = (args.get("status") or "").strip().lower() or None
    if status is not None and status not in FILTER_STATUSES:
        errors["status"] = [f"Unknown status {status!r}."]
        status = None
    workflow_id = _parse_workflow(workspace_id, args.get("workflow"), errors)
    date_from = _parse_day(args.get("from"), "from", errors)
    date_to = _parse_day(args.get("to"), "to", errors)
    if date_from and date_to and date_from > date_to:
        errors["to"] = ["The end date must not be before the start date."]
    search = _parse_search(args.get("q"), errors)
    if errors:
        raise ValidationFailed(errors)
    mode = RunMode.TEST.value if (args.get("mode") or "").strip().lower() == RunMode.TEST else RunMode.LIVE.value
    return RunFilter(status, workflow_id, date_from, date_to, search=search,
                     hide_resolved=(args.get("resolved") or "") != "show", mode=mode)


def _parse_search(raw, errors: dict) -> str | None:
    search = " ".join((raw or "").split())
    if not search:
        return None
    if len(search) < MIN_SEARCH_LENGTH:
        errors["q"] = [f"Type at least {MIN_SEARCH_LENGTH} characters to search run data."]
        return None
    if len(search) > MAX_SEARCH_LENGTH:
        errors["q"] = [f"Search for at most {MAX_SEARCH_LENGTH} characters."]
        return None
    return search


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


# -- the cursor: one encoding for the Runs tab's Newer/Older links and the API's next_cursor ------------
def encode_cursor(execution_id: int) -> str:
    """The cursor of a page boundary: the execution id, in decimal."""
    return str(execution_id)


def parse_cursor(raw) -> int | None:
    """The execution id of a cursor that encode_cursor wrote (None when blank); ValidationFailed when it is
    not one (not a positive whole number that fits an execution id)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not is_plain_int(raw) or int(raw) <= 0 or int(raw) > 2**63 - 1:
        raise ValidationFailed({"cursor": ["This page link is broken; start again from the first page."]})
    return int(raw)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _earliest(run_filter: RunFilter) -> datetime | None:
    """The filter's lower bound on created_at (inclusive): the later of the first day's start and `since`."""
    bounds = [bound for bound in (day_start(run_filter.date_from) if run_filter.date_from else None,
                                  run_filter.since) if bound is not None]
    return max(bounds) if bounds else None


def _latest(run_filter: RunFilter) -> datetime | None:
    """The filter's upper bound on created_at (exclusive): the start of the day after the last day;
    None without a last day, or when it is the last day a date holds."""
    if run_filter.date_to is None or run_filter.date_to == date.max:
        return None
    return day_start(run_filter.date_to + timedelta(days=1))


def list_conditions(workspace_id: int, run_filter: RunFilter) -> list:
    """The WHERE conditions of the list for this filter."""
    # Every list filter is one condition here (the tab counts' partial-index counts and the bulk actions' "all
    # matching" go through this function too).
    conditions = [WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.mode == run_filter.mode,
                  *status_conditions(run_filter)]
    if run_filter.search:
        conditions.append(run_search.matches(run_filter.search))
    if run_filter.workflow_id:
        conditions.append(WorkflowExecution.workflow_id == run_filter.workflow_id)
    earliest = _earliest(run_filter)
    if earliest is not None:
        conditions.append(WorkflowExecution.created_at >= earliest)
    latest = _latest(run_filter)
    if latest is not None:
        conditions.append(WorkflowExecution.created_at < latest)
    return conditions


# Spelled out (not bound parameters) so PostgreSQL matches them to the partial indexes of the same predicates.
WITH_ERRORS_SQL = text("workflow_executions.status = 'completed' AND workflow_executions.error IS NOT NULL")
RESOLVED_SQL = text("workflow_executions.status = 'failed' AND workflow_executions.resolved_by_id IS NOT NULL")


def status_conditions(run_filter: RunFilter) -> list:
    """The conditions of the filter's status tab: COMPLETED_WITH_ERRORS is completed runs with an error; the
    Failed tab leaves out resolved runs when the filter hides them."""
    if not run_filter.status:
        return []
    if run_filter.status == COMPLETED_WITH_ERRORS:
        return [WITH_ERRORS_SQL]
    conditions = [WorkflowExecution.status == run_filter.status]
    if run_filter.status == RunStatus.FAILED and run_filter.hide_resolved:
        conditions.append(WorkflowExecution.resolved_by_id.is_(None))
    return conditions


def flagged_count(workspace_id: int, run_filter: RunFilter, flag) -> int:
    """How many runs of the filter's workflow and dates hold `flag` (WITH_ERRORS_SQL or RESOLVED_SQL): an
    index-only count on the flag's partial index."""
    base = RunFilter(workflow_id=run_filter.workflow_id, date_from=run_filter.date_from, date_to=run_filter.date_to,
                     since=run_filter.since)
    conditions = list_conditions(workspace_id, base) + id_range(workspace_id, base)
    return db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(*conditions, flag)) or 0


# Ids grow with created_at, though not strictly: a row's time is taken a moment before its id, so a
# row can hold a smaller id than one whose time is earlier by less than this margin (seconds at worst).
ID_RANGE_MARGIN = timedelta(minutes=10)


def id_range(workspace_id: int, run_filter: RunFilter) -> list:
    """Conditions on the id that keep every run of the filter's dates (and `since`): the list pages on
    ids, so without them it walks down from the newest run to the range (290 ms at a million runs).
    Below the range: the id of the last run created a margin before it; above: the id of the first
    run created a margin after it. Two probes on (workspace_id, created_at); no bound when none."""
    conditions = []
    in_workspace = WorkflowExecution.workspace_id == workspace_id
    before = _shifted(_earliest(run_filter), -ID_RANGE_MARGIN)
    if before is not None:
        floor = db.session.scalar(select(WorkflowExecution.id).where(in_workspace, WorkflowExecution.created_at < before)
                                  .order_by(WorkflowExecution.created_at.desc()).limit(1))
        if floor is not None:
            conditions.append(WorkflowExecution.id > floor)
    after = _shifted(_latest(run_filter), ID_RANGE_MARGIN)
    if after is not None:
        ceiling = db.session.scalar(select(WorkflowExecution.id).where(in_workspace, WorkflowExecution.created_at >= after)
                                    .order_by(WorkflowExecution.created_at).limit(1))
        if ceiling is not None:
            conditions.append(WorkflowExecution.id < ceiling)
    return conditions


def _shifted(moment: datetime | None, delta: timedelta) -> datetime | None:
    """moment + delta; None when there is no moment or the result is past what a datetime holds."""
    try:
        return moment + delta if moment is not None else None
    except OverflowError:
        return None


def list_runs(workspace_id: int, run_filter: RunFilter = RunFilter(), *, before: int | None = None,
              after: int | None = None, page_size: int = PAGE_SIZE) -> RunPage:
    """One page of runs, newest first. `before`: the page older than that id; `after`: the page newer than it
    (ids from parse_cursor). The page's cursors are encoded with encode_cursor."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    listing = _Listing(workspace_id, run_filter)
    if after is not None:
        rows = listing.rows(WorkflowExecution.id > after, newest_first=False, limit=page_size + 1)
        if len(rows) <= page_size:
            # Back at the newest runs: show a full first page rather than a short one.
            return list_runs(workspace_id, run_filter, page_size=page_size)
        runs = list(reversed(rows[:page_size]))
        page = RunPage(runs, newer_cursor=encode_cursor(runs[0].id), older_cursor=encode_cursor(runs[-1].id))
    else:
        older = [WorkflowExecution.id < before] if before is not None else []
        rows = listing.rows(*older, newest_first=True, limit=page_size + 1)
        runs = rows[:page_size]
        page = RunPage(runs)
        if runs and len(rows) > page_size:
            page.older_cursor = encode_cursor(runs[-1].id)
        if runs and before is not None and listing.rows(WorkflowExecution.id > runs[0].id, newest_first=False,
                                                        limit=1):
            page.newer_cursor = encode_cursor(runs[0].id)
    page.has_active = any(run.status in ACTIVE_STATUSES for run in page.runs)
    return page


# A search within dates, on PostgreSQL: the planner takes the id range and the dates for independent conditions
# (they select the same rows), expects a few hundred matches, and intersects the word's index bitmap with both
# ranges' bitmaps: 40-200 ms for a word common in those days at a million runs, where walking the range's newest
# rows down finds a page of its matches within a few thousand rows (bench/RESULTS.md). So such a page first walks
# the range's SEARCH_WALK_ROWS newest (or oldest) runs (PostgreSQL stops at a page of matches). When they hold
# less than a page but at least SEARCH_WALK_MIN_HITS matches, a deeper walk of the rows a page should take at that
# rate (at most SEARCH_WALK_MAX_ROWS); when they hold fewer, the word is rare there, and the index is asked.
SEARCH_WALK_ROWS = 2000
SEARCH_WALK_MIN_HITS = 5
SEARCH_WALK_MAX_ROWS = 20000
WALK_FIRST_DIALECTS = {"postgresql"}  # SQLite's search is a scan that stops at a page already


class _Listing:
    """The runs of one filter, a page at a time: the filter's conditions (the search apart) and its id range."""

    def __init__(self, workspace_id: int, run_filter: RunFilter):
        self.conditions = list_conditions(workspace_id, replace(run_filter, search=None)) + id_range(workspace_id,
                                                                                                     run_filter)
        self.search = run_filter.search
        self.walk_first = bool(self.search and (_earliest(run_filter) or _latest(run_filter))
                               and db.session.get_bind().dialect.name in WALK_FIRST_DIALECTS)

    def rows(self, *extra, newest_first: bool, limit: int) -> list[WorkflowExecution]:
        """Up to `limit` runs of the filter meeting `extra`, by id (newest first, or oldest first)."""
        conditions = [*self.conditions, *extra]
        if self.walk_first:
            rows = self._walk(conditions, newest_first, limit, SEARCH_WALK_ROWS)
            if SEARCH_WALK_MIN_HITS <= len(rows) < limit:
                rows = self._walk(conditions, newest_first, limit,
                                  min(SEARCH_WALK_MAX_ROWS, 2 * SEARCH_WALK_ROWS * limit // len(rows)))
            if len(rows) == limit:  # the newest matches of the whole range are among the newest rows walked
                return rows
        if self.search:
            conditions.append(run_search.matches(self.search))
        return list(db.session.scalars(select(WorkflowExecution).where(*conditions)
                                       .order_by(_by_id(WorkflowExecution, newest_first)).limit(limit)))


    def _walk(self, conditions: list, newest_first: bool, limit: int, depth: int) -> list[WorkflowExecution]:
        """The matches among the first `depth` runs of the filter (by id), at most `limit`."""
        walked = aliased(WorkflowExecution, select(WorkflowExecution).where(*conditions)
                         .order_by(_by_id(WorkflowExecution, newest_first)).limit(depth).subquery("walked"))
        return list(db.session.scalars(select(walked).where(run_search.matches(self.search, walked))
                                       .order_by(_by_id(walked, newest_first)).limit(limit)))


def _by_id(runs, newest_first: bool):
    return runs.id.desc() if newest_first else runs.id.asc()


# -- aggregates: the daily rollups (finished runs) plus the unfinished runs, counted live ----------------
class utc_day(FunctionElement):
    """The UTC calendar day of a UTC datetime column, as the rollup triggers compute it."""
    type = Date()
    inherit_cache = True


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element, compiler, **kw):
    return f"(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC')::date"


@compiles(utc_day)
def _utc_day_sqlite(element, compiler, **kw):  # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'
    return f"date({compiler.process(element.clauses, **kw)})"


def _aggregates(workspace_id: int, workflow_id: int | None = None, date_from: date | None = None,
                date_to: date | None = None, by_day: bool = False) -> dict[tuple, list[int]]:
    """{(day or None, status): [runs, total_duration_ms, timed_runs]} for the workspace (or one of its
    workflows) over an inclusive range of UTC days.

    Finished runs come from a rollup (at most 3 statuses × 8 shards rows per day, whatever the number
    of runs or workflows), unfinished ones from workflow_executions with the list's own conditions
    (the (workspace_id, status, id) index; they are few at any time). One statement, so one
    snapshot: a run that finishes meanwhile is counted once."""
    if workflow_id:
        rollup = WorkflowRunDaily
        rollup_conditions = [rollup.workspace_id == workspace_id, rollup.workflow_id == workflow_id]
    else:
        rollup = WorkspaceRunDaily
        rollup_conditions = [rollup.workspace_id == workspace_id]
    if date_from:
        rollup_conditions.append(rollup.day >= date_from)
    if date_to:
        rollup_conditions.append(rollup.day <= date_to)
    finished_keys = [rollup.day, rollup.status] if by_day else [rollup.status]
    finished = (
        select(*finished_keys, func.sum(rollup.runs), func.sum(rollup.total_duration_ms), func.sum(rollup.timed_runs))
        .where(*rollup_conditions)
        .group_by(*finished_keys)
    )
    live_conditions = list_conditions(workspace_id, RunFilter(None, workflow_id, date_from, date_to))
    live_keys = [utc_day(WorkflowExecution.created_at), WorkflowExecution.status] if by_day else [WorkflowExecution.status]
    unfinished = (
        select(*live_keys, func.count(), func.coalesce(func.sum(WorkflowExecution.duration_ms), 0),
               func.count(WorkflowExecution.duration_ms))
        .where(*live_conditions, WorkflowExecution.status.in_(UNFINISHED_STATUSES))
        .group_by(*live_keys)
    )
    totals: dict[tuple, list[int]] = {}
    for *key, runs, duration_sum, timed in db.session.execute(union_all(finished, unfinished)):
        day, status = (_as_date(key[0]), key[1]) if by_day else (None, key[0])
        sums = totals.setdefault((day, status), [0, 0, 0])
        sums[0] += int(runs or 0)
        sums[1] += int(duration_sum or 0)
        sums[2] += int(timed or 0)
    return totals


def status_counts(workspace_id: int, run_filter: RunFilter = RunFilter()) -> dict[str, int]:
    """Runs per status (and "all") for the filter's workflow and dates: the numbers on the status tabs.
    They count what the list shows: the rollups hold each finished run under the UTC day of its
    created_at, the list filters created_at on the same UTC day boundaries."""
    counts = dict.fromkeys(STATUSES, 0)
    for (_day, status), (runs, _duration, _timed) in _aggregates(
            workspace_id, run_filter.workflow_id, run_filter.date_from, run_filter.date_to).items():
        counts[status] += runs
    counts["all"] = sum(counts.values())
    counts[COMPLETED_WITH_ERRORS] = flagged_count(workspace_id, run_filter, WITH_ERRORS_SQL)
    counts["resolved"] = flagged_count(workspace_id, run_filter, RESOLVED_SQL)
    if run_filter.hide_resolved:
        counts[RunStatus.FAILED.value] -= counts["resolved"]
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
    totals = _aggregates(workspace_id, workflow_id, period_start(period_days, today))
    total = sum(runs for runs, _, _ in totals.values())
    completed = totals.get((None, RunStatus.COMPLETED), [0])[0]
    failed = totals.get((None, RunStatus.FAILED), [0])[0]
    duration_sum = sum(duration for _, duration, _ in totals.values())
    timed = sum(timed for _, _, timed in totals.values())
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
    by_day: dict[date, dict[str, int]] = {}
    for (day, status), (runs, _duration, _timed) in _aggregates(workspace_id, workflow_id, first, by_day=True).items():
        by_day.setdefault(day, dict.fromkeys(STATUSES, 0))[status] += runs
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


# -- the workflow filter ---------------------------------------------------------------------------------
def workflow_filter_choices(workspace_id: int, selected_id: int | None, all_up_to: int) -> tuple[list, bool]:
    """(choices, complete) for the Runs page's workflow filter: every workflow of the workspace by name
    when it has at most `all_up_to` of them (complete=True), else only the selected one (the page
    searches the others as you type)."""
    if db.session.scalar(select(func.count()).where(Workflow.workspace_id == workspace_id)) <= all_up_to:
        return workflow_choices(workspace_id), True
    name = workflow_name(workspace_id, selected_id)
    return ([(selected_id, name)] if name is not None else []), False


def workflow_choices(workspace_id: int, search: str = "", limit: int | None = None) -> list[tuple[int, str]]:
    """(id, name) of the workspace's workflows by name, those whose name contains `search` (any case);
    at most `limit` of them."""
    query = select(Workflow.id, Workflow.name).where(Workflow.workspace_id == workspace_id)
    search = (search or "").strip()[:MAX_SEARCH_LENGTH]
    if search:
        query = query.where(func.lower(Workflow.name).contains(search.lower(), autoescape=True))
    query = query.order_by(func.lower(Workflow.name), Workflow.id)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.execute(query).tuples())


def workflow_name(workspace_id: int, workflow_id: int | None) -> str | None:
    if not workflow_id:
        return None
    return db.session.scalar(
        select(Workflow.name).where(Workflow.id == workflow_id, Workflow.workspace_id == workspace_id))


def gone_resolvers(workspace_id: int, runs) -> set[int]:
    """The `resolved_by_id`s of these runs whose replay no longer exists (deleted, e.g. pruned after the retention
    period): the pages show "resolved by #N" on them without a link. One primary-key lookup of at most a page's
    ids, whatever the size of the table (cheaper than clearing the links in the prune: retention_service)."""
    ids = {run.resolved_by_id for run in runs if run.status == RunStatus.FAILED and run.resolved_by_id}
    if not ids:
        return set()
    present = db.session.scalars(select(WorkflowExecution.id).where(
        WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.id.in_(ids)))
    return ids - set(present)


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


def _whole_seconds(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def timeline(execution: WorkflowExecution) -> list[dict]:
    """One entry per step of the run's snapshot, in the order they run (a branch's Then steps, then its Else
    steps, under it): its record when it ran, or why it has not (yet). Steps on a path not taken are greyed."""
    records = {record_path(record): record for record in execution.completed_actions or [] if isinstance(record, dict)}
    definition = execution.definition or {}
    plan = StepPlan([action if isinstance(action, dict) else {} for action in definition.get("actions") or []])
    steps = []
    for position, (address, action) in enumerate(plan.steps):
        action = action if isinstance(action, dict) else {}  # a hand-edited snapshot; the runner failed that step
        record = records.get(str(address)) or {}
        catalog_entry = ACTIONS.get(action.get("type"))
        step = {
            "index": address.index, "number": address.label, "type": action.get("type"), "path": str(address),
            "id": action.get("id"), "depth": address.depth, "side": address.side,
            "label": catalog_entry.label if catalog_entry else action.get("type") or "Unknown action",
            "icon": (catalog_entry.icon if catalog_entry else "") or "gear",
            "delay_seconds": _whole_seconds(action.get("delay_seconds")),
            "status": record.get("status") or _unrun_status(execution, position),
            "attempts": record.get("attempts"), "started_at": _parse_time(record.get("started_at")),
            "finished_at": _parse_time(record.get("finished_at")), "duration_ms": record.get("duration_ms"),
            "input": record.get("input"), "output": record.get("output"), "error": record.get("error"),
            "skipped_reason": record.get("skipped_reason"), "missing_fields": record.get("missing_fields") or [],
            "replayed_from": record.get("replayed_from"), "note": None,
            "not_taken": record.get("skipped_reason") == BRANCH_NOT_TAKEN, "took": None,
        }
        if action.get("type") == BRANCH:
            config = action.get("config") or {}
            words = conditions_words(config.get("conditions"), config.get("match"), execution.trigger_type)
            side = (record.get("output") or {}).get("path") if record.get("status") == "completed" else None
            step["condition"] = words
            if side == "then":
                step["took"] = f"took Then: {words}"
            elif side == "else":
                step["took"] = f"took Else: not ({words})"
        if not record:
            step["note"] = _unrun_note(execution, position)
        steps.append(step)
    return steps


def _interrupted_wait(execution: WorkflowExecution, position: int) -> bool:
    """The cancelled run stopped inside this Wait / Delay step (it had started waiting). `position` is the
    step's plan position (branch paths included), the same numbering as the run's current_step."""
    if execution.status != RunStatus.CANCELLED or position != execution.current_step:
        return False
    definition = execution.definition or {}
    plan = StepPlan([action if isinstance(action, dict) else {} for action in definition.get("actions") or []])
    step = plan.at(position)
    action = step[1] if step and isinstance(step[1], dict) else {}
    return action.get("type") == "wait_delay"


def _unrun_status(execution: WorkflowExecution, position: int) -> str:
    if _interrupted_wait(execution, position):
        return RunStatus.CANCELLED.value
    if position != execution.current_step or execution.status in TERMINAL_RUN_STATUSES:
        return "not_run"
    if execution.status == RunStatus.PENDING and execution.step_attempts:
        return "retrying"
    return {RunStatus.RUNNING: "running", RunStatus.PAUSED: "waiting"}.get(execution.status, "pending")


def _unrun_note(execution: WorkflowExecution, position: int) -> str | None:
    if _interrupted_wait(execution, position):
        return "Cancelled during this wait."
    if execution.status == RunStatus.CANCELLED and position >= execution.current_step:
        return "Not run: the run was cancelled before this step."
    if position != execution.current_step:
        return None
    if execution.status == RunStatus.PAUSED:
        return "waiting"  # the template shows when it resumes
    if execution.status == RunStatus.PENDING and execution.step_attempts:
        return "retrying"
    return None

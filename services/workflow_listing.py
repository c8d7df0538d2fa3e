"""The workflow list: filters, search, sort, pages, and each row's last run and 7-day run count.
Quick Rule workflows are left out (workflow_service.editable_conditions).

A row's numbers never scan its runs: the last run is one backward step on the (workspace_id,
workflow_id, id) index, the runs of the last 7 UTC days (today included, like the stats strip's
7-day period) come from the daily rollup plus the few unfinished runs.
"""
from dataclasses import dataclass

from sqlalchemy import func, select, union_all

from models import Workflow, WorkflowExecution, WorkflowRunDaily, db
from models.vocabulary import WorkflowStatus, values
from services.run_history_service import UNFINISHED_STATUSES, day_start, period_start
from services.workflow_service import editable_conditions

PAGE_SIZE = 25
SORTS = {"updated": "Last updated", "name": "Name", "last_run": "Last run"}
# The list's tabs: "all" (what is not archived), then each status, archived last.
STATUS_TABS = ("all", WorkflowStatus.ACTIVE.value, WorkflowStatus.DRAFT.value, WorkflowStatus.PAUSED.value,
               WorkflowStatus.ARCHIVED.value)
RECENT_DAYS = 7


@dataclass
class WorkflowRow:
    workflow: Workflow
    last_run_status: str | None
    last_run_at: object
    runs_7d: int


@dataclass
class WorkflowPage:
    rows: list[WorkflowRow]
    page: int
    pages: int
    total: int
    counts: dict


def _filtered(workspace_id: int, status: str, search: str):
    query = select(Workflow).where(*editable_conditions(workspace_id))
    if status in values(WorkflowStatus):
        query = query.where(Workflow.status == status)
    else:
        query = query.where(Workflow.status != WorkflowStatus.ARCHIVED)  # archived only when asked for
    if search:
        query = query.where(func.lower(Workflow.name).contains(search.lower(), autoescape=True))
    return query


def status_counts(workspace_id: int) -> dict:
    rows = db.session.execute(
        select(Workflow.status, func.count())
        .where(*editable_conditions(workspace_id))
        .group_by(Workflow.status)
    ).all()
    counts = {status: 0 for status in STATUS_TABS}
    for status, count in rows:
        counts[status] = count
    counts["all"] = sum(count for status, count in rows if status != WorkflowStatus.ARCHIVED)
    return counts


def list_workflows(workspace_id: int, status: str = "all", search: str = "", sort: str = "updated", page: int = 1) -> WorkflowPage:
    base = _filtered(workspace_id, status, (search or "").strip())
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    last_run_id = _last_run_id(workspace_id)
    order = {
        "name": (func.lower(Workflow.name), Workflow.id),
        "last_run": (last_run_id.desc().nulls_last(), Workflow.id.desc()),
    }.get(sort, (Workflow.updated_at.desc(), Workflow.id.desc()))
    workflows = list(db.session.scalars(base.order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return WorkflowPage(_rows(workspace_id, workflows), page, pages, total, status_counts(workspace_id))


def _last_run_id(workspace_id: int):
    """The id of the workflow's newest run, correlated to Workflow: a max() the planner answers with one
    backward step on the (workspace_id, workflow_id, id) index, however many runs the workflow has."""
    return (
        select(func.max(WorkflowExecution.id))
        .where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.workflow_id == Workflow.id)
        .correlate(Workflow)
        .scalar_subquery()
    )


def _rows(workspace_id: int, workflows: list[Workflow]) -> list[WorkflowRow]:
    ids = [w.id for w in workflows]
    if not ids:
        return []
    last_ids = [run_id for (run_id,) in db.session.execute(
        select(_last_run_id(workspace_id)).where(Workflow.id.in_(ids), Workflow.workspace_id == workspace_id)
    ) if run_id is not None]
    last = {
        row.workflow_id: row
        for row in db.session.execute(
            select(WorkflowExecution.workflow_id, WorkflowExecution.status, WorkflowExecution.created_at)
            .where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.id.in_(last_ids))
        )
    } if last_ids else {}
    recent = runs_in_recent_days(workspace_id, ids)
    return [
        WorkflowRow(w, last[w.id].status if w.id in last else None, last[w.id].created_at if w.id in last else None,
                    recent.get(w.id, 0))
        for w in workflows
    ]


def runs_in_recent_days(workspace_id: int, workflow_ids: list[int], days: int = RECENT_DAYS) -> dict[int, int]:
    """{workflow_id: runs created in the last `days` UTC days, today included}: finished ones from the
    daily rollup, unfinished ones counted live."""
    first_day = period_start(days)
    finished = (
        select(WorkflowRunDaily.workflow_id, func.sum(WorkflowRunDaily.runs))
        .where(WorkflowRunDaily.workspace_id == workspace_id, WorkflowRunDaily.workflow_id.in_(workflow_ids),
               WorkflowRunDaily.day >= first_day)
        .group_by(WorkflowRunDaily.workflow_id)
    )
    unfinished = (
        select(WorkflowExecution.workflow_id, func.count())
        .where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.status.in_(UNFINISHED_STATUSES),
               WorkflowExecution.workflow_id.in_(workflow_ids), WorkflowExecution.created_at >= day_start(first_day))
        .group_by(WorkflowExecution.workflow_id)
    )
    counts: dict[int, int] = {}
    for workflow_id, runs in db.session.execute(union_all(finished, unfinished)):  # one snapshot
        counts[workflow_id] = counts.get(workflow_id, 0) + int(runs)
    return counts

"""The workflow list: filters, search, sort, pages, and each row's last run and 7-day run count."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from models import Workflow, WorkflowExecution, db
from models.base import utcnow
from services.quick_rules_service import hidden_workflow_ids

PAGE_SIZE = 25
SORTS = {"updated": "Last updated", "name": "Name", "last_run": "Last run"}
STATUS_TABS = ("all", "active", "draft", "paused", "archived")


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
    query = select(Workflow).where(Workflow.workspace_id == workspace_id, Workflow.id.not_in(hidden_workflow_ids()))
    if status in ("active", "draft", "paused", "archived"):
        query = query.where(Workflow.status == status)
    else:
        query = query.where(Workflow.status != "archived")  # archived only when asked for
    if search:
        query = query.where(func.lower(Workflow.name).contains(search.lower(), autoescape=True))
    return query


def status_counts(workspace_id: int) -> dict:
    rows = db.session.execute(
        select(Workflow.status, func.count())
        .where(Workflow.workspace_id == workspace_id, Workflow.id.not_in(hidden_workflow_ids()))
        .group_by(Workflow.status)
    ).all()
    counts = {status: 0 for status in STATUS_TABS}
    for status, count in rows:
        counts[status] = count
    counts["all"] = sum(count for status, count in rows if status != "archived")
    return counts


def list_workflows(workspace_id: int, status: str = "all", search: str = "", sort: str = "updated", page: int = 1) -> WorkflowPage:
    base = _filtered(workspace_id, status, (search or "").strip())
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    last_run_id = (
        select(func.max(WorkflowExecution.id))
        .where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.workflow_id == Workflow.id)
        .correlate(Workflow)
        .scalar_subquery()
    )
    order = {
        "name": (func.lower(Workflow.name), Workflow.id),
        "last_run": (last_run_id.desc().nulls_last(), Workflow.id.desc()),
    }.get(sort, (Workflow.updated_at.desc(), Workflow.id.desc()))
    workflows = list(db.session.scalars(base.order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return WorkflowPage(_rows(workspace_id, workflows), page, pages, total, status_counts(workspace_id))


def _rows(workspace_id: int, workflows: list[Workflow]) -> list[WorkflowRow]:
    ids = [w.id for w in workflows]
    if not ids:
        return []
    last_ids = db.session.execute(
        select(WorkflowExecution.workflow_id, func.max(WorkflowExecution.id))
        .where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.workflow_id.in_(ids))
        .group_by(WorkflowExecution.workflow_id)
    ).all()
    last = {
        row.workflow_id: row
        for row in db.session.execute(
            select(WorkflowExecution.workflow_id, WorkflowExecution.status, WorkflowExecution.created_at)
            .where(WorkflowExecution.id.in_([execution_id for _, execution_id in last_ids]))
        )
    }
    week_ago = utcnow() - timedelta(days=7)
    recent = dict(
        db.session.execute(
            select(WorkflowExecution.workflow_id, func.count())
            .where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.workflow_id.in_(ids),
                   WorkflowExecution.created_at >= week_ago)
            .group_by(WorkflowExecution.workflow_id)
        ).all()
    )
    return [
        WorkflowRow(w, last[w.id].status if w.id in last else None, last[w.id].created_at if w.id in last else None, recent.get(w.id, 0))
        for w in workflows
    ]

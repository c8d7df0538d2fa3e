"""Why a pending run waits (issue #22): its workflow's max_concurrent_runs or the workspace's
WORKSPACE_MAX_RUNNING is reached. For the Runs tab ("queued: 2 running of 2 allowed") and the run page."""
from flask import current_app
from sqlalchemy import func, select

from engine.core import caps
from models import Workflow, WorkflowExecution, db
from models.base import utcnow
from models.vocabulary import RunStatus


def _waiting(run) -> bool:
    return run.status == RunStatus.PENDING and (run.resume_at is None or run.resume_at <= utcnow())


def queued_reasons(workspace_id: int, runs) -> dict[int, str]:
    """{run id: "2 running of 2 allowed"} for the pending runs among `runs` held back by a full cap (the
    workflow's first, then the workspace's: "... allowed in this workspace")."""
    waiting = [run for run in runs if _waiting(run)]
    if not waiting:
        return {}
    workflow_ids = {run.workflow_id for run in waiting if run.workflow_id is not None}
    limits = dict(db.session.execute(select(Workflow.id, Workflow.max_concurrent_runs).where(
        Workflow.workspace_id == workspace_id, Workflow.id.in_(workflow_ids),
        Workflow.max_concurrent_runs.is_not(None))).all()) if workflow_ids else {}
    running = dict(db.session.execute(
        select(WorkflowExecution.workflow_id, func.count()).where(
            WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.workflow_id.in_(list(limits)),
            caps.holds_a_slot()).group_by(WorkflowExecution.workflow_id)).all()) if limits else {}
    workspace_max = current_app.config["WORKSPACE_MAX_RUNNING"]
    in_workspace = db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(
        WorkflowExecution.workspace_id == workspace_id, caps.holds_a_slot())) if workspace_max > 0 else 0
    reasons = {}
    for run in waiting:
        limit = limits.get(run.workflow_id)
        if limit is not None and running.get(run.workflow_id, 0) >= limit:
            reasons[run.id] = f"{running.get(run.workflow_id, 0)} running of {limit} allowed"
        elif workspace_max > 0 and in_workspace >= workspace_max:
            reasons[run.id] = f"{in_workspace} running of {workspace_max} allowed in this workspace"
    return reasons

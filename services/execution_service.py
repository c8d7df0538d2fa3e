"""Executions seen from the product: run a workflow now, cancel a run, look one up."""
from sqlalchemy import update

from engine.core.catalog import sample_payload
from engine.core.runs import NewRun, start_runs
from models import User, Workflow, WorkflowExecution, db
from models.base import utcnow
from models.vocabulary import CANCELLABLE_RUN_STATUSES, RunSource, RunStatus
from services import audit_service
from services.common import get_in_workspace
from services.errors import ValidationFailed


def get_execution(workspace_id: int, execution_id) -> WorkflowExecution:
    return get_in_workspace(WorkflowExecution, workspace_id, execution_id, "Run")


def run_now(workflow: Workflow, payload: dict | None = None, actor: User | None = None) -> WorkflowExecution:
    """Start the workflow by hand with a payload (default: the trigger's sample). Conditions are not applied:
    a person asked for this run. The run starts after the caller commits."""
    if payload is None:
        payload = sample_payload(workflow.trigger_type)
    if not isinstance(payload, dict):
        raise ValidationFailed({"payload": ["The payload must be a JSON object."]})
    [execution_id] = start_runs([NewRun.of(workflow, payload, source=RunSource.MANUAL)])
    execution = db.session.get(WorkflowExecution, execution_id)
    audit_service.record_event(
        workflow.workspace_id, "workflow.run_now", f"Ran workflow {workflow.name!r} by hand",
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        subject_type="workflow", subject_id=workflow.id, execution_id=execution.id,
    )
    return execution


def cancel_execution(execution: WorkflowExecution, actor: User | None = None) -> bool:
    """Cancel a pending, running or paused run; a running one stops before its next step. False if already over."""
    now = utcnow()
    result = db.session.execute(
        update(WorkflowExecution)
        .where(WorkflowExecution.id == execution.id, WorkflowExecution.status.in_(CANCELLABLE_RUN_STATUSES))
        .values(status=RunStatus.CANCELLED, finished_at=now, lease_owner=None, lease_expires_at=None, resume_at=None,
                error="Cancelled" + (f" by {actor.display_name}" if actor else ""))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    audit_service.record_event(
        execution.workspace_id, "execution.cancelled", f"Cancelled run #{execution.id}",
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        subject_type="execution", subject_id=execution.id, execution_id=execution.id,
    )
    db.session.flush()
    db.session.refresh(execution)
    return True

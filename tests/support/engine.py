"""Helpers for engine tests: build workflows, wait for runs."""
import time

from models import WorkflowExecution, db
from services import workflow_service

LOG = {"type": "log_event", "config": {"event": "step_ran", "message": "{{ trigger.deal.title }}"}}


def log_step(event="step_ran", **extra):
    return {"type": "log_event", "config": {"event": event, "message": "{{ trigger.deal.title }}"}, **extra}


def make_workflow(workspace_id, trigger="deal_created", actions=None, conditions=None, status="active",
                  error_strategy="continue", name="Test workflow", trigger_config=None):
    workflow = workflow_service.create_workflow(workspace_id, {
        "name": name,
        "trigger": {"type": trigger, "config": trigger_config or {}},
        "conditions": conditions or [],
        "actions": actions or [log_step()],
        "error_strategy": error_strategy,
        "status": status,
    })
    db.session.commit()
    return workflow


def load_execution(execution_id) -> WorkflowExecution:
    db.session.expire_all()
    return db.session.get(WorkflowExecution, execution_id)


def wait_for_status(execution_id, statuses=("completed", "failed", "cancelled"), timeout=20.0) -> WorkflowExecution:
    deadline = time.monotonic() + timeout
    while True:
        db.session.commit()  # end any read transaction so we see other connections' commits
        execution = load_execution(execution_id)
        if execution is not None and execution.status in statuses:
            return execution
        if time.monotonic() > deadline:
            state = execution.status if execution else "missing"
            raise AssertionError(f"execution {execution_id} is {state}, expected one of {statuses}")
        time.sleep(0.05)

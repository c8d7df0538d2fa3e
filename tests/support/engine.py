"""Helpers for engine tests: log_event steps, wait for runs (workflows come from tests.factories.make_workflow)."""
import time

from models import WorkflowExecution, db

def log_step(event="step_ran", **extra):
    return {"type": "log_event", "config": {"event": event, "message": "{{ trigger.deal.title }}"}, **extra}


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

"""Running a test run for a request (issue #20): the editor's Test / Test this step and the API's test routes.

The service checks and inserts the run (services.test_run_service), the runner runs it here and now
(engine.runtime.runner.run_test_execution), then the workflow's older test runs beyond the last 20 go.
Synchronous: the request waits for the finished test, which TEST_RUN_SECONDS bounds.
"""
import time

from flask import current_app

from engine.runtime.runner import run_test_execution
from models import WorkflowExecution, db
from services import test_run_service
from services.test_run_service import TestRequest

POLL_SECONDS = 0.1


def run_test(request: TestRequest) -> WorkflowExecution:
    """Start, run and return the finished test run (ValidationFailed for a definition that does not validate)."""
    seconds = current_app.config["TEST_RUN_SECONDS"]
    execution_id = test_run_service.start_test(request, seconds)
    db.session.commit()
    if run_test_execution(execution_id) is None:  # a sweep took it first: it runs it the same way
        _wait_until_finished(execution_id, seconds)
    test_run_service.prune_tests(request.workspace_id, request.workflow.id if request.workflow else None)
    db.session.commit()
    return test_run_service.test_execution(request.workspace_id, execution_id)


def _wait_until_finished(execution_id: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.expire_all()
        execution = db.session.get(WorkflowExecution, execution_id)
        if execution is None or execution.finished_at is not None:
            return
        time.sleep(POLL_SECONDS)

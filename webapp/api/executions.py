"""/api/v1/executions: run history (keyset pages), one run, cancel and replay (owners and admins).

The run history is the Runs tab's listing (run_history_service.list_runs), with its cursors.
"""
from flask import g

from models import Role, WorkflowExecution
from services import execution_service, replay_service, run_history_service
from services.errors import ValidationFailed
from services.run_history_service import RunFilter
from webapp.api.blueprint import ID, fail, invalid, operation
from webapp.api.schemas import EmptySchema, ExecutionOut, ExecutionPageOut, ExecutionQuerySchema, ReplaySchema
from webapp.forms import actor

TAG = "Executions"


def _execution(execution_id) -> WorkflowExecution:
    return execution_service.get_execution(g.workspace.id, execution_id)


@operation("/executions", "GET", summary="List runs", tag=TAG, query=ExecutionQuerySchema(),
           response=ExecutionPageOut, errors=(422,), flagged=True)
def list_executions(query):
    """Newest first, `limit` per page. Pass the returned `next_cursor` as `cursor` for the next page;
    it is null on the last page. Filters: status, workflow_id, since."""
    run_filter = RunFilter(status=query.get("status"), workflow_id=query.get("workflow_id"), since=query.get("since"))
    page = run_history_service.list_runs(g.workspace.id, run_filter, page_size=query["limit"],
                                         before=run_history_service.parse_cursor(query.get("cursor")))
    return {"data": page.runs, "next_cursor": page.older_cursor}


@operation(f"/executions/<{ID}:execution_id>", "GET", summary="Get a run", tag=TAG, response=ExecutionOut,
           errors=(404,), flagged=True)
def get_execution(execution_id):
    """The run with its steps (status, attempts, input, output, error of each)."""
    return _execution(execution_id)


@operation(f"/executions/<{ID}:execution_id>/cancel", "POST", summary="Cancel a run", tag=TAG, body=EmptySchema(),
           response=ExecutionOut, errors=(403, 404, 409), min_role=Role.ADMIN, flagged=True)
def cancel_execution(execution_id, body):
    """Cancel a pending, running or paused run (a running one stops before its next step). 409 when it is over."""
    execution = _execution(execution_id)
    if not execution_service.cancel_execution(execution, actor()):
        fail(409, f"This run is already {execution.status}; there is nothing to cancel.")
    return execution


@operation(f"/executions/<{ID}:execution_id>/replay", "POST", summary="Replay a run", tag=TAG, body=ReplaySchema(),
           response=ExecutionOut, status=202, errors=(403, 404, 422), min_role=Role.ADMIN, flagged=True)
def replay_execution(execution_id, body):
    """A new run linked to this one (replay_of_id): `from` failed_step (steps before it are copied, not run
    again) or start; on the `definition` it ran with (snapshot) or the workflow's current one."""
    original = _execution(execution_id)
    options = _replay_options(body)
    try:
        return replay_service.replay_execution(original, options, actor())
    except ValidationFailed as refused:  # the service names the option "mode"; this API calls it "from"
        raise ValidationFailed({("from" if key == "mode" else key): messages
                                for key, messages in refused.errors.items()}) from None


def _replay_options(body: dict) -> replay_service.ReplayOptions:
    mode, definition = body.get("from", replay_service.FROM_FAILED_STEP), body.get("definition", replay_service.ON_SNAPSHOT)
    errors = {}
    if mode not in replay_service.MODES:
        errors["from"] = [f"Replay from one of: {', '.join(replay_service.MODES)}."]
    if definition not in replay_service.DEFINITIONS:
        errors["definition"] = [f"Replay on one of: {', '.join(replay_service.DEFINITIONS)}."]
    if errors:
        invalid(errors)
    return replay_service.ReplayOptions(mode, definition)

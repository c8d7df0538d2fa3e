"""/api/v1/executions: run history (keyset pages), one run, cancel and replay (owners and admins)."""
import base64
import binascii

from flask import g
from sqlalchemy import select

from models import Role, WorkflowExecution, db
from services import execution_service, replay_service
from services.common import is_plain_int
from services.errors import ValidationFailed
from webapp.api.blueprint import ID, fail, invalid, operation
from webapp.api.schemas import EmptySchema, ExecutionOut, ExecutionPageOut, ExecutionQuerySchema, ReplaySchema
from webapp.forms import actor

TAG = "Executions"
CURSOR_PREFIX = "before:"


def encode_cursor(execution_id: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{execution_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = text.removeprefix(CURSOR_PREFIX)
    if not text.startswith(CURSOR_PREFIX) or not is_plain_int(number) or not 0 < int(number) < 2**63:
        invalid({"cursor": ["Not a cursor this API returned; start again without one."]})
    return int(number)


def _execution(execution_id) -> WorkflowExecution:
    return execution_service.get_execution(g.workspace.id, execution_id)


@operation("/executions", "GET", summary="List runs", tag=TAG, query=ExecutionQuerySchema(),
           response=ExecutionPageOut, errors=(422,), flagged=True)
def list_executions(query):
    """Newest first, `limit` per page. Pass the returned `next_cursor` as `cursor` for the next page;
    it is null on the last page. Filters: status, workflow_id, since."""
    statement = select(WorkflowExecution).where(WorkflowExecution.workspace_id == g.workspace.id)
    if query.get("status"):
        statement = statement.where(WorkflowExecution.status == query["status"])
    if query.get("workflow_id"):
        statement = statement.where(WorkflowExecution.workflow_id == query["workflow_id"])
    if query.get("since"):
        statement = statement.where(WorkflowExecution.created_at >= query["since"])
    if query.get("cursor"):
        statement = statement.where(WorkflowExecution.id < decode_cursor(query["cursor"]))
    limit = query["limit"]
    rows = list(db.session.scalars(statement.order_by(WorkflowExecution.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    return {"data": page, "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None}


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

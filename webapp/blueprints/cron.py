"""The cron backstop: POST /api/cron/workflow-runner with `Authorization: Bearer $CRON_SECRET`."""
import hmac

from flask import Blueprint, abort, current_app, jsonify, request

from engine.runtime.sweep import sweep_pending_executions
from webapp.extensions import csrf
from webapp.security import public

bp = Blueprint("cron", __name__, url_prefix="/api/cron")


def _bearer_matches(expected: str | None) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


@bp.post("/workflow-runner")
@public
@csrf.exempt
def workflow_runner():
    if not _bearer_matches(current_app.config["CRON_SECRET"]):
        abort(401, description="A valid 'Authorization: Bearer <CRON_SECRET>' header is required.")
    return jsonify(sweep_pending_executions())

"""Incoming webhooks (`POST /hooks/<token>`, public, signed, JSON errors) and the editor's trigger
panels: the webhook panel (URL, secret, curl, rotate, recent deliveries) and the schedule preview.

The lead's editor includes the panels with:
    {% with panel = webhook_panel_context(workflow) %}{% include "triggers/_webhook_panel.html" %}{% endwith %}
    {% with panel = schedule_panel_context(workflow) %}{% include "triggers/_schedule_panel.html" %}{% endwith %}
(pass the two functions of this module, or their results, to render_template).
"""
from flask import Blueprint, abort, g, jsonify, render_template, request, url_for
from flask_login import current_user

from models import Role, Workflow
from services import incoming_webhook_service, schedule_service
from services.incoming_webhook_service import MAX_BODY_BYTES, WebhookRejected
from webapp.errors import TITLES
from webapp.extensions import csrf, db
from webapp.security import editable_workflow_or_404, gate_behind_automations_flag, has_role, public, require_role

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
gate_behind_automations_flag(bp)

panels_bp = Blueprint("triggers", __name__, url_prefix="/automations")

# A webhook sender is not signing in: name its errors for what they are.
HOOK_TITLES = {**TITLES, 401: "Signature rejected", 409: "Workflow not accepting deliveries"}
gate_behind_automations_flag(panels_bp)


# --- POST /hooks/<token> -----------------------------------------------------------------------

@bp.post("/<token>")
@public
@csrf.exempt
def receive(token):
    body, size = _read_body()
    try:
        result = incoming_webhook_service.receive_delivery(token, body, size, request.headers,
                                                           source=request.remote_addr)
    except WebhookRejected as rejection:
        db.session.commit()  # keep a verified rejection in the delivery log, or an unverified one's count
        response = jsonify({"error": HOOK_TITLES.get(rejection.status, "Error"), "message": rejection.message})
        if rejection.retry_after is not None:
            response.headers["Retry-After"] = str(rejection.retry_after)
        return response, rejection.status
    db.session.commit()
    return jsonify({"execution_id": result.execution_id, "delivery_id": result.delivery_id,
                    "duplicate": result.duplicate, "message": result.message}), result.status


def _read_body() -> tuple[bytes, int]:
    """The raw body, never reading more than the limit (+1 byte to notice an oversized one)."""
    declared = request.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        return b"", declared
    data = request.stream.read(MAX_BODY_BYTES + 1)
    return data, len(data)


# --- The editor's panels ---------------------------------------------------------------------------

def webhook_panel_context(workflow: Workflow) -> dict:
    """What triggers/_webhook_panel.html needs (as `panel`)."""
    panel = incoming_webhook_service.webhook_panel_data(workflow)
    endpoint = panel["endpoint"]
    if endpoint is not None:
        url = url_for("hooks.receive", token=endpoint.token, _external=True)
        # Only owners and admins see and rotate the signing secret: a member sees the URL and deliveries.
        secret = endpoint.secret if has_role(Role.ADMIN) else None
        panel.update(
            url=url, secret=secret,
            curl=incoming_webhook_service.curl_example(url, secret or "$SECRET"),
            rotate_url=url_for("triggers.rotate_webhook_secret", workflow_id=workflow.id) if secret else None,
            refresh_url=url_for("triggers.webhook_panel", workflow_id=workflow.id),
        )
    return panel


def schedule_panel_context(workflow: Workflow) -> dict:
    """What triggers/_schedule_panel.html needs (as `panel`)."""
    panel = schedule_service.schedule_panel_context(workflow)
    panel["preview_url"] = url_for("triggers.schedule_preview")
    return panel


@panels_bp.get("/<int:workflow_id>/triggers/webhook")
def webhook_panel(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    return render_template("triggers/_webhook_panel.html", panel=webhook_panel_context(workflow))


@panels_bp.get("/<int:workflow_id>/triggers/schedule")
def schedule_panel(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    return render_template("triggers/_schedule_panel.html", panel=schedule_panel_context(workflow))


@panels_bp.post("/<int:workflow_id>/triggers/webhook/rotate")
@require_role(Role.ADMIN)
def rotate_webhook_secret(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    if workflow.trigger_type != incoming_webhook_service.TRIGGER_KEY:
        abort(409, description="This workflow does not use the Webhook Received trigger.")
    incoming_webhook_service.rotate_secret(workflow, current_user)
    db.session.commit()
    return render_template("triggers/_webhook_panel.html", panel=webhook_panel_context(workflow), rotated=True)


@panels_bp.get("/triggers/schedule-preview")
def schedule_preview():
    """The next fire times for the cron and time zone being typed in the editor (htmx, as-you-type)."""
    timezone = _arg_ending_in("timezone") or getattr(g.workspace, "timezone", None) or "UTC"
    panel = schedule_service.preview(_arg_ending_in("cron") or "", timezone)
    return render_template("triggers/_schedule_times.html", panel=panel)


def _arg_ending_in(suffix: str) -> str | None:
    """`cron`, or the editor's own field name for it (e.g. `trigger.config.cron`)."""
    for name, value in request.values.items():
        if name == suffix or name.endswith(("." + suffix, "_" + suffix, "-" + suffix, "[" + suffix + "]")):
            return value
    return None

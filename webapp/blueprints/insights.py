"""Insights (issue #22): how each workflow does over 7, 30 or 90 days, and what it saves.

Behind the AUTOMATIONS_ENABLED flag. Every member views; members set a workflow's minutes saved per run (as they
edit workflows). Workflows are looked up in the current workspace only (another workspace's id is a 404).
"""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from models import Role, Workflow
from services import insights_service
from services.common import is_plain_int
from services.errors import ValidationFailed
from webapp.blueprints.runs import editor_urls
from webapp.extensions import db
from webapp.security import gate_behind_automations_flag, require_role, workspace_get_or_404

bp = Blueprint("insights", __name__, url_prefix="/automations/insights")
gate_behind_automations_flag(bp)


def _period() -> int:
    return insights_service.parse_period(request.args.get("period"))


@bp.get("")
def index():
    raw_page = request.args.get("page", "")
    page = int(raw_page) if is_plain_int(raw_page) and 0 < int(raw_page) < 10**6 else 1
    overview = insights_service.overview(g.workspace.id, _period(), request.args.get("q", ""), page)
    return render_template("insights/index.html", overview=overview, period_choices=insights_service.PERIOD_CHOICES)


def _detail_page(workflow: Workflow, errors=None, form=None, status=200):
    detail = insights_service.workflow_detail(g.workspace, workflow, _period())
    return render_template("insights/workflow.html", detail=detail, period_choices=insights_service.PERIOD_CHOICES,
                           errors=errors or {}, form=form or {}, editor_url=editor_urls([workflow.id])[workflow.id],
                           sample_size=insights_service.DURATION_SAMPLE), status


@bp.get("/<int:workflow_id>")
def workflow(workflow_id):
    return _detail_page(workspace_get_or_404(Workflow, workflow_id))


@bp.post("/<int:workflow_id>/minutes-saved")
@require_role(Role.MEMBER)
def save_minutes_saved(workflow_id):
    workflow = workspace_get_or_404(Workflow, workflow_id)
    try:
        insights_service.set_minutes_saved(workflow, request.form.get("minutes_saved_per_run", ""), current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return _detail_page(workspace_get_or_404(Workflow, workflow_id), failure.errors, request.form, 422)
    minutes = workflow.minutes_saved_per_run
    flash(f"Each completed run of {workflow.name} now saves {minutes} minutes." if minutes is not None
          else f"{workflow.name} no longer counts time saved.", "success")
    return redirect(url_for("insights.workflow", workflow_id=workflow.id, period=request.args.get("period")))

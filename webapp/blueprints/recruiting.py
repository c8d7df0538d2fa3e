"""Recruiting: candidates and their applications through the hiring stages."""
from flask import Blueprint, flash, redirect, request, url_for

from models import Application
from models.vocabulary import ApplicationStage, choices
from services import application_service, common
from webapp.forms import actor, commit_or_errors, error_messages, form_page, workspace_id
from webapp.security import workspace_get_or_404

bp = Blueprint("recruiting", __name__, url_prefix="/recruiting")


@bp.get("")
def index():
    applications = application_service.list_applications(workspace_id())
    return form_page("recruiting/index.html", applications=applications, stages=choices(ApplicationStage),
                     counts={s.value: sum(1 for a in applications if a.stage == s) for s in ApplicationStage})


@bp.route("/new", methods=["GET", "POST"])
def new_application():
    members = common.members(workspace_id())
    if request.method == "GET":
        return form_page("recruiting/application_form.html", members=members)
    application, errors = commit_or_errors(lambda: application_service.create_candidate_with_application(
        workspace_id(), request.form.to_dict(), actor()))
    if errors:
        return form_page("recruiting/application_form.html", 422, form=request.form, errors=errors,
                         members=members)
    flash(f"{application.candidate.name} applied for {application.position}.", "success")
    return redirect(url_for("recruiting.application", application_id=application.id))


def _application_page(application, status=200, errors=None):
    return form_page("recruiting/application.html", status, application=application, stages=choices(ApplicationStage),
                     messages=error_messages(errors or {}))


@bp.get("/applications/<int:application_id>")
def application(application_id):
    return _application_page(workspace_get_or_404(Application, application_id))


@bp.post("/applications/<int:application_id>/stage")
def move_stage(application_id):
    application = workspace_get_or_404(Application, application_id)
    _, errors = commit_or_errors(lambda: application_service.update_application_status(
        workspace_id(), application.id, request.form.get("stage", ""), actor()))
    if errors:
        return _application_page(workspace_get_or_404(Application, application_id), 422, errors)
    flash(f"{application.candidate.name} moved to {ApplicationStage(application.stage).label}.", "success")
    return redirect(url_for("recruiting.application", application_id=application.id))

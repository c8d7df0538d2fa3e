"""The Automations module's pages. Behind the AUTOMATIONS_ENABLED flag: off means every route 404s."""
from flask import Blueprint, abort, render_template

from webapp.layout import automations_enabled

bp = Blueprint("automations", __name__, url_prefix="/automations")


@bp.before_request
def require_feature_flag():
    if not automations_enabled():
        abort(404)


@bp.get("")
def workflows():
    return render_template("automations/workflows.html")


@bp.get("/new")
def new_workflow():
    return render_template("automations/editor.html")


@bp.get("/templates")
def templates():
    return render_template("automations/templates.html")


@bp.get("/runs")
def runs():
    return render_template("automations/runs.html")

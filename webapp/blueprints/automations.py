"""The Automations module's pages. Behind the AUTOMATIONS_ENABLED flag: off means every route 404s."""
from flask import Blueprint, render_template

from webapp.security import gate_behind_automations_flag

bp = Blueprint("automations", __name__, url_prefix="/automations")
gate_behind_automations_flag(bp)


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

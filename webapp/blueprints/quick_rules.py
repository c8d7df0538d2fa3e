"""Settings → Quick Rules (/settings/automations): the system rules as on/off switches.

Everyone in the workspace can read the page; switching a rule is for admins and owners (403).
"""
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from engine.core.catalog import ACTIONS, MODULES, TRIGGERS
from models import Role
from models.vocabulary import parse_bool
from services import quick_rules_service
from services.errors import NotFound, PermissionDenied, ValidationFailed
from webapp.extensions import db
from webapp.security import current_role, has_role

bp = Blueprint("quick_rules", __name__, url_prefix="/settings/automations")

def _row_view(row: dict) -> dict:
    rule = row["rule"]
    trigger = TRIGGERS.get(rule.trigger_type)
    action = ACTIONS.get((rule.action or {}).get("type"))
    return dict(row, trigger_label=trigger.label if trigger else rule.trigger_type,
                action_label=action.label if action else "", action_icon=action.icon if action else "lightning")


def _grouped(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    groups = [(module, [r for r in rows if r["rule"].module == module]) for module in MODULES]
    others = [r for r in rows if r["rule"].module not in MODULES]
    return [(m, members) for m, members in groups if members] + ([("Other", others)] if others else [])


@bp.get("")
def index():
    rows = [_row_view(row) for row in quick_rules_service.list_rules(g.workspace.id)]
    return render_template(
        "quick_rules/index.html",
        groups=_grouped(rows),
        enabled_count=sum(1 for row in rows if row["enabled"]),
        rule_count=len(rows),
        can_edit=has_role(Role.ADMIN),
        engine_on=bool(current_app.config["AUTOMATIONS_ENABLED"]),
    )


@bp.post("/<int:rule_id>")
def toggle(rule_id):
    wanted = parse_bool(request.form.get("enabled") or "")
    if wanted is None:
        abort(400, description="Send enabled=on or enabled=off.")
    try:
        row = quick_rules_service.set_rule_enabled(
            g.workspace.id, rule_id, wanted, current_user, current_role()
        )
        db.session.commit()
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, description=str(denied))
    except NotFound as missing:
        db.session.rollback()
        abort(404, description=str(missing))
    except ValidationFailed as failure:  # a system rule the catalog no longer accepts
        db.session.rollback()
        abort(422, description=f"This rule cannot run as defined: {failure}")
    if request.htmx:
        return render_template("quick_rules/_rule_row.html", row=_row_view(row), can_edit=True, just_changed=True,
                               enabled_count=quick_rules_service.enabled_count(g.workspace.id), count_oob=True)
    flash(f"Quick Rule {'switched on' if row['enabled'] else 'switched off'}: {row['rule'].name}", "success")
    return redirect(url_for("quick_rules.index"))

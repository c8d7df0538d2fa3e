"""The Automations module's workflow pages: the list and the visual editor. Behind the feature flag."""
import json

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from engine.core.catalog import ACTIONS, TRIGGERS, actions_by_module, sample_payload, triggers_by_module
from models import Role, db
from models.templates import TEMPLATE_CATEGORIES
from models.vocabulary import RunStatus, WorkflowStatus, labels
from services import (execution_service, run_history_service, schedule_service, template_service, workflow_listing,
                      webhook_service, workflow_service, workflow_settings, workspace_service)
from services.common import is_plain_int
from services.errors import NotFound, PermissionDenied, ValidationFailed
from webapp.blueprints.hooks import schedule_panel_context, webhook_panel_context
from webapp.editor_form import (apply_edit, blank_definition, definition_from_form, editor_context, first_error_card,
                                position_in_order)
from webapp.security import (current_role, editable_workflow_or_404, gate_behind_automations_flag, has_role,
                             require_role)

bp = Blueprint("automations", __name__, url_prefix="/automations")
gate_behind_automations_flag(bp)

MODULE_ICONS = {"CRM": "people", "Projects": "kanban", "Support": "life-preserver", "Finance": "receipt",
                "Recruiting": "person-badge", "Platform": "lightning-charge"}
STATUS_INTENTS = {"activate": WorkflowStatus.ACTIVE, "pause": WorkflowStatus.PAUSED, "archive": WorkflowStatus.ARCHIVED,
                  "draft": WorkflowStatus.DRAFT}


def _member_choices():
    return [(str(m.user_id), m.user.display_name) for m in workspace_service.list_members(g.workspace)]


@bp.get("")
def workflows():
    status = request.args.get("status", "all")
    sort = request.args.get("sort", "updated")
    search = request.args.get("q", "")
    page = request.args.get("page", "1")
    listing = workflow_listing.list_workflows(
        g.workspace.id, status if status in workflow_listing.STATUS_TABS else "all", search,
        sort if sort in workflow_listing.SORTS else "updated", int(page) if is_plain_int(page) else 1,
    )
    return render_template(
        "automations/workflows.html", listing=listing, status=status, sort=sort, search=search,
        sorts=workflow_listing.SORTS, tabs=workflow_listing.STATUS_TABS, triggers=TRIGGERS,
        status_labels=labels(WorkflowStatus),
        can_delete=has_role(Role.ADMIN), stats_strip=_stats_strip(),
    )


def _stats_strip(workflow_id=None):
    """The 4-column stats strip: the workspace's runs of the last 30 days, or one workflow's."""
    return run_history_service.stats(g.workspace.id, period_days=30, workflow_id=workflow_id)


def _trigger_extras(definition, workflow) -> dict:
    """The schedule or webhook panel of the trigger pane (only a saved workflow has a schedule or a URL)."""
    trigger_type = definition["trigger"].get("type")
    saved_as = workflow.trigger_type if workflow else None
    extras = {"schedule_panel": None, "webhook_panel": None, "schedule_preview": None,
              "cron_presets": schedule_service.CRON_PRESETS}
    if trigger_type == "scheduled":
        if saved_as == "scheduled":
            extras["schedule_panel"] = schedule_panel_context(workflow)
        config = definition["trigger"].get("config") or {}
        extras["schedule_preview"] = schedule_service.preview(config.get("cron", ""), config.get("timezone") or g.workspace.timezone)
    elif trigger_type == "webhook_received" and saved_as == "webhook_received":
        extras["webhook_panel"] = webhook_panel_context(workflow)
    return extras


def _operating_settings(workflow) -> dict:
    """The settings panel (failure alerts, auto-pause, runs at once): the values being edited (a re-render or a
    refused save), else the workflow's; who may change them; the workspace's default."""
    edited = workflow_settings.settings_from_form(request.form) if request.method == "POST" else {}
    stored = workflow.settings if workflow else {}
    cap = workflow.max_concurrent_runs if workflow else None
    return {
        "alert_on_failure": edited.get(workflow_settings.ALERT_ON_FAILURE, workflow_settings.alert_on_failure(stored)),
        "auto_pause_after_failures": edited.get(workflow_settings.AUTO_PAUSE_AFTER_FAILURES,
                                                workflow_settings.auto_pause_override(stored)),
        "max_concurrent_runs": request.form[workflow_settings.MAX_CONCURRENT_RUNS]
        if workflow_settings.MAX_CONCURRENT_RUNS in request.form else "" if cap is None else str(cap),
        "max_concurrent_runs_limit": workflow_settings.MAX_CONCURRENT_RUNS_LIMIT,
        "workspace_default": g.workspace.auto_pause_after_failures,
        "can_change": workflow_settings.may_change(current_role()),
    }


def _settings_errors(settings: dict) -> dict:
    try:
        workflow_settings.clean_settings(settings)
    except ValidationFailed as failure:
        return failure.errors
    return {}


def _save_settings(workflow, settings: dict) -> None:
    """The settings panel's fields, when the form has them (owners and admins; PermissionDenied otherwise)."""
    if settings:
        workflow_settings.update_settings(workflow, settings, current_user, current_role())


def _render_editor(definition, workflow=None, errors=None, selected=None, status=200, needs_input=False, add_target=""):
    if errors and selected is None:
        selected = first_error_card(errors, definition)
    context = editor_context(definition, errors, selected, _member_choices(), add_target)
    context.update(_trigger_extras(definition, workflow))
    template = "automations/_editor_body.html" if request.htmx and request.endpoint == "automations.render_editor" else "automations/editor.html"
    return render_template(
        template, workflow=workflow, triggers_by_module=triggers_by_module(), actions_by_module=actions_by_module(),
        sample_payload=json.dumps(sample_payload(definition["trigger"]["type"]), indent=2, ensure_ascii=False) if definition["trigger"]["type"] in TRIGGERS else "{}",
        can_delete=has_role(Role.ADMIN), stats_strip=_stats_strip(workflow.id) if workflow else None,
        needs_input=needs_input, template_categories=TEMPLATE_CATEGORIES, operating_settings=_operating_settings(workflow),
        workflow_status=WorkflowStatus(workflow.status) if workflow else WorkflowStatus.DRAFT, **context,
    ), status


@bp.get("/new")
def new_workflow():
    trigger = request.args.get("trigger", "deal_created")
    return _render_editor(blank_definition(trigger if trigger in TRIGGERS else "deal_created", g.workspace.timezone))


@bp.get("/<int:workflow_id>")
def edit_workflow(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    problems = workflow_service.definition_problems(workflow)
    return _render_editor(workflow.definition(), workflow, errors=problems, needs_input=bool(problems))


@bp.post("/editor/render")
def render_editor():
    """A structural edit (add/remove/move an action, trigger change, conditions): re-render the editor body."""
    definition = definition_from_form(request.form)
    edit = request.form.get("edit", "")
    # "+ Add step" in a branch path chooses where the palette adds (until a step is added there)
    add_target = request.form.get("arg", "") if edit == "choose_path" else request.form.get("add_target", "")
    definition, selected = apply_edit(definition, edit, request.form.get("arg", ""), add_target,
                                      time_zone=g.workspace.timezone)
    if edit == "add_action":
        add_target = ""
    workflow = None
    if is_plain_int(request.form.get("workflow_id", "")):
        workflow = editable_workflow_or_404(request.form["workflow_id"])
    kept = request.form.get("selected", "")
    if selected is None and request.form.get("edit") != "remove_action":
        selected = (position_in_order(request.form, int(kept), definition) if is_plain_int(kept)
                    else kept if kept in ("trigger", "conditions") else None)
    return _render_editor(definition, workflow, selected=selected, add_target=add_target)


@bp.post("/new")
def create_workflow():
    definition = definition_from_form(request.form)
    intent = request.form.get("intent", "save")
    definition["status"] = (WorkflowStatus.ACTIVE if intent == "activate" else WorkflowStatus.DRAFT).value
    settings = workflow_settings.settings_from_form(request.form)
    settings_errors = _settings_errors(settings)
    errors = dict(settings_errors)
    try:
        workflow = workflow_service.create_workflow(g.workspace.id, definition, current_user,
                                                    note=request.form.get("version_note", ""))
        if not errors:
            _save_settings(workflow, settings)
            db.session.commit()
    except ValidationFailed as failure:
        errors = {**failure.errors, **errors}
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, description=str(denied))
    if errors:
        db.session.rollback()
        return _render_editor(definition, errors=errors, status=422, selected=_settings_pane_if_only(errors, settings_errors))
    flash(f"Workflow saved{' and activated' if workflow.status == WorkflowStatus.ACTIVE else ' as a draft'}.", "success")
    return redirect(url_for("automations.edit_workflow", workflow_id=workflow.id))


@bp.post("/<int:workflow_id>")
def save_workflow(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    definition = definition_from_form(request.form)
    intent = request.form.get("intent", "save")
    settings = workflow_settings.settings_from_form(request.form)
    settings_errors = _settings_errors(settings)
    errors = dict(settings_errors)
    try:
        workflow_service.update_workflow(workflow, definition, current_user, note=request.form.get("version_note", ""))
        if not errors:
            _save_settings(workflow, settings)
            if intent in STATUS_INTENTS:
                workflow_service.set_status(workflow, STATUS_INTENTS[intent], current_user)
            db.session.commit()
    except ValidationFailed as failure:
        errors = {**failure.errors, **errors}
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, description=str(denied))
    if errors:
        db.session.rollback()
        workflow = editable_workflow_or_404(workflow_id)
        return _render_editor(definition, workflow, errors=errors, status=422,
                              selected=_settings_pane_if_only(errors, settings_errors))
    flash(_saved_message(workflow, intent), "success")
    return redirect(url_for("automations.edit_workflow", workflow_id=workflow.id))


def _settings_pane_if_only(errors: dict, settings_errors: dict) -> str | None:
    """Open the Settings pane when the only errors are in it (else the first card in error opens)."""
    return "settings" if set(errors) <= set(settings_errors) else None


def _saved_message(workflow, intent) -> str:
    return {"activate": "Saved and activated: it now fires on matching events.", "pause": "Saved and paused."}.get(
        intent, "Saved. New runs use this version." if workflow.status == WorkflowStatus.ACTIVE else "Saved.")


@bp.post("/<int:workflow_id>/status")
def change_status(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    status = request.form.get("status", "")
    try:
        workflow_service.set_status(workflow, status, current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in failure.errors.items())
        flash(f"{workflow.name} cannot be {status}: {problems}", "error")
        return redirect(request.form.get("next") or url_for("automations.edit_workflow", workflow_id=workflow_id))
    flash(f"{workflow.name} is now {workflow.status}.", "success")
    return redirect(_local(request.form.get("next")) or url_for("automations.workflows"))


@bp.post("/<int:workflow_id>/duplicate")
def duplicate(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    copy = workflow_service.duplicate_workflow(workflow, current_user)
    db.session.commit()
    flash(f"Duplicated as {copy.name!r} (draft).", "success")
    return redirect(url_for("automations.edit_workflow", workflow_id=copy.id))


@bp.post("/<int:workflow_id>/delete")
@require_role(Role.ADMIN)
def delete(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    name = workflow.name
    workflow_service.delete_workflow(workflow, current_user)
    db.session.commit()
    flash(f"Deleted {name!r}. Its past runs stay in the Runs tab.", "success")
    return redirect(url_for("automations.workflows"))


@bp.post("/<int:workflow_id>/run")
def run_now(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    raw = request.form.get("payload", "").strip() or "{}"
    try:
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError
    except ValueError:
        return render_template("automations/_run_now_form.html", workflow=workflow, payload_text=raw,
                               error="The payload must be a JSON object, e.g. {\"deal\": {\"title\": \"…\"}}."), 422
    execution = execution_service.run_now(workflow, payload, current_user)
    db.session.commit()
    return render_template("automations/_run_live.html", execution=execution, workflow=workflow)


@bp.get("/<int:workflow_id>/runs/<int:execution_id>/live")
def run_live(workflow_id, execution_id):
    workflow = editable_workflow_or_404(workflow_id)
    try:
        execution = execution_service.get_execution(g.workspace.id, execution_id)
    except NotFound:
        abort(404)
    if execution.workflow_id != workflow.id:
        abort(404)
    return render_template("automations/_run_live.html", execution=execution, workflow=workflow)


def _local(target):
    return target if target and target.startswith("/") and not target.startswith("//") else None


@bp.app_template_global()
def execution_is_over(status: str) -> bool:
    return RunStatus(status).is_terminal


@bp.app_template_global()
def action_label(action_type: str) -> str:
    action = ACTIONS.get(action_type)
    return action.label if action else action_type


@bp.app_template_global()
def trigger_label(trigger_type: str) -> str:
    trigger = TRIGGERS.get(trigger_type)
    return f"{trigger.module} · {trigger.label}" if trigger else trigger_type


@bp.get("/templates")
def templates():
    search = request.args.get("q", "")
    items = template_service.gallery(g.workspace.id, search)
    cards = [{"template": t, "chips": template_service.summary(t),
              "module": TRIGGERS[t.definition["trigger"]["type"]].module if t.definition["trigger"]["type"] in TRIGGERS else ""}
             for t in items]
    featured = [card for card in cards if card["template"].featured and card["template"].is_system]
    # each card once: a featured template is not repeated in its category
    by_category = [(category, [c for c in cards if c["template"].category == category and c not in featured])
                   for category in TEMPLATE_CATEGORIES]
    return render_template("automations/templates.html", featured=featured, by_category=by_category, search=search,
                           can_publish=has_role(Role.ADMIN), total=len(cards), module_icons=MODULE_ICONS,
                           in_workspace=template_service.used_in_workspace(g.workspace.id))


@bp.post("/templates/<template_ref>/use")
def use_template(template_ref):
    try:
        template = template_service.get_template(g.workspace.id, template_ref)
    except NotFound:
        abort(404)
    workflow = template_service.use_template(template, g.workspace.id, current_user)
    db.session.commit()
    flash(f"“{template.name}” copied into your workspace as a draft. Review it, save, then activate.", "success")
    return redirect(url_for("automations.edit_workflow", workflow_id=workflow.id))


@bp.post("/templates/<int:template_id>/delete")
@require_role(Role.ADMIN)
def delete_template(template_id):
    try:
        template = template_service.get_template(g.workspace.id, template_id)
        template_service.delete_workspace_template(template, g.workspace.id, current_user)
    except NotFound:
        abort(404)
    db.session.commit()
    flash("Template removed from this workspace's gallery.", "success")
    return redirect(url_for("automations.templates"))


@bp.post("/<int:workflow_id>/publish")
@require_role(Role.ADMIN)
def publish(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    try:
        template = template_service.publish_workflow(workflow, request.form, current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in failure.errors.items())
        flash(f"Not published: {problems}", "error")
        return redirect(url_for("automations.edit_workflow", workflow_id=workflow_id)), 303
    flash(f"Published “{template.name}” to this workspace's template gallery.", "success")
    return redirect(url_for("automations.templates"))

"""A workflow's History tab (versions, status changes, diffs, restore) and workflow files (export, import).
Issue #21, DESIGN.md "Versions and files". Members read history and export; owners and admins restore and import."""
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from engine.core.definition_diff import diff_definitions
from engine.core.schemas import validate_definition

from models import Role, db
from services import version_service, workflow_files, workflow_service
from services.common import is_plain_int
from services.errors import NotFound, ValidationFailed
from webapp.editor_form import definition_from_form
from webapp.security import editable_workflow_or_404, gate_behind_automations_flag, has_role, require_role

bp = Blueprint("workflow_versions", __name__, url_prefix="/automations")
gate_behind_automations_flag(bp)

DRAFT = "draft"


def _ref(value: str | None, default):
    """A version number or "draft" from the query string (anything else: the default)."""
    if value == DRAFT:
        return DRAFT
    return int(value) if is_plain_int(value or "") and 0 < int(value) < 2**31 else default


@bp.get("/<int:workflow_id>/history")
def history(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    before = request.args.get("before", "")
    entries, next_before = version_service.history(workflow, int(before) if is_plain_int(before) and int(before) < 2**31 else None)
    numbers = [entry.version.number for entry in entries if entry.version]
    newest = workflow.version
    compare_to = _ref(request.args.get("to"), newest)
    compare_from = _ref(request.args.get("from"), (compare_to - 1) if isinstance(compare_to, int) and compare_to > 1 else None)
    changes, problem = None, None
    if compare_from is not None:
        try:
            _old, _new, changes = version_service.diff(workflow, compare_from, compare_to)
        except NotFound as missing:
            problem = str(missing)
    return render_template(
        "automations/history.html", workflow=workflow, entries=entries, next_before=next_before, numbers=numbers,
        compare_from=compare_from, compare_to=compare_to, changes=changes, problem=problem,
        can_restore=has_role(Role.ADMIN),
    )


@bp.post("/<int:workflow_id>/history/unsaved")
def unsaved_changes(workflow_id):
    """The editor's unsaved draft (its posted form) against the saved version, in words; writes nothing."""
    workflow = editable_workflow_or_404(workflow_id)
    draft = definition_from_form(request.form)
    clean, _errors = validate_definition(draft)
    changes = diff_definitions(version_service.versioned_definition(workflow),
                               version_service.versioned_definition(clean or draft))
    return render_template("automations/_unsaved_diff.html", workflow=workflow, changes=changes)


@bp.get("/<int:workflow_id>/history/<int:number>/restore")
@require_role(Role.ADMIN)
def confirm_restore(workflow_id, number):
    workflow = editable_workflow_or_404(workflow_id)
    try:
        version = version_service.get_version(workflow, number)
    except NotFound as missing:
        abort(404, description=str(missing))
    _old, _new, changes = version_service.diff(workflow, DRAFT, version.number)
    return render_template("automations/restore.html", workflow=workflow, version=version, changes=changes)


@bp.post("/<int:workflow_id>/history/<int:number>/restore")
@require_role(Role.ADMIN)
def restore(workflow_id, number):
    workflow = editable_workflow_or_404(workflow_id)
    try:
        workflow_service.restore_version(workflow, number, current_user)
        db.session.commit()
    except NotFound as missing:
        db.session.rollback()
        abort(404, description=str(missing))
    except ValidationFailed as failure:
        db.session.rollback()
        problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in failure.errors.items())
        flash(f"Version {number} was not restored: {problems}", "error")
        return redirect(url_for("workflow_versions.history", workflow_id=workflow_id))
    flash(f"Restored version {number} as version {workflow.version}. The status did not change.", "success")
    return redirect(url_for("workflow_versions.history", workflow_id=workflow_id))


def _download(body, filename: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/<int:workflow_id>/export")
def export(workflow_id):
    workflow = editable_workflow_or_404(workflow_id)
    return _download(workflow_files.export_text(workflow), workflow_files.filename(workflow), "application/json")


@bp.get("/export.zip")
@require_role(Role.ADMIN)
def export_all():
    workflows = workflow_service.editable_workflows(g.workspace.id)
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return _download(workflow_files.export_zip(workflows), f"workflows-{day}.zip", "application/zip")


@bp.get("/import")
@require_role(Role.ADMIN)
def import_page():
    return render_template("automations/import.html", errors={}, pasted="")


@bp.post("/import")
@require_role(Role.ADMIN)
def import_file():
    upload = request.files.get("file")
    pasted = request.form.get("json", "")
    try:
        if upload is not None and upload.filename:
            raw = upload.read(workflow_files.MAX_ZIP_BYTES + 1)
            if upload.filename.lower().endswith(".zip"):
                imported = workflow_files.import_zip(g.workspace.id, raw, current_user)
                db.session.commit()
                flash(f"Imported {len(imported)} workflow{'s' if len(imported) != 1 else ''} as drafts.", "success")
                return redirect(url_for("automations.workflows", status="draft"))
            workflow, blanked = workflow_files.import_text(g.workspace.id, raw, current_user)
        else:
            workflow, blanked = workflow_files.import_text(g.workspace.id, pasted, current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return render_template("automations/import.html", errors=failure.errors, pasted=pasted[:200_000]), 422
    needs = workflow_service.definition_problems(workflow)
    message = f"Imported “{workflow.name}” as a draft."
    if blanked:
        message += f" {len(blanked)} value{'s' if len(blanked) != 1 else ''} of the source workspace were left blank"
        message += f"; fill in the {len(needs)} marked in red before activating." if needs else "."
    flash(message, "success")
    return redirect(url_for("automations.edit_workflow", workflow_id=workflow.id))

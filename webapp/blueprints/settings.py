"""Workspace settings: the workspace itself (time zone), members and invitations (owners and admins change
roles, remove members and revoke invitations; only owners touch owners; the last owner stays)."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from models import Role
from services import retention_service, workflow_settings, workspace_service
from services.errors import NotFound, PermissionDenied, ValidationFailed
from webapp.extensions import db
from webapp.security import has_role, require_role

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _members_page(errors=None, form=None, status=200):
    return render_template(
        "settings/members.html",
        members=workspace_service.list_members(g.workspace),
        invitations=workspace_service.pending_invitations(g.workspace) if has_role(Role.ADMIN) else [],
        can_invite=has_role(Role.ADMIN),
        is_owner=has_role(Role.OWNER),
        roles=workspace_service.ROLE_VALUES,
        expires_at=workspace_service.invitation_expires_at,
        errors=errors or {},
        form=form or {},
    ), status


@bp.get("/members")
def members():
    return _members_page()


@bp.post("/members/invitations")
@require_role(Role.ADMIN)
def invite():
    try:
        invitation = workspace_service.invite_member(
            g.workspace, request.form.get("email", ""), request.form.get("role", ""), current_user
        )
        link = url_for("auth.accept_invitation", token=invitation.token, _external=True)
        workspace_service.send_invitation_email(invitation, link, current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return _members_page(failure.errors, request.form, 422)
    flash(f"Invitation emailed to {invitation.email}. You can also send them this link: {link}", "success")
    return redirect(url_for("settings.members"))


def _workspace_page(errors=None, form=None, status=200, retention_errors=None, retention_form=None):
    return render_template(
        "settings/workspace.html", time_zones=workspace_service.time_zone_choices(), can_edit=has_role(Role.ADMIN),
        errors=errors or {}, form=form or {}, retention=_retention_context(retention_errors, retention_form),
    ), status


def _retention_context(errors=None, form=None) -> dict:
    """The Data retention section (settings/_retention.html): the period, the default, what each table holds."""
    return {"days": retention_service.retention_days(g.workspace), "own_days": g.workspace.run_retention_days,
            "default_days": retention_service.default_days(), "min_days": retention_service.MIN_DAYS,
            "max_days": retention_service.MAX_DAYS, "sizes": retention_service.table_sizes(g.workspace),
            "checked_at": g.workspace.retention_checked_at, "errors": errors or {}, "form": form or {}}


@bp.get("/workspace")
def workspace():
    return _workspace_page()


@bp.post("/workspace/failed-runs")
@require_role(Role.ADMIN)
def save_failed_runs_policy():
    """The workspace's auto-pause default: workflows pause after this many failed runs in a row (0 = never)."""
    try:
        workflow_settings.set_workspace_auto_pause(g.workspace, request.form.get("auto_pause_after_failures"), current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return _workspace_page(failure.errors, request.form, 422)
    value = g.workspace.auto_pause_after_failures
    flash(f"Workflows now pause after {value} failed runs in a row, unless they say otherwise." if value else
          "Workflows no longer pause after failed runs, unless they say otherwise.", "success")
    return redirect(url_for("settings.workspace"))


@bp.post("/workspace")
@require_role(Role.ADMIN)
def save_workspace():
    try:
        workspace_service.set_time_zone(g.workspace, request.form.get("timezone", ""), current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return _workspace_page(failure.errors, request.form, 422)
    flash(f"Times are now shown in {g.workspace.timezone}.", "success")
    return redirect(url_for("settings.workspace"))


@bp.post("/workspace/retention")
@require_role(Role.ADMIN)
def save_retention():
    try:
        retention_service.set_retention_days(g.workspace, request.form.get("run_retention_days", ""), current_user)
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return _workspace_page(status=422, retention_errors=failure.errors, retention_form=request.form)
    days = retention_service.retention_days(g.workspace)
    flash(f"Run history is now kept for {days} days." if days else "Run history is now kept forever.", "success")
    return redirect(url_for("settings.workspace") + "#retention")


def _manage(change, done_message):
    """Run one member change; a refused one shows the members page with the reason (403/404/422)."""
    try:
        result = change()
        db.session.commit()
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, description=str(denied))
    except NotFound as missing:
        db.session.rollback()
        abort(404, description=str(missing))
    except ValidationFailed as failure:
        db.session.rollback()
        return _members_page(failure.errors, {}, 422)
    flash(done_message(result), "success")
    return redirect(url_for("settings.members"))


@bp.post("/members/<int:membership_id>/role")
@require_role(Role.ADMIN)
def change_role(membership_id):
    return _manage(
        lambda: workspace_service.change_role(g.workspace, membership_id, request.form.get("role", ""), current_user),
        lambda membership: f"{membership.user.email} is now {membership.role}.")


@bp.post("/members/<int:membership_id>/remove")
@require_role(Role.ADMIN)
def remove_member(membership_id):
    return _manage(lambda: workspace_service.remove_member(g.workspace, membership_id, current_user),
                   lambda user: f"{user.email} was removed from {g.workspace.name}.")


@bp.post("/members/invitations/<int:invitation_id>/revoke")
@require_role(Role.ADMIN)
def revoke_invitation(invitation_id):
    return _manage(lambda: workspace_service.revoke_invitation(g.workspace, invitation_id, current_user),
                   lambda invitation: f"The invitation for {invitation.email} was revoked.")

"""Workspace settings: members and invitations."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from models import Role
from services import workspace_service
from services.errors import ValidationFailed
from webapp.extensions import db
from webapp.security import has_role, require_role

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _members_page(errors=None, form=None, status=200):
    return render_template(
        "settings/members.html",
        members=workspace_service.list_members(g.workspace),
        invitations=workspace_service.pending_invitations(g.workspace) if has_role(Role.ADMIN) else [],
        can_invite=has_role(Role.ADMIN),
        roles=workspace_service.ROLE_VALUES,
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

"""Settings → API tokens: owners and admins list, create (the secret is shown once) and revoke tokens."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from models import Role
from services import api_token_service
from services.errors import ValidationFailed
from webapp.extensions import db
from webapp.forms import actor, not_found_is_404
from webapp.security import require_role

bp = Blueprint("api_tokens", __name__, url_prefix="/settings/api-tokens")


def _page(status=200, *, form=None, errors=None, new_secret=None, new_token=None):
    return render_template(
        "settings/api_tokens.html",
        tokens=api_token_service.list_tokens(g.workspace.id),
        form=form or {}, errors=errors or {}, new_secret=new_secret, new_token=new_token,
        api_base=url_for("api_v1.openapi_document", _external=True).rsplit("/", 1)[0],
    ), status


@bp.get("")
@require_role(Role.ADMIN)
def index():
    return _page()


@bp.post("")
@require_role(Role.ADMIN)
def create():
    """The new secret is rendered in this response only (never stored, never redirected with)."""
    try:
        # A token acts as you: nobody can mint one that acts as someone else (and maybe with a higher role).
        token, secret = api_token_service.create_token(g.workspace, actor(), request.form.get("name", ""), actor())
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return _page(422, form=request.form, errors=failure.errors)
    response = _page(201, new_secret=secret, new_token=token)
    return response[0], 201, {"Cache-Control": "no-store"}


@bp.post("/<int:token_id>/revoke")
@require_role(Role.ADMIN)
def revoke(token_id):
    with not_found_is_404():
        token = api_token_service.get_token(g.workspace.id, token_id)
    if api_token_service.revoke_token(token, actor()):
        db.session.commit()
        flash(f"Token “{token.name}” revoked: requests with it now get 401.", "success")
    else:
        flash(f"Token “{token.name}” was already revoked.", "info")
    return redirect(url_for("api_tokens.index"))

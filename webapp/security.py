"""Login, current workspace and role checks: the one place every view's scope comes from."""
from functools import wraps

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import select

from models import Membership, Role, User, Workflow, db
from services import workflow_service
from services.errors import NotFound
from webapp.extensions import FRONT_DOOR_BLUEPRINTS, login_manager

WORKSPACE_SESSION_KEY = "workspace_id"


def public(view):
    """Mark a view as reachable without logging in (every other view requires a login)."""
    view.is_public = True
    return view


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    raw_id, _, token = user_id.partition(":")
    if not raw_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or user.session_token != token:
        return None
    return user


def enforce_login_and_load_workspace():
    """before_request: anonymous users go to the login page; others get g.workspace and g.membership."""
    g.workspace = None
    g.membership = None
    if request.endpoint == "static" or request.blueprint in FRONT_DOOR_BLUEPRINTS:  # webapp.api.auth loads the token's user
        return None
    view = current_app_view()
    if view is None or getattr(view, "is_public", False):
        if current_user.is_authenticated:
            load_current_membership()
        return None
    if not current_user.is_authenticated:
        if request.path.startswith("/api/"):
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    if load_current_membership() is None:
        abort(403, description="You do not belong to any workspace yet. Ask an admin for an invitation.")
    return None


def current_app_view():
    if request.endpoint is None:
        return None
    return current_app.view_functions.get(request.endpoint)


def load_current_membership() -> Membership | None:
    memberships = user_memberships(current_user)
    if not memberships:
        return None
    wanted = session.get(WORKSPACE_SESSION_KEY)
    membership = next((m for m in memberships if m.workspace_id == wanted), memberships[0])
    session[WORKSPACE_SESSION_KEY] = membership.workspace_id
    g.membership = membership
    g.workspace = membership.workspace
    return membership


def user_memberships(user) -> list[Membership]:
    return list(
        db.session.scalars(
            select(Membership).where(Membership.user_id == user.id).order_by(Membership.workspace_id)
        )
    )


def current_role() -> Role | None:
    return g.membership.role_enum if getattr(g, "membership", None) else None


def has_role(minimum: Role) -> bool:
    role = current_role()
    return role is not None and role.rank >= minimum.rank


def require_role(minimum: Role):
    """Decorator: 403 unless the current user's role in the current workspace is at least `minimum`."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not has_role(minimum):
                abort(403, description=f"This needs the {minimum.value} role or higher in this workspace.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def workspace_get_or_404(model, object_id):
    """Load one row of the current workspace by id; another workspace's id is a 404, never a leak."""
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    row = db.session.scalar(
        select(model).where(model.id == object_id, model.workspace_id == g.workspace.id)
    )
    if row is None:
        abort(404)
    return row


def editable_workflow_or_404(workflow_id) -> Workflow:
    """A workflow of the current workspace that people edit: Quick Rule workflows are 404, like another
    workspace's (workflow_service.get_editable_workflow)."""
    try:
        return workflow_service.get_editable_workflow(g.workspace.id, workflow_id)
    except NotFound as missing:
        abort(404, description=str(missing))


def gate_behind_automations_flag(blueprint) -> None:
    """Every route of this blueprint 404s while AUTOMATIONS_ENABLED is off (the spec's feature flag)."""

    @blueprint.before_request
    def require_automations_flag():
        if not current_app.config["AUTOMATIONS_ENABLED"]:
            abort(404)

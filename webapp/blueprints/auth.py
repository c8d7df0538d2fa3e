"""Sign-in, sign-out, sign-up, workspace switching and accepting invitations."""
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from services import workspace_service
from services.errors import NotFound, ValidationFailed
from webapp.extensions import db, limiter
from webapp.security import WORKSPACE_SESSION_KEY, public

bp = Blueprint("auth", __name__)
TOO_MANY = "Too many attempts. Wait a minute, then try again."


# --- Throttling (Flask-Limiter): per account and per client address, on POSTs only ----------------------

def _per_account():
    return current_app.config["AUTH_RATE_LIMIT_PER_ACCOUNT"]


def _per_address():
    return current_app.config["AUTH_RATE_LIMIT_PER_ADDRESS"]


def _address_key() -> str:
    return f"address:{request.remote_addr or 'unknown'}"


def _email_key() -> str:
    return f"email:{request.form.get('email', '').strip().lower()}"


def _invitation_key() -> str:
    return f"invitation:{request.view_args.get('token', '')}"


def _user_key() -> str:
    return f"user:{current_user.get_id() or 'anonymous'}"


def _refused(response) -> bool:
    """Only refusals count against sign-in and password-change limits (a success answers with a redirect)."""
    return response.status_code != 302


def throttled(account_key, deduct_when=None):
    """Limit a view's POSTs per account (`account_key`) and per client address."""

    def decorator(view):
        common = {"methods": ["POST"], "deduct_when": deduct_when, "error_message": TOO_MANY}
        view = limiter.limit(_per_account, key_func=account_key, **common)(view)
        return limiter.limit(_per_address, key_func=_address_key, **common)(view)

    return decorator


def _safe_next(target: str | None) -> str:
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("main.dashboard")


def _start_session(user, workspace_id=None) -> None:
    """A fresh session at login: nothing from the anonymous session survives (no fixation)."""
    session.clear()
    workspace_service.rotate_session_token(user)
    db.session.commit()
    login_user(user)
    session.permanent = True
    if workspace_id is not None:
        session[WORKSPACE_SESSION_KEY] = workspace_id


@bp.route("/login", methods=["GET", "POST"])
@public
@throttled(_email_key, deduct_when=_refused)
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("main.dashboard"))
    errors = {}
    email = request.form.get("email", "")
    if request.method == "POST":
        user = workspace_service.authenticate(email, request.form.get("password", ""))
        if user is None:
            errors["form"] = "Wrong email or password."
        else:
            _start_session(user)
            return redirect(_safe_next(request.args.get("next")))
    status = 422 if errors else 200
    return render_template("auth/login.html", errors=errors, email=email), status


@bp.post("/logout")
def logout():
    workspace_service.rotate_session_token(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
@public
@throttled(_email_key)
def signup():
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            workspace, user = workspace_service.create_workspace(
                form.get("workspace_name", ""), form.get("email", ""), form.get("password", ""), form.get("name", "")
            )
            db.session.commit()
        except ValidationFailed as failure:
            db.session.rollback()
            errors = failure.errors
        else:
            _start_session(user, workspace.id)
            flash(f"Welcome to {workspace.name}.", "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/signup.html", errors=errors, form=form), 422 if errors else 200


@bp.post("/workspaces/switch")
def switch_workspace():
    membership = workspace_service.membership_in(current_user, request.form.get("workspace_id"))
    if membership is None:
        abort(404)
    session[WORKSPACE_SESSION_KEY] = membership.workspace_id
    flash(f"Switched to {membership.workspace.name}.", "info")
    return redirect(url_for("main.dashboard"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@public
@throttled(_invitation_key)
def accept_invitation(token):
    try:
        invitation = workspace_service.open_invitation(token)
    except NotFound as missing:
        abort(404, description=str(missing))
    errors = {}
    signed_in = current_user.is_authenticated
    if request.method == "POST":
        try:
            user = workspace_service.accept_invitation(
                token,
                user=current_user if signed_in else None,
                password=request.form.get("password", ""),
                name=request.form.get("name", ""),
            )
            workspace_id = invitation.workspace_id
            db.session.commit()
        except ValidationFailed as failure:
            db.session.rollback()
            errors = failure.errors
        else:
            if signed_in:
                session[WORKSPACE_SESSION_KEY] = workspace_id
            else:
                _start_session(user, workspace_id)
            flash(f"You joined {invitation.workspace.name}.", "success")
            return redirect(url_for("main.dashboard"))
    return render_template(
        "auth/invitation.html", invitation=invitation, errors=errors, signed_in=signed_in
    ), 422 if errors else 200


@bp.route("/account/password", methods=["GET", "POST"])
@throttled(_user_key, deduct_when=_refused)
def change_password():
    errors = {}
    if request.method == "POST":
        form = request.form
        try:
            workspace_service.change_password(current_user, form.get("current_password", ""),
                                              form.get("new_password", ""), form.get("confirmation", ""))
            db.session.commit()
        except ValidationFailed as failure:
            db.session.rollback()
            errors = failure.errors
        else:
            login_user(current_user)  # the session token changed: this session stays signed in, the others end
            flash("Your password was changed. Other sessions were signed out.", "success")
            return redirect(url_for("auth.change_password"))
    return render_template("auth/password.html", errors=errors), 422 if errors else 200

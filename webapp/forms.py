"""Small helpers the module views share: the acting user, form re-rendering, service errors → HTTP."""
from contextlib import contextmanager

from flask import abort, g, render_template
from flask_login import current_user

from services.errors import NotFound, PermissionDenied, ValidationFailed
from webapp.extensions import db


def actor():
    """The signed-in user as a plain object (services get a User, never a proxy)."""
    return current_user._get_current_object() if current_user.is_authenticated else None


def workspace_id() -> int:
    return g.workspace.id


def form_page(template: str, status: int = 200, *, form=None, errors=None, **context):
    """A page with a form: the submitted values and the errors by field (status 422 on errors)."""
    return render_template(template, form=form or {}, errors=errors or {}, **context), status


@contextmanager
def not_found_is_404():
    try:
        yield
    except NotFound:
        db.session.rollback()
        abort(404)
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, description=str(denied))


def error_messages(errors: dict) -> list[str]:
    """Flat messages for an alert (state-change buttons have no field to sit under)."""
    messages = []
    for value in errors.values():
        if isinstance(value, dict):
            messages.extend(error_messages(value))
        elif isinstance(value, (list, tuple)):
            messages.extend(str(item) for item in value)
        else:
            messages.append(str(value))
    return messages


def commit_or_errors(operation):
    """Run a service operation and commit. Returns (result, None), or (None, errors by field) after a
    rollback when the service raised ValidationFailed, so the view can re-render its form with a 422."""
    try:
        result = operation()
        db.session.commit()
        return result, None
    except ValidationFailed as failure:
        db.session.rollback()
        return None, failure.errors

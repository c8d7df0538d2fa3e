"""Platform pages: the email outbox, the audit log, the notification inbox and documents."""
from flask import Blueprint, Response, abort, flash, g, redirect, request, url_for
from flask_login import current_user

from models import Document, Role
from services import audit_service, document_service, email_service, notification_service
from services.common import is_plain_int
from services.errors import NotFound, ValidationFailed
from webapp.extensions import db
from webapp.forms import form_page, workspace_id
from webapp.security import has_role, require_role, workspace_get_or_404

bp = Blueprint("platform", __name__)
PAGE_SIZE = 50


def _before_id():
    value = request.args.get("before", "")
    return int(value) if is_plain_int(value) else None


@bp.app_context_processor
def notification_bell():
    if not current_user.is_authenticated or getattr(g, "workspace", None) is None:
        return {}
    return {"bell": {
        "unread": notification_service.unread_count(g.workspace.id, current_user.id),
        "latest": notification_service.inbox(g.workspace.id, current_user.id, limit=5),
    }}


@bp.get("/settings/outbox")
def outbox():
    emails = email_service.list_outbox(workspace_id(), PAGE_SIZE + 1, _before_id())
    return form_page("platform/outbox.html", emails=emails[:PAGE_SIZE], can_retry=has_role(Role.ADMIN),
                     next_before=emails[PAGE_SIZE - 1].id if len(emails) > PAGE_SIZE else None)


@bp.post("/settings/outbox/<int:email_id>/retry")
@require_role(Role.ADMIN)
def retry_email(email_id):
    """A failed email is queued again (fresh attempts) and delivered after the commit."""
    try:
        email = email_service.retry(workspace_id(), email_id)
        db.session.commit()
    except NotFound as missing:
        db.session.rollback()
        abort(404, description=str(missing))
    except ValidationFailed as refused:
        db.session.rollback()
        abort(422, description=" ".join(refused.errors["email"]))
    flash(f"Sending “{email.subject}” to {email.to} again.", "success")
    return redirect(url_for("platform.outbox"))


@bp.get("/settings/audit-log")
def audit_log():
    kinds = audit_service.event_kinds(workspace_id())
    event = request.args.get("event") if request.args.get("event") in kinds else None
    events = audit_service.recent_events(workspace_id(), PAGE_SIZE + 1, _before_id(), event)[:PAGE_SIZE + 1]
    shown = events[:PAGE_SIZE]
    return form_page("platform/audit_log.html", events=shown, kinds=kinds, event=event,
                     workflow_names=audit_service.workflow_names(workspace_id(), shown),
                     actor_workflow_id=audit_service.actor_workflow_id,
                     next_before=events[PAGE_SIZE - 1].id if len(events) > PAGE_SIZE else None)


@bp.get("/notifications")
def notifications():
    unread_only = request.args.get("filter") == "unread"
    return form_page("platform/notifications.html", unread_only=unread_only,
                     notifications=notification_service.inbox(workspace_id(), current_user.id, 200, unread_only))


@bp.post("/notifications/<int:notification_id>/read")
def mark_read(notification_id):
    try:
        notification = notification_service.mark_read(workspace_id(), current_user.id, notification_id)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        return form_page("errors/error.html", 404, code=404, title="Page not found",
                         description="This notification does not exist.")
    if request.form.get("open") and notification.link:
        return redirect(notification.link)
    next_page = notification_service.safe_link(request.form.get("next"))
    return redirect(next_page if next_page.startswith("/") else url_for("platform.notifications"))


@bp.post("/notifications/read-all")
def mark_all_read():
    count = notification_service.mark_all_read(workspace_id(), current_user.id)
    db.session.commit()
    flash(f"{count} notification{'s' if count != 1 else ''} marked as read.", "success")
    return redirect(url_for("platform.notifications"))


@bp.get("/documents")
def documents():
    return form_page("platform/documents.html", documents=document_service.list_documents(workspace_id()))


@bp.get("/documents/<int:document_id>")
def document(document_id):
    return form_page("platform/document.html", document=workspace_get_or_404(Document, document_id))


@bp.get("/documents/<int:document_id>/download")
def download_document(document_id):
    document = workspace_get_or_404(Document, document_id)
    mimetype = "text/markdown" if document.format == "markdown" else "text/plain"
    return Response(document.content, mimetype=f"{mimetype}; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{document.filename}"',
        "X-Content-Type-Options": "nosniff",
    })

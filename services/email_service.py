"""Email: every email is recorded in the outbox; a backend chosen by EMAIL_BACKEND delivers it.

- `outbox` (default): nothing leaves the process; the Outbox page shows the mail as sent.
- `smtp`: SMTP_URL (smtp://user:pass@host:port, smtps:// for TLS, ?starttls=true).
- `resend`: RESEND_API_KEY, POST https://api.resend.com/emails.

send_email only adds the row (status `queued` for smtp/resend) and fires `email_sent`.
Delivery happens after the transaction commits (an after_commit hook on the session), in a
session of its own, so nothing leaves the process for a change that might still roll back.
Rows still `queued` (a crash between commit and delivery) are sent by deliver_pending(),
which `flask emails deliver` runs.
"""
from __future__ import annotations

import json
import logging
import re
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.transactions import after_commit
from models import OutboxEmail, User, Workspace, db
from models.base import utcnow
from models.vocabulary import EmailStatus, parse_bool
from services.common import Origin, fire, origin_columns
from services.errors import ValidationFailed
from services.outgoing_http import Deadline, read_limited, took_too_long, watch

log = logging.getLogger(__name__)

BACKENDS = ("outbox", "smtp", "resend")
RESEND_URL = "https://api.resend.com/emails"
TIMEOUT = (5, 10)
RESEND_RESPONSE_BYTES = 65536  # read at most this much of Resend's answer
_EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")

# Named layouts for Send Template Email (the catalog's `template` choices): intro + body + sign-off.
EMAIL_TEMPLATES = {
    "welcome": ("Welcome aboard!", "We are glad to have you with us."),
    "thank_you": ("Thank you!", "We truly appreciate your business."),
    "csat_survey": ("How did we do?", "Reply to this email with a rating from 1 to 5 — it takes ten seconds."),
    "apology": ("We are sorry.", "We appreciate your patience and will make this right."),
    "acknowledgement": ("We have received your request.", "Our team will get back to you shortly."),
}


def render_body(template: str, body: str, workspace_name: str = "") -> str:
    """The body wrapped in a named layout (no layout for "")."""
    if not template:
        return body
    if template not in EMAIL_TEMPLATES:
        raise ValidationFailed({"template": [f"Unknown email template '{template}'."]})
    intro, outro = EMAIL_TEMPLATES[template]
    signature = f"— The {workspace_name} team" if workspace_name else "— The team"
    return f"{intro}\n\n{body}\n\n{outro}\n\n{signature}"


def send_email(workspace_id: int, to: str, subject: str, body: str, *, template: str = "",
               actor: User | None = None, origin: Origin = None, idempotency_key: str | None = None) -> OutboxEmail:
    """Record an email in the outbox, fire email_sent, and deliver it after the commit."""
    to = (to or "").strip()
    errors = {}
    if not _EMAIL_RE.match(to):
        errors["to"] = [f"'{to}' is not a valid email address." if to else "A recipient is required."]
    if not (subject or "").strip():
        errors["subject"] = ["A subject is required."]
    if errors:
        raise ValidationFailed(errors)
    if idempotency_key:
        existing = db.session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    workspace = db.session.get(Workspace, workspace_id)
    backend = current_app.config["EMAIL_BACKEND"]
    email = OutboxEmail(
        workspace_id=workspace_id, to=to, subject=subject.strip()[:500],
        body=render_body(template, body or "", workspace.name if workspace else ""),
        template=template or "", backend=backend, idempotency_key=idempotency_key,
        status=EmailStatus.SENT if backend == "outbox" else EmailStatus.QUEUED,
        sent_at=utcnow() if backend == "outbox" else None,
        **origin_columns(origin),
    )
    db.session.add(email)
    db.session.flush()
    if backend != "outbox":
        after_commit(_deliver_committed, [email.id])
    fire(workspace_id, "email_sent", actor, email=build_email_payload(email))
    return email


def build_email_payload(email: OutboxEmail) -> dict:
    return {"id": email.id, "to": email.to, "subject": email.subject}


def list_outbox(workspace_id: int, limit: int = 100, before_id: int | None = None) -> list[OutboxEmail]:
    query = select(OutboxEmail).where(OutboxEmail.workspace_id == workspace_id)
    if before_id:
        query = query.where(OutboxEmail.id < before_id)
    return list(db.session.scalars(query.order_by(OutboxEmail.id.desc()).limit(limit)))


# --- Delivery after commit ------------------------------------------------------------------

def _deliver_committed(app, ids: list[int]) -> None:
    with app.app_context():  # a session of its own: the caller's has just committed
        deliver(ids)


def deliver(ids: list[int] | None = None, limit: int = 100) -> dict[str, int]:
    """Send queued emails (these ids, or any queued ones) in a session of their own. Returns counts."""
    counts = {EmailStatus.SENT.value: 0, EmailStatus.FAILED.value: 0}
    with Session(db.engine) as session:
        query = select(OutboxEmail).where(OutboxEmail.status == EmailStatus.QUEUED)
        if ids is not None:
            query = query.where(OutboxEmail.id.in_(ids))
        for email in session.scalars(query.order_by(OutboxEmail.id).limit(limit)).all():
            email.attempts = (email.attempts or 0) + 1
            try:
                email.provider_id = _send(email)
                email.status, email.sent_at, email.error = EmailStatus.SENT, utcnow(), None
                counts[EmailStatus.SENT] += 1
            except Exception as error:  # recorded on the row, shown on the Outbox page
                email.status, email.error = EmailStatus.FAILED, f"{type(error).__name__}: {error}"[:2000]
                counts[EmailStatus.FAILED] += 1
                log.warning("Email %s to %s failed: %s", email.id, email.to, error)
            session.commit()
    return counts


def deliver_pending(limit: int = 100) -> dict[str, int]:
    return deliver(None, limit)


def _send(email: OutboxEmail) -> str | None:
    backend = email.backend
    if backend == "smtp":
        return send_smtp(email)
    if backend == "resend":
        return send_resend(email)
    return None


def _sender() -> str:
    return current_app.config["EMAIL_FROM"]


def send_smtp(email: OutboxEmail) -> str:
    if not current_app.config["SMTP_URL"]:
        raise RuntimeError("SMTP_URL is not set")
    url = urlsplit(current_app.config["SMTP_URL"])
    options = {key: values[-1].lower() for key, values in parse_qs(url.query).items()}
    message = EmailMessage()
    message["From"] = _sender()
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Message-ID"] = make_msgid(idstring=f"outbox-{email.id}")
    message["X-Workestra-Email-Id"] = str(email.id)
    message.set_content(email.body)
    client_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    port = url.port or (465 if url.scheme == "smtps" else 25)
    with client_class(url.hostname, port, timeout=TIMEOUT[1]) as client:
        if parse_bool(options.get("starttls", "")):
            client.starttls()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
    return message["Message-ID"]


def _http() -> requests.Session:
    """The HTTP session for Resend (tests replace it); its sockets stay under the call's Deadline."""
    return watch(requests.Session())


def send_resend(email: OutboxEmail) -> str | None:
    if not current_app.config["RESEND_API_KEY"]:
        raise RuntimeError("RESEND_API_KEY is not set")
    limit = current_app.config["OUTGOING_HTTP_DEADLINE_SECONDS"]
    deadline = Deadline(limit)
    try:
        with deadline:
            response = _http().post(
                RESEND_URL,
                json={"from": _sender(), "to": [email.to], "subject": email.subject, "text": email.body},
                headers={"Authorization": f"Bearer {current_app.config['RESEND_API_KEY']}",
                         "Idempotency-Key": f"outbox-{email.id}"},
                timeout=TIMEOUT, stream=True,
            )
            try:
                raw = read_limited(response, RESEND_RESPONSE_BYTES)
            finally:
                getattr(response, "close", lambda: None)()
    except (requests.RequestException, OSError):
        if deadline.expired:
            raise RuntimeError(f"Resend: {took_too_long(limit)}") from None
        raise
    if deadline.expired:
        raise RuntimeError(f"Resend: {took_too_long(limit)}")
    text = raw.decode("utf-8", errors="replace")
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"Resend answered {response.status_code}: {text[:500]}")
    try:
        return (json.loads(text) or {}).get("id")
    except (ValueError, AttributeError):
        return None

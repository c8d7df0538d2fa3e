"""Email: every email is recorded in the outbox; a backend chosen by EMAIL_BACKEND delivers it.

- `outbox` (default): nothing leaves the process; the Outbox page shows the mail as sent.
- `smtp`: SMTP_URL (smtp://user:pass@host:port, smtps:// for TLS, ?starttls=true). TLS is always
  verified: the server's certificate must chain to the system's authorities (or SMTP_CA_FILE's) and
  name the host; a server that cannot prove it is refused before the login and the message.
- `resend`: RESEND_API_KEY, POST https://api.resend.com/emails.

send_email only adds the row (status `queued` for smtp/resend) and fires `email_sent`. After the
transaction commits (never before: it may roll back), delivery goes to a background job
(`deliver_job`: RQ at scale, the embedded runner's threads otherwise), so no web request waits for a
mail server. A failed attempt stays `queued` with `next_attempt_at` (30 s, then ×4) until
EMAIL_MAX_ATTEMPTS; then, or for a failure no retry can fix (a refused certificate, a 4xx from
Resend), it is `failed`, shown on the Outbox with its error and a Retry button. With
ENGINE_HANDOFF=sweep (no queue) the committing process delivers itself; `flask emails deliver`
sends whatever is due.
"""
from __future__ import annotations

import json
import logging
import re
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.core.handoff import jobs_of
from engine.core.transactions import after_commit
from models import OutboxEmail, User, Workspace, db
from models.base import utcnow
from models.vocabulary import EmailStatus, parse_bool
from services.common import Origin, fire, origin_columns
from services.errors import NotFound, ValidationFailed
from services.outgoing_http import Deadline, read_limited, took_too_long, watch

log = logging.getLogger(__name__)

BACKENDS = ("outbox", "smtp", "resend")
RESEND_URL = "https://api.resend.com/emails"
TIMEOUT = (5, 10)
DELIVER_JOB = "services.email_service.deliver_job"
RETRY_FIRST_SECONDS = 30
RETRY_FACTOR = 4
SEND_LEASE = timedelta(minutes=2)  # longer than an SMTP or HTTP attempt can take (TIMEOUT, the HTTP deadline)
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


def _checked_recipient(to: str, subject: str) -> str:
    to = (to or "").strip()
    errors = {}
    if not _EMAIL_RE.match(to):
        errors["to"] = [f"'{to}' is not a valid email address." if to else "A recipient is required."]
    if not (subject or "").strip():
        errors["subject"] = ["A subject is required."]
    if errors:
        raise ValidationFailed(errors)
    return to


def preview_email(workspace_id: int, to: str, subject: str, body: str, *, template: str = "") -> dict:
    """The email send_email would record and send, as a test run shows it: nothing is written or sent."""
    to = _checked_recipient(to, subject)
    workspace = db.session.get(Workspace, workspace_id)
    return {"to": to, "subject": subject.strip()[:500], "template": template or "",
            "body": render_body(template, body or "", workspace.name if workspace else "")}


def send_email(workspace_id: int, to: str, subject: str, body: str, *, template: str = "",
               actor: User | None = None, origin: Origin = None, idempotency_key: str | None = None) -> OutboxEmail:
    """Record an email in the outbox, fire email_sent, and deliver it after the commit."""
    to = _checked_recipient(to, subject)
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


# --- Delivery: a background job after the commit, retried with backoff --------------------------

class PermanentFailure(Exception):
    """A failure that retrying cannot fix (a refused certificate, a request the provider rejects)."""


def _deliver_committed(app, ids: list[int]) -> None:
    """After the commit: hand the ids to a background job; without a queue (or if it is down), deliver here."""
    _schedule(app, ids, 0)


def _schedule(app, ids: list[int], delay_seconds: float) -> None:
    jobs = jobs_of(app)
    if jobs is not None:
        try:
            jobs.run_job(DELIVER_JOB, [list(ids)], delay_seconds)
            return
        except Exception as error:  # the queue is down: the rows stay queued, delivered below or later
            log.warning("Could not queue the delivery of emails %s (%s)", ids, error)
    if delay_seconds <= 0:
        with app.app_context():  # a session of its own: the caller's has just committed
            deliver(ids)


def deliver_job(ids: list[int] | None = None) -> dict[str, int]:
    """The background job: send these queued emails (those due) and leave the session clean."""
    try:
        return deliver(ids)
    finally:
        db.session.remove()


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: 30 s, 2 min, 8 min, 32 min, ..."""
    return RETRY_FIRST_SECONDS * RETRY_FACTOR ** max(0, attempts - 1)


def deliver(ids: list[int] | None = None, limit: int = 100) -> dict[str, int]:
    """Send queued emails that are due (these ids, or any) in a session of their own. Returns counts;
    `retrying` counts failures that will be tried again (a job is scheduled for them)."""
    app = current_app._get_current_object()
    counts = {EmailStatus.SENT.value: 0, EmailStatus.FAILED.value: 0, "retrying": 0}
    retries: dict[float, list[int]] = {}
    now = utcnow()
    with Session(db.engine) as session:
        query = select(OutboxEmail).where(OutboxEmail.status == EmailStatus.QUEUED, _due(now))
        if ids is not None:
            query = query.where(OutboxEmail.id.in_(ids))
        for email in session.scalars(query.order_by(OutboxEmail.id).limit(limit)).all():
            # Claim the attempt (a job, a retry and `flask emails deliver` may meet on one row): one sender wins,
            # and the row is not due again for SEND_LEASE (a sender that dies mid-way leaves it to a later one).
            claimed = session.execute(update(OutboxEmail).where(
                OutboxEmail.id == email.id, OutboxEmail.status == EmailStatus.QUEUED, _due(utcnow()),
            ).values(attempts=OutboxEmail.attempts + 1, next_attempt_at=utcnow() + SEND_LEASE)).rowcount
            session.commit()
            if not claimed:
                continue
            session.refresh(email)
            try:
                email.provider_id = _send(email)
                email.status, email.sent_at, email.error, email.next_attempt_at = EmailStatus.SENT, utcnow(), None, None
                counts[EmailStatus.SENT] += 1
            except Exception as error:  # recorded on the row, shown on the Outbox page
                email.error = _describe(error)
                permanent = isinstance(error, (PermanentFailure, ssl.SSLCertVerificationError))
                if permanent or email.attempts >= app.config["EMAIL_MAX_ATTEMPTS"]:
                    email.status, email.next_attempt_at = EmailStatus.FAILED, None
                    counts[EmailStatus.FAILED] += 1
                else:
                    delay = retry_delay(email.attempts)
                    email.next_attempt_at = utcnow() + timedelta(seconds=delay)
                    retries.setdefault(delay, []).append(email.id)
                    counts["retrying"] += 1
                log.warning("Email %s to %s failed (attempt %s): %s", email.id, email.to, email.attempts, error)
            session.commit()
    for delay, retry_ids in retries.items():
        if jobs_of(app) is not None:
            _schedule(app, retry_ids, delay)
    return counts


def _due(now):
    return OutboxEmail.next_attempt_at.is_(None) | (OutboxEmail.next_attempt_at <= now)


def _describe(error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS refused: the mail server's certificate could not be verified ({error.verify_message or error})."[:2000]
    return f"{type(error).__name__}: {error}"[:2000]


def retry(workspace_id: int, email_id) -> OutboxEmail:
    """The Outbox's Retry button: a failed email of this workspace is queued again with fresh attempts."""
    email = db.session.scalar(select(OutboxEmail).where(
        OutboxEmail.id == email_id, OutboxEmail.workspace_id == workspace_id))
    if email is None:
        raise NotFound("This email does not exist.")
    if email.status != EmailStatus.FAILED:
        raise ValidationFailed({"email": ["Only a failed email can be retried."]})
    email.status, email.attempts, email.next_attempt_at = EmailStatus.QUEUED, 0, None
    db.session.flush()
    after_commit(_deliver_committed, [email.id])
    return email


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
    context = tls_context()
    port = url.port or (465 if url.scheme == "smtps" else 25)
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(url.hostname, port, timeout=TIMEOUT[1], context=context)
    else:
        client = smtplib.SMTP(url.hostname, port, timeout=TIMEOUT[1])
    with client:
        if parse_bool(options.get("starttls", "")):
            client.starttls(context=context)
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
    return message["Message-ID"]


def tls_context() -> ssl.SSLContext:
    """Verified TLS: the system's authorities (or SMTP_CA_FILE), and the certificate must name the host."""
    return ssl.create_default_context(cafile=current_app.config["SMTP_CA_FILE"] or None)


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
        failure = PermanentFailure if 400 <= response.status_code < 500 and response.status_code != 429 else RuntimeError
        raise failure(f"Resend answered {response.status_code}: {text[:500]}")
    try:
        return (json.loads(text) or {}).get("id")
    except (ValueError, AttributeError):
        return None

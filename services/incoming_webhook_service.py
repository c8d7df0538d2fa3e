"""Webhook Received triggers: each workflow's URL token and signing secret, and receiving a delivery.

A delivery is checked in this order, and every rejection is logged on the workflow (the editor
shows recent deliveries); only a valid one creates an execution:

  unknown token 404 · over the rate limit 429 (+ Retry-After) · body over 256 KB 413 ·
  missing/bad signature 401 · stale timestamp 401 · workflow not active (or no longer a webhook
  workflow) 409 · body not JSON 400 / not a JSON object 422 · same delivery id again 200 with the
  first execution's id · otherwise 202 with the new execution's id.

Signature (DESIGN.md "Contracts"): `X-Workestra-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">` keyed with the workflow's own secret; a timestamp more than five minutes away
is rejected; digests are compared in constant time. The delivery id comes from
`X-Workestra-Webhook-Id` or `webhook-id`.
"""
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.core.conditions import conditions_hold
from engine.core.payloads import workspace_payload
from engine.core.redis_client import redis_connection
from engine.core.runs import NewRun, start_runs
from models import User, Workflow, db
from models.base import begin_savepoint, utcnow
from models.triggers import WebhookDelivery, WebhookEndpoint
from models.vocabulary import RunSource, WorkflowStatus
from services import audit_service, input_hygiene
from services.common import is_plain_int
from services.input_hygiene import HostileInput

log = logging.getLogger(__name__)

TRIGGER_KEY = "webhook_received"
MAX_BODY_BYTES = 256 * 1024
SIGNATURE_TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "X-Workestra-Signature"
DELIVERY_ID_HEADERS = ("X-Workestra-Webhook-Id", "webhook-id")
MAX_DELIVERY_ID_LENGTH = 200
RATE_WINDOW_SECONDS = 60
RECENT_DELIVERIES = 20
WEBHOOK_ACTOR = {"id": None, "name": "Webhook", "email": None}


class WebhookRejected(Exception):
    """A delivery was refused; `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class DeliveryResult:
    status: int
    execution_id: int | None
    delivery_id: str
    duplicate: bool = False
    message: str = ""
    extra: dict = field(default_factory=dict)


# --- Endpoints --------------------------------------------------------------------------------

def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(32)


def endpoint_for(workflow_id: int) -> WebhookEndpoint | None:
    return db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.workflow_id == workflow_id))


def endpoint_by_token(token: str) -> WebhookEndpoint | None:
    if not token or len(token) > 64:
        return None
    return db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.token == token))


def sync_endpoint(workflow: Workflow) -> WebhookEndpoint | None:
    """A Webhook Received workflow gets its token and secret once; they survive trigger changes
    (switching back keeps the same URL), but deliveries are refused while the trigger differs."""
    endpoint = endpoint_for(workflow.id)
    if endpoint is None and workflow.trigger_type == TRIGGER_KEY:
        endpoint = WebhookEndpoint(workspace_id=workflow.workspace_id, workflow_id=workflow.id,
                                   token=new_token(), secret=new_secret())
        db.session.add(endpoint)
        db.session.flush()
    return endpoint


def rotate_secret(workflow: Workflow, actor: User | None = None) -> WebhookEndpoint:
    """A new signing secret; the old one stops working at once."""
    endpoint = sync_endpoint(workflow) or _endpoint_anyway(workflow)
    endpoint.secret = new_secret()
    endpoint.secret_rotated_at = utcnow()
    db.session.flush()
    audit_service.record_event(
        workflow.workspace_id, "webhook.secret_rotated", f"Rotated the webhook signing secret of workflow {workflow.name!r}",
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        subject_type="workflow", subject_id=workflow.id,
    )
    return endpoint


def _endpoint_anyway(workflow: Workflow) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(workspace_id=workflow.workspace_id, workflow_id=workflow.id, token=new_token(), secret=new_secret())
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def recent_deliveries(endpoint: WebhookEndpoint | None, limit: int = RECENT_DELIVERIES) -> list[WebhookDelivery]:
    if endpoint is None:
        return []
    return list(db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc()).limit(limit)
    ))


# --- Signatures -------------------------------------------------------------------------------

def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts in X-Workestra-Signature."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def check_signature(secret: str, body: bytes, header: str | None, now: float | None = None) -> None:
    """Raise WebhookRejected(401) with the reason unless the header signs this body with this secret."""
    if not header or not header.strip():
        raise WebhookRejected(401, f"Missing {SIGNATURE_HEADER} header. Sign the request: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">.")
    timestamp, digests = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and is_plain_int(value.strip()):
            timestamp = int(value.strip())
        elif key == "v1" and value.strip():
            digests.append(value.strip().lower())
    if timestamp is None or not digests:
        raise WebhookRejected(401, f"Malformed {SIGNATURE_HEADER} header: expected t=<unix seconds>,v1=<hex digest>.")
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookRejected(401, "Stale signature: the timestamp t is more than 5 minutes from our clock. Sign each request when you send it.")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected.encode(), digest.encode()) for digest in digests):
        raise WebhookRejected(401, "Invalid signature: it does not match this workflow's signing secret and the raw request body.")


# --- Rate limit ---------------------------------------------------------------------------------

def rate_limit() -> int:
    return current_app.config["WEBHOOK_RATE_LIMIT_PER_MINUTE"]


def retry_after_if_limited(endpoint: WebhookEndpoint, now: datetime) -> int | None:
    """Seconds to wait when this endpoint is over its per-minute limit, else None.
    Counted in Redis when REDIS_URL is set (falls back to the database if Redis is down)."""
    limit = rate_limit()
    if limit <= 0:
        return None
    if current_app.config["REDIS_URL"]:
        try:
            return _redis_retry_after(endpoint, limit)
        except Exception:
            log.warning("Webhook rate limit: Redis unavailable, counting in the database", exc_info=True)
    return _database_retry_after(endpoint, limit, now)


def _redis_retry_after(endpoint: WebhookEndpoint, limit: int) -> int | None:
    redis = redis_connection(current_app)
    key = f"workestra:hooks:rate:{endpoint.token}"
    pipe = redis.pipeline()
    pipe.set(key, 0, ex=RATE_WINDOW_SECONDS, nx=True)  # the window starts with its first request
    pipe.incr(key)
    pipe.ttl(key)
    _, count, ttl = pipe.execute()
    if count > limit:
        return max(1, int(ttl) if ttl and ttl > 0 else RATE_WINDOW_SECONDS)
    return None


def _database_retry_after(endpoint: WebhookEndpoint, limit: int, now: datetime) -> int | None:
    window_start = now - timedelta(seconds=RATE_WINDOW_SECONDS)
    counted = (WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.received_at > window_start,
               WebhookDelivery.status_code != 429)
    count = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(*counted)) or 0
    if count < limit:
        return None
    oldest = db.session.scalar(select(func.min(WebhookDelivery.received_at)).where(*counted))
    wait = (oldest + timedelta(seconds=RATE_WINDOW_SECONDS) - now).total_seconds() if oldest else RATE_WINDOW_SECONDS
    return max(1, math.ceil(wait))


# --- Receiving ------------------------------------------------------------------------------------

def delivery_id_from(headers) -> str | None:
    for name in DELIVERY_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if value:
            return value
    return None


def receive_delivery(token: str, body: bytes, body_size: int, headers, now: datetime | None = None) -> DeliveryResult:
    """Check one request on /hooks/<token> and create its execution. Flushes; the caller commits
    (also after a WebhookRejected, so the rejection stays in the delivery log)."""
    now = now or utcnow()
    endpoint = endpoint_by_token(token)
    if endpoint is None:
        raise WebhookRejected(404, "No webhook endpoint at this URL. Copy the URL again from the workflow editor.")
    sender_id = delivery_id_from(headers)
    try:
        return _accept(endpoint, body, body_size, headers, sender_id, now)
    except WebhookRejected as rejection:
        _log(endpoint, sender_id, rejection.status, rejection.message, body_size, now)
        raise


def _accept(endpoint, body, body_size, headers, sender_id, now) -> DeliveryResult:
    retry_after = retry_after_if_limited(endpoint, now)
    if retry_after is not None:
        raise WebhookRejected(429, f"Rate limit reached: at most {rate_limit()} deliveries per minute for this workflow. Retry after {retry_after} s.", retry_after)
    if body_size > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"Body too large: {body_size} bytes; the limit is {MAX_BODY_BYTES} bytes (256 KB).")
    if sender_id is not None and len(sender_id) > MAX_DELIVERY_ID_LENGTH:
        raise WebhookRejected(400, f"The delivery id header is longer than {MAX_DELIVERY_ID_LENGTH} characters.")
    check_signature(endpoint.secret, body, headers.get(SIGNATURE_HEADER), now.timestamp())
    if sender_id is not None:
        earlier = _accepted_delivery(endpoint, sender_id)
        if earlier is not None:
            return _duplicate(earlier)
    workflow = endpoint.workflow
    _check_workflow(workflow)
    document = _parse_body(body)
    delivery_id = sender_id or f"whk_{secrets.token_hex(12)}"
    payload = {"body": document, "delivery_id": delivery_id, "received_at": now.isoformat(),
               "actor": dict(WEBHOOK_ACTOR), "workspace": workspace_payload(workflow.workspace_id)}
    if not conditions_hold(workflow.conditions or [], payload):
        message = "Received; the workflow's conditions did not match, so it did not run."
        _log(endpoint, sender_id, 200, message, body_size, now, dedupe=sender_id)
        return DeliveryResult(200, None, delivery_id, message=message)
    try:
        with begin_savepoint(db.session):
            [execution_id] = start_runs([NewRun.of(workflow, payload, RunSource.WEBHOOK)])
            _log(endpoint, sender_id, 202, None, body_size, now, dedupe=sender_id, execution_id=execution_id)
    except IntegrityError:  # the same delivery id was accepted concurrently
        earlier = _accepted_delivery(endpoint, sender_id)
        if earlier is None:
            raise
        return _duplicate(earlier)
    return DeliveryResult(202, execution_id, delivery_id, message="Accepted.")


def _duplicate(earlier: WebhookDelivery) -> DeliveryResult:
    return DeliveryResult(200, earlier.execution_id, earlier.delivery_id, duplicate=True,
                          message="Already received: this delivery id was accepted before; no new run.")


def _accepted_delivery(endpoint: WebhookEndpoint, delivery_id: str | None) -> WebhookDelivery | None:
    if delivery_id is None:
        return None
    return db.session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.dedupe_key == delivery_id))


def _check_workflow(workflow: Workflow) -> None:
    if workflow.trigger_type != TRIGGER_KEY:
        raise WebhookRejected(409, f"Workflow {workflow.name!r} no longer uses the Webhook Received trigger.")
    if workflow.status != WorkflowStatus.ACTIVE:
        state = "a draft" if workflow.status == WorkflowStatus.DRAFT else workflow.status
        raise WebhookRejected(409, f"Workflow {workflow.name!r} is {state}: activate it to accept deliveries.")


def _parse_body(body: bytes) -> dict:
    # services.input_hygiene: a NUL, a lone surrogate, NaN/Infinity/1e999 or absurd nesting is a 422 naming the
    # field (none of them can be stored); anything else that is not JSON is a 400.
    try:
        document = input_hygiene.loads(body.decode("utf-8"))
    except HostileInput as hostile:
        raise WebhookRejected(422, f"The body cannot be stored: {hostile.field}: {hostile.message}") from None
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(400, "The body is not valid JSON (UTF-8). Send a JSON object with Content-Type: application/json.") from None
    if not isinstance(document, dict):
        raise WebhookRejected(422, f"The body must be a JSON object, not a JSON {type(document).__name__}.")
    return document


def _log(endpoint, sender_id, status, error, body_size, now, dedupe=None, execution_id=None) -> WebhookDelivery:
    entry = WebhookDelivery(
        workspace_id=endpoint.workspace_id, endpoint_id=endpoint.id, workflow_id=endpoint.workflow_id,
        delivery_id=(sender_id or "")[:MAX_DELIVERY_ID_LENGTH] or None, dedupe_key=dedupe, status_code=status,
        error=error, execution_id=execution_id, body_bytes=min(body_size, 2**31 - 1), received_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def webhook_panel_data(workflow: Workflow) -> dict:
    """The data of the editor's webhook panel (the view adds the absolute URL)."""
    endpoint = endpoint_for(workflow.id) if workflow.id else None
    return {"workflow": workflow, "endpoint": endpoint, "deliveries": recent_deliveries(endpoint),
            "active": workflow.status == WorkflowStatus.ACTIVE, "max_body_bytes": MAX_BODY_BYTES}


def curl_example(url: str, secret: str) -> str:
    """A ready-made, copy-pasteable signed request (bash)."""
    return (
        "BODY='{\"event\": \"test\", \"message\": \"Hello from curl\"}'\n"
        "TS=$(date +%s)\n"
        f"SIG=$(printf '%s.%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac '{secret}' -hex | sed 's/^.* //')\n"
        f"curl -X POST '{url}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  -H \"X-Workestra-Webhook-Id: test-$TS-$RANDOM\" \\\n"
        "  -H \"X-Workestra-Signature: t=$TS,v1=$SIG\" \\\n"
        "  --data-raw \"$BODY\""
    )


"""Webhook Received triggers: each workflow's URL token and signing secret, and receiving a delivery.

A delivery is checked in this order; only a valid one creates an execution:

  unknown token 404 · body over 256 KB 413 · missing/bad/stale signature 401 — these are *unverified*:
  they write no delivery row (the endpoint counts them: unverified_count, last_unverified_at), and an
  address sending more than WEBHOOK_UNVERIFIED_PER_MINUTE of them gets 429 without even that write ·
  then, signed requests only: over the workflow's rate limit 429 (+ Retry-After) · the same delivery id
  or the same signed request (timestamp and body) again 200 with the first execution's id · workflow
  not active (or no longer a webhook workflow) 409 · body not JSON 400 / not a JSON object, or holding
  what cannot be stored (services.input_hygiene) 422 · otherwise 202 with the new execution's id.
  Verified requests are logged on the workflow (the editor shows recent deliveries).

Two signature schemes, both keyed with the workflow's own secret (its UTF-8 bytes), digests compared in
constant time, timestamps more than five minutes away refused:
- `X-Workestra-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (DESIGN.md "Contracts"),
  with an optional, unsigned delivery id in `X-Workestra-Webhook-Id` (or `webhook-id`). Since the id is
  not signed, the signed request itself (its timestamp and body hash) is also a replay key.
- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
  "<id>.<timestamp>.<raw body>">` (several space-separated signatures allowed). The id is signed, so it
  is the replay key. With the `standardwebhooks` library: `Webhook("whsec_" + base64(secret))`.
"""
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from engine.core.conditions import conditions_hold
from engine.core.payloads import workspace_payload
from engine.core.redis_client import redis_connection
from engine.core.runs import NewRun, hand_over_paced, insert_runs, record_event_sample
from models import User, Workflow, Workspace, db
from models.base import core_savepoint, utcnow
from models.triggers import WebhookDelivery, WebhookEndpoint
from models.vocabulary import RunSource, WorkflowStatus
from services import audit_service, input_hygiene
from services.common import is_plain_int
from services.input_hygiene import HostileInput
from services.webhook_service import standard_signature  # the same scheme as our outgoing webhooks

log = logging.getLogger(__name__)

TRIGGER_KEY = "webhook_received"
MAX_BODY_BYTES = 256 * 1024
SIGNATURE_TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "X-Workestra-Signature"
DELIVERY_ID_HEADERS = ("X-Workestra-Webhook-Id", "webhook-id")
STANDARD_ID, STANDARD_TIMESTAMP, STANDARD_SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
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


def _delivery_endpoint(token: str) -> tuple[WebhookEndpoint, Workspace] | tuple[None, None]:
    """The endpoint at this URL token with its workflow, and its workspace: one SELECT for what a delivery needs.
    The caller holds on to the workspace, so the payload's workspace_payload finds it in the session."""
    if not token or len(token) > 64:
        return None, None
    row = db.session.execute(_ENDPOINT_BY_TOKEN, {"token": token}).first()
    return (row[0], row[1]) if row else (None, None)


_ENDPOINT_BY_TOKEN = (
    select(WebhookEndpoint, Workspace)
    .join(Workspace, Workspace.id == WebhookEndpoint.workspace_id)
    .where(WebhookEndpoint.token == bindparam("token"))
    .options(joinedload(WebhookEndpoint.workflow, innerjoin=True))
)


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


def check_standard_signature(secret: str, body: bytes, headers, now: float | None = None) -> str:
    """The signed message id, or WebhookRejected(401/400) with the reason (Standard Webhooks scheme)."""
    message_id = (headers.get(STANDARD_ID) or "").strip()
    stamp = (headers.get(STANDARD_TIMESTAMP) or "").strip()
    if not message_id or not is_plain_int(stamp):
        raise WebhookRejected(401, f"Standard Webhooks: send {STANDARD_ID}, {STANDARD_TIMESTAMP} (unix seconds) and "
                                   f"{STANDARD_SIGNATURE} (v1,<base64 HMAC-SHA256 of \"<id>.<timestamp>.<body>\">).")
    timestamp = int(stamp)
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookRejected(401, "Stale signature: webhook-timestamp is more than 5 minutes from our clock. Sign each request when you send it.")
    expected = standard_signature(secret, message_id, timestamp, body).split(",", 1)[1].encode()
    offered = [part.split(",", 1)[1].encode() for part in headers.get(STANDARD_SIGNATURE, "").split()
               if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, signature) for signature in offered):
        raise WebhookRejected(401, "Invalid signature: it does not match this workflow's signing secret, the "
                                   "webhook-id, the webhook-timestamp and the raw request body.")
    return message_id


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
    return _redis_window(f"workestra:hooks:rate:{endpoint.token}", limit)


def _redis_window(key: str, limit: int) -> int | None:
    """Count one request in a fixed one-minute window at `key`; seconds to wait when over `limit`, else None."""
    redis = redis_connection(current_app)
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
    # Counted up to the limit only: reaching it is all that matters (a flood does not make each request scan more).
    within = select(WebhookDelivery.id).where(*counted).limit(limit).subquery()
    count = db.session.scalar(select(func.count()).select_from(within)) or 0
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


@dataclass
class Verified:
    """A request whose signature holds: its delivery id (signed or not) and its replay key."""
    delivery_id: str | None
    replay_key: str | None  # X-Workestra scheme: "<t>:<sha256 of the body>"


def verify(endpoint: WebhookEndpoint, body: bytes, body_size: int, headers, now: datetime) -> Verified:
    """The signature check, before anything else is looked at; WebhookRejected (413/401/400) otherwise."""
    if body_size > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"Body too large: {body_size} bytes; the limit is {MAX_BODY_BYTES} bytes (256 KB).")
    if headers.get(STANDARD_SIGNATURE) and not headers.get(SIGNATURE_HEADER):
        message_id = check_standard_signature(endpoint.secret, body, headers, now.timestamp())
        return Verified(message_id, None)
    check_signature(endpoint.secret, body, headers.get(SIGNATURE_HEADER), now.timestamp())
    sender_id = delivery_id_from(headers)
    timestamp = _signed_timestamp(headers.get(SIGNATURE_HEADER))
    return Verified(sender_id, f"{timestamp}:{hashlib.sha256(body).hexdigest()}")


def _signed_timestamp(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            return int(value.strip())
    raise ValueError("checked by check_signature")


def receive_delivery(token: str, body: bytes, body_size: int, headers, now: datetime | None = None,
                     source: str | None = None) -> DeliveryResult:
    """Check one request on /hooks/<token> (from the address `source`) and create its execution. Flushes; the
    caller commits (also after a WebhookRejected: a verified rejection is logged, an unverified one counted)."""
    now = now or utcnow()
    endpoint, workspace = _delivery_endpoint(token)
    if endpoint is None:
        raise WebhookRejected(404, "No webhook endpoint at this URL. Copy the URL again from the workflow editor.")
    try:
        verified = verify(endpoint, body, body_size, headers, now)
    except WebhookRejected as rejection:
        retry_after = unverified_retry_after(source)
        if retry_after is not None:
            raise WebhookRejected(429, f"Too many unverified requests from this address: at most "
                                       f"{unverified_limit()} per minute. Retry after {retry_after} s.", retry_after) from None
        _count_unverified(endpoint, now)
        raise rejection
    try:
        return _accept(endpoint, workspace, body, body_size, verified, now)
    except WebhookRejected as rejection:
        _log(endpoint, verified.delivery_id, rejection.status, rejection.message, body_size, now)
        raise


def _accept(endpoint, workspace: Workspace, body, body_size, verified: Verified, now) -> DeliveryResult:
    if verified.delivery_id is not None and len(verified.delivery_id) > MAX_DELIVERY_ID_LENGTH:
        raise WebhookRejected(400, f"The delivery id header is longer than {MAX_DELIVERY_ID_LENGTH} characters.")
    retry_after = retry_after_if_limited(endpoint, now)
    if retry_after is not None:
        raise WebhookRejected(429, f"Rate limit reached: at most {rate_limit()} deliveries per minute for this workflow. Retry after {retry_after} s.", retry_after)
    sender_id = verified.delivery_id
    workflow = endpoint.workflow
    try:
        _check_workflow(workflow)
        document = _parse_body(body)
    except WebhookRejected:
        earlier = _earlier_delivery(endpoint, verified)  # a delivery accepted before is answered as such, still
        if earlier is not None:
            return _duplicate(earlier)
        raise
    delivery_id = sender_id or f"whk_{secrets.token_hex(12)}"
    payload = {"body": document, "delivery_id": delivery_id, "received_at": now.isoformat(),
               "actor": dict(WEBHOOK_ACTOR), "workspace": workspace_payload(workspace.id)}  # loaded: no SELECT
    keys = {"dedupe": sender_id, "replay_key": verified.replay_key}
    holds = conditions_hold(workflow.conditions or [], payload, workflow.conditions_match)
    # A replay is found by the unique keys of the delivery row written with the run, not by a SELECT before it:
    # the savepoint undoes the run when the row's key was taken (before, or by a concurrent request).
    try:
        with core_savepoint(db.session, "webhook_delivery"):
            record_event_sample(workspace.id, TRIGGER_KEY, payload)  # a recent event to test with (issue #20)
            if not holds:
                message = "Received; the workflow's conditions did not match, so it did not run."
                _log(endpoint, sender_id, 200, message, body_size, now, **keys)
                return DeliveryResult(200, None, delivery_id, message=message)
            [execution_id] = insert_runs([NewRun.of(workflow, payload, RunSource.WEBHOOK)])
            _log(endpoint, sender_id, 202, None, body_size, now, execution_id=execution_id, **keys)
    except IntegrityError:
        earlier = _earlier_delivery(endpoint, verified)
        if earlier is None:
            raise
        return _duplicate(earlier)
    hand_over_paced(workflow.workspace_id, [execution_id])
    return DeliveryResult(202, execution_id, delivery_id, message="Accepted.")


def _duplicate(earlier) -> DeliveryResult:
    return DeliveryResult(200, earlier.execution_id, earlier.delivery_id, duplicate=True,
                          message="Already received: this delivery (its id, or the same signed request) was accepted "
                                  "before; no new run.")


def _earlier_delivery(endpoint: WebhookEndpoint, verified: Verified):
    """The delivery accepted before with the same id, or the same signed request (replay key): a row with its
    delivery_id and execution_id, else None."""
    matches = [column == value for column, value in ((WebhookDelivery.dedupe_key, verified.delivery_id),
                                                     (WebhookDelivery.replay_key, verified.replay_key))
               if value is not None]
    if not matches:
        return None
    rows = db.session.execute(
        select(WebhookDelivery.delivery_id, WebhookDelivery.execution_id, WebhookDelivery.dedupe_key)
        .where(WebhookDelivery.endpoint_id == endpoint.id, or_(*matches))).all()
    # the same id first (it names the delivery), then the same signed request
    rows.sort(key=lambda row: row.dedupe_key is None or row.dedupe_key != verified.delivery_id)
    return rows[0] if rows else None


# --- Unverified requests ----------------------------------------------------------------------------

def _count_unverified(endpoint: WebhookEndpoint, now: datetime) -> None:
    """Count a refused unverified request on the endpoint (one UPDATE; no delivery row)."""
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id).values(
        unverified_count=WebhookEndpoint.unverified_count + 1, last_unverified_at=now))


def unverified_limit() -> int:
    return current_app.config["WEBHOOK_UNVERIFIED_PER_MINUTE"]


_UNVERIFIED_KEY = "workestra_unverified_webhooks"  # app.extensions: (lock, {address: (window start, count)})
MAX_TRACKED_ADDRESSES = 10_000


def unverified_retry_after(source: str | None) -> int | None:
    """Count one unverified request from `source`; seconds to wait when the address is over its limit, else
    None. In Redis when REDIS_URL is set, else in this process."""
    limit = unverified_limit()
    if limit <= 0 or not source:
        return None
    if current_app.config["REDIS_URL"]:
        try:
            return _redis_window(f"workestra:hooks:unverified:{source}", limit)
        except Exception:
            log.warning("Unverified webhook limit: Redis unavailable, counting in this process", exc_info=True)
    now = time.monotonic()
    lock, windows = current_app.extensions.setdefault(_UNVERIFIED_KEY, (threading.Lock(), {}))
    with lock:
        start, count = windows.get(source, (now, 0))
        if now - start >= RATE_WINDOW_SECONDS:
            start, count = now, 0
        if len(windows) >= MAX_TRACKED_ADDRESSES and source not in windows:
            for address, (began, _count) in list(windows.items()):
                if now - began >= RATE_WINDOW_SECONDS:
                    del windows[address]
        windows[source] = (start, count + 1)
    if count + 1 > limit:
        return max(1, math.ceil(RATE_WINDOW_SECONDS - (now - start)))
    return None


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


_INSERT_DELIVERY = insert(WebhookDelivery.__table__)


def _log(endpoint, sender_id, status, error, body_size, now, dedupe=None, execution_id=None,
         replay_key=None) -> None:
    """The delivery's row (Core: no ORM object is needed; the editor's panel reads the rows back)."""
    db.session.execute(_INSERT_DELIVERY, {
        "workspace_id": endpoint.workspace_id, "endpoint_id": endpoint.id, "workflow_id": endpoint.workflow_id,
        "delivery_id": (sender_id or "")[:MAX_DELIVERY_ID_LENGTH] or None, "dedupe_key": dedupe,
        "replay_key": replay_key, "status_code": status, "error": error, "execution_id": execution_id,
        "body_bytes": min(body_size, 2**31 - 1), "received_at": now,
    })


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


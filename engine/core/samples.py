"""Recent events as sample data for test runs (issue #20).

For each trigger, the last SAMPLES_KEPT real event payloads of a workspace are kept (event_samples), so the
editor can offer "Use a recent event: Deal 'Acme — 50 seats', 3 min ago". A payload is kept without secrets
(any key that names a secret, token, password, signature or key; values that look like one) and trimmed to
EVENT_SAMPLE_MAX_BYTES of JSON. Recorded by fire_workflow_event in the event's own transaction (Core
statements in its savepoint), so a rolled-back change leaves no sample either.

A process keeps at most one sample per workspace and trigger every EVENT_SAMPLE_EVERY_SECONDS (`due`): a burst of
events is one sample, not hundreds, and an event whose sample is not due costs its request nothing (on PostgreSQL a
sample is three round trips, its savepoint's included: +1 ms on B3's dispatch, bench/RESULTS.md).
"""
import json
import random
import re
import threading
import time

from sqlalchemy import bindparam, delete, insert, select

from models import EventSample, db
from models.base import utcnow

SAMPLES_KEPT = 5
# The older samples of a trigger are deleted by one insert in PRUNE_EVERY (at random), not by every one: an
# event costs its request one statement, and a trigger keeps about PRUNE_EVERY extra rows, which nobody reads
# (recent_samples reads the newest SAMPLES_KEPT).
PRUNE_EVERY = 8
REMOVED = "[removed]"
TRIMMED = "[trimmed]"
MAX_STRING = 500
MAX_ITEMS = 20
SECRET_KEY = re.compile(r"secret|token|passw|signature|api[_-]?key|private[_-]?key|authorization|credential|"
                        r"^hook_url$|^webhook_url$|^cookie$|^session", re.IGNORECASE)
SECRET_VALUE = re.compile(r"^(whsec_|wks_|sk_|Bearer\s|Basic\s)|^[A-Za-z0-9_\-]{40,}$")
SUMMARY_OBJECTS = (("deal", "Deal", "title"), ("ticket", "Ticket", "subject"), ("task", "Task", "title"),
                   ("project", "Project", "name"), ("invoice", "Invoice", "number"), ("quotation", "Quotation", "number"),
                   ("application", "Application", "candidate_name"), ("candidate", "Candidate", "name"),
                   ("contact", "Contact", "name"), ("payment", "Payment", "reference"), ("email", "Email", "subject"))

_LAST_KEPT: dict[tuple[int, str], float] = {}  # (workspace, trigger) → when this process last kept a sample
_LAST_KEPT_MAX = 10000
_LAST_KEPT_LOCK = threading.Lock()


def due(workspace_id: int, trigger_key: str, every_seconds: float) -> bool:
    """True (and the time noted) when this process kept no sample of this workspace's trigger for `every_seconds`."""
    now = time.monotonic()
    key = (workspace_id, trigger_key)
    with _LAST_KEPT_LOCK:
        last = _LAST_KEPT.get(key)
        if last is not None and now - last < every_seconds:
            return False
        if len(_LAST_KEPT) >= _LAST_KEPT_MAX:
            _LAST_KEPT.clear()
        _LAST_KEPT[key] = now
        return True


SAMPLES = EventSample.__table__
_INSERT = insert(SAMPLES)
# Keep the newest SAMPLES_KEPT of (workspace, trigger): delete those below the oldest kept id.
_PRUNE = delete(SAMPLES).where(
    SAMPLES.c.workspace_id == bindparam("workspace_id"), SAMPLES.c.trigger_type == bindparam("trigger_type"),
    SAMPLES.c.id < select(SAMPLES.c.id).where(
        SAMPLES.c.workspace_id == bindparam("workspace_id"), SAMPLES.c.trigger_type == bindparam("trigger_type"))
    .order_by(SAMPLES.c.id.desc()).offset(SAMPLES_KEPT - 1).limit(1).scalar_subquery())


def without_secrets(value, key: str = ""):
    """A copy of the payload with every secret-looking key's value and secret-looking string replaced."""
    if key and SECRET_KEY.search(key):
        return REMOVED
    if isinstance(value, dict):
        return {str(k): without_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    if isinstance(value, str) and SECRET_VALUE.search(value.strip()):
        return REMOVED
    return value


def _shortened(value):
    if isinstance(value, dict):
        return {k: _shortened(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value[:MAX_ITEMS]]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…"
    return value


def trimmed(payload: dict, max_bytes: int) -> dict:
    """The payload within max_bytes of JSON: long strings and lists cut first, then the largest top-level
    values replaced by "[trimmed]" until it fits."""
    def size(value) -> int:
        return len(json.dumps(value, default=str, ensure_ascii=False).encode())
    if size(payload) <= max_bytes:
        return payload
    payload = _shortened(payload)
    for key in sorted(payload, key=lambda name: size(payload[name]), reverse=True):
        if size(payload) <= max_bytes:
            break
        payload[key] = TRIMMED
    return payload


def summary_of(trigger_label: str, payload: dict) -> str:
    """Deal 'Acme — 50 seats' (the first record the payload is about), or the trigger's name."""
    for key, label, attribute in SUMMARY_OBJECTS:
        record = payload.get(key)
        if isinstance(record, dict) and record.get(attribute):
            return f"{label} '{str(record[attribute])[:150]}'"
    return trigger_label[:200]


def record_sample(workspace_id: int, trigger_key: str, trigger_label: str, payload: dict, max_bytes: int) -> None:
    """Keep this event's payload (clean and trimmed) as one of the trigger's recent samples; Core statements
    only (the caller's savepoint)."""
    clean = trimmed(without_secrets(json.loads(json.dumps(payload, default=str))), max_bytes)
    session = db.session()
    session.execute(_INSERT, {"workspace_id": workspace_id, "trigger_type": trigger_key,
                              "summary": summary_of(trigger_label, clean), "payload": clean,
                              "created_at": utcnow()})
    if random.random() < 1 / PRUNE_EVERY:
        session.execute(_PRUNE, {"workspace_id": workspace_id, "trigger_type": trigger_key})


def recent_samples(workspace_id: int, trigger_key: str) -> list[EventSample]:
    """The workspace's kept samples of this trigger, newest first."""
    return list(db.session.scalars(
        select(EventSample).where(EventSample.workspace_id == workspace_id, EventSample.trigger_type == trigger_key)
        .order_by(EventSample.id.desc()).limit(SAMPLES_KEPT)))


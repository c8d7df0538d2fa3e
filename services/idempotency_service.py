"""Idempotency keys of the API's POSTs (`Idempotency-Key` header), kept 24 hours per workspace.

The key is reserved (inserted) before the request's work, in the same transaction, and the response is stored
with it before the commit. A second request with the same key therefore waits for the first to commit (the
unique index) and then answers the first one's response; with the same key but another method, path or body
it is refused. A request that fails stores nothing: its key may be used again.
"""
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from models import IdempotencyKey, db
from models.base import begin_savepoint, utcnow

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 200
IN_PROGRESS = 0  # status_code of a reservation whose response is not stored yet


class KeyConflict(Exception):
    """The key was used with a different request, or its first request has not finished."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Replay:
    status_code: int
    body: str


def key_problem(key: str) -> str | None:
    """Why this header value cannot be a key, or None."""
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " < character <= "~" for character in key):
        return f"Use 1 to {MAX_KEY_LENGTH} visible ASCII characters (a UUID, for instance)."
    return None


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def reserve(workspace_id: int, key: str, fingerprint: str) -> IdempotencyKey | Replay:
    """Reserve the key for this request (the row to complete with `store`), or the stored response to replay.
    Raises KeyConflict when the key belongs to another request."""
    now = utcnow()
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.workspace_id == workspace_id,
                                                    IdempotencyKey.created_at < now - KEEP_FOR))
    earlier = _stored(workspace_id, key)
    if earlier is None:
        row = IdempotencyKey(workspace_id=workspace_id, key=key, request_hash=fingerprint, status_code=IN_PROGRESS,
                             response_body="", created_at=now)
        try:
            with begin_savepoint(db.session):
                db.session.add(row)
                db.session.flush()
            return row
        except IntegrityError:  # reserved by a request that committed meanwhile: answer as it did
            earlier = _stored(workspace_id, key)
            if earlier is None:
                raise
    if earlier.request_hash != fingerprint:
        raise KeyConflict(422, "This Idempotency-Key was used with a different request (method, path or body) "
                               "in the last 24 hours. Use a new key for a new request.")
    if earlier.status_code == IN_PROGRESS:
        raise KeyConflict(409, "A request with this Idempotency-Key is still being processed; retry shortly.")
    return Replay(earlier.status_code, earlier.response_body)


def store(row: IdempotencyKey, status_code: int, body: str) -> None:
    """The response of the reserved request (flushed; the request's commit keeps it with the work)."""
    row.status_code = status_code
    row.response_body = body
    db.session.flush()


def _stored(workspace_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(select(IdempotencyKey).where(
        IdempotencyKey.workspace_id == workspace_id, IdempotencyKey.key == key
    ).execution_options(populate_existing=True))

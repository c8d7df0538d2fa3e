"""API tokens: create (the secret is returned once), revoke, list, and authenticate a request's token.

A token acts as its user in its workspace with that user's current role: authentication looks
the membership up on every request, so a member who leaves the workspace loses API access too.
"""
import hashlib
import secrets
from datetime import timedelta

from marshmallow import Schema, validate
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from models import ApiToken, Membership, User, Workspace, db
from models.base import utcnow
from services import audit_service
from services.common import Stripped, get_in_workspace, load
from services.errors import ValidationFailed

TOKEN_PREFIX = "wk_"
SECRET_BYTES = 32
DISPLAY_PREFIX_LENGTH = 10
LAST_USED_RESOLUTION = timedelta(seconds=60)  # last_used_at is written at most once a minute per token


class NewTokenSchema(Schema):
    name = Stripped(required=True, validate=validate.Length(max=100, error="At most 100 characters."),
                    error_messages={"required": "Give the token a name, like “CI pipeline”."})


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def list_tokens(workspace_id: int) -> list[ApiToken]:
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.workspace_id == workspace_id).order_by(ApiToken.id.desc())))


def get_token(workspace_id: int, token_id) -> ApiToken:
    return get_in_workspace(ApiToken, workspace_id, token_id, "API token")


def _membership(workspace_id: int, user_id: int) -> Membership | None:
    return db.session.scalar(
        select(Membership).where(Membership.workspace_id == workspace_id, Membership.user_id == user_id))


def create_token(workspace: Workspace, user: User, name, created_by: User | None = None) -> tuple[ApiToken, str]:
    """A new token for `user` (a member of `workspace`). Returns (token row, secret): show the secret once."""
    clean = load(NewTokenSchema(), {"name": name})
    if _membership(workspace.id, user.id) is None:
        raise ValidationFailed({"email": [f"{user.email} is not a member of {workspace.name}."]})
    secret = new_secret()
    token = ApiToken(workspace_id=workspace.id, user_id=user.id, name=clean["name"], token_hash=hash_secret(secret),
                     token_prefix=secret[:DISPLAY_PREFIX_LENGTH], created_by_id=created_by.id if created_by else None)
    db.session.add(token)
    db.session.flush()
    _audit(token, "api_token.created", f"Created API token {token.name!r} for {user.email}", created_by)
    return token, secret


def revoke_token(token: ApiToken, actor: User | None = None) -> bool:
    """Revoke a token; False when it was already revoked."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    db.session.flush()
    _audit(token, "api_token.revoked", f"Revoked API token {token.name!r}", actor)
    return True


def authenticate(secret: str) -> tuple[ApiToken, Membership] | None:
    """The active token with this secret and its user's membership in the token's workspace, else None."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = db.session.execute(_TOKEN_AND_MEMBERSHIP, {"token_hash": hash_secret(secret)}).first()
    if row is None or row.ApiToken.revoked_at is not None:
        return None
    return row.ApiToken, row.Membership


# One SELECT for what every API request needs: the token, its user's membership in its workspace (no row when
# the user left it), the user and the workspace.
_TOKEN_AND_MEMBERSHIP = (
    select(ApiToken, Membership)
    .join(Membership, (Membership.workspace_id == ApiToken.workspace_id) & (Membership.user_id == ApiToken.user_id))
    .where(ApiToken.token_hash == bindparam("token_hash"))
    .options(joinedload(Membership.user, innerjoin=True), joinedload(Membership.workspace, innerjoin=True))
)


def mark_used(token: ApiToken, now=None) -> bool:
    """Record the use (at most once per LAST_USED_RESOLUTION, so busy tokens do not write on every call); True
    when it wrote."""
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return False
    db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                       .execution_options(synchronize_session=False))
    set_committed_value(token, "last_used_at", now)
    return True


def _audit(token: ApiToken, event: str, message: str, actor: User | None) -> None:
    audit_service.record_event(
        token.workspace_id, event, message,
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        subject_type="api_token", subject_id=token.id,
    )

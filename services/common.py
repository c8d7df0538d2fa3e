"""Helpers every business service shares: input loading, workspace-scoped lookups, members,
and the payload pieces every trigger carries (actor, workspace)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields
from sqlalchemy import select

from engine.core.payloads import actor_payload, workspace_payload
from engine.core.runs import fire_workflow_event
from models import Membership, Role, User, db
from services.errors import NotFound, ValidationFailed

Origin = tuple[int, int] | None  # (execution id, step index) of the workflow step that acts, if any

class Stripped(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def is_plain_int(text) -> bool:
    """ASCII digits that int() reads into a 64-bit id: the check before int() on any request value
    ("²".isdigit() is True but int("²") raises, and int() refuses more than 4,300 digits)."""
    return isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 18


def load(schema: Schema, data: dict) -> dict:
    """Validate input with a schema; blank strings count as missing. ValidationFailed on error."""
    cleaned = {}
    for key, value in (data or {}).items():
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        if value is None:
            continue
        cleaned[key] = value
    try:
        return schema.load(cleaned, unknown="exclude")
    except ValidationError as error:
        raise ValidationFailed(error.normalized_messages()) from None


def get_in_workspace(model, workspace_id: int, object_id: Any, label: str):
    """One row of this workspace by id, or NotFound("Deal 42 not found in this workspace")."""
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        raise NotFound(f"{label} {object_id!r} not found in this workspace") from None
    row = db.session.scalar(select(model).where(model.id == object_id, model.workspace_id == workspace_id))
    if row is None:
        raise NotFound(f"{label} {object_id} not found in this workspace")
    return row


def workspace_member(workspace_id: int, user_id: Any, field: str = "owner_id") -> User:
    """The user, who must be a member of the workspace; ValidationFailed otherwise."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise ValidationFailed({field: ["Choose a member of this workspace."]}) from None
    user = db.session.scalar(
        select(User).join(Membership).where(Membership.workspace_id == workspace_id, User.id == user_id)
    )
    if user is None:
        raise ValidationFailed({field: [f"User {user_id} is not a member of this workspace."]})
    return user


def optional_member_id(workspace_id: int, user_id: Any, field: str) -> int | None:
    if user_id in (None, ""):
        return None
    return workspace_member(workspace_id, user_id, field).id


def members(workspace_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).join(Membership).where(Membership.workspace_id == workspace_id).order_by(User.name, User.email)
        )
    )


def member_ids(workspace_id: int, user_ids) -> list[int]:
    """Those of `user_ids` who are members of the workspace, in order, without duplicates."""
    wanted = list(dict.fromkeys(int(u) for u in user_ids if u is not None))
    if not wanted:
        return []
    members = set(db.session.scalars(select(Membership.user_id).where(
        Membership.workspace_id == workspace_id, Membership.user_id.in_(wanted))))
    return [user_id for user_id in wanted if user_id in members]


def members_with_roles(workspace_id: int, roles: tuple[str, ...]) -> list[User]:
    return list(
        db.session.scalars(
            select(User).join(Membership)
            .where(Membership.workspace_id == workspace_id, Membership.role.in_(roles))
            .order_by(User.id)
        )
    )


def workspace_owner(workspace_id: int) -> User | None:
    owners = members_with_roles(workspace_id, (Role.OWNER,))
    return owners[0] if owners else None


def money(value: Decimal | float | int | None) -> float:
    return float(value or 0)


def user_email(user: User | None) -> str | None:
    return user.email if user is not None else None


def fire(workspace_id: int, trigger_key: str, actor: User | None, **objects) -> list[int]:
    """Fire a trigger with the common payload parts; call it after the change is flushed."""
    payload = dict(objects)
    payload["actor"] = actor_payload(actor)
    payload["workspace"] = workspace_payload(workspace_id)
    return fire_workflow_event(workspace_id, trigger_key, payload)


def origin_columns(origin: Origin) -> dict:
    if not origin:
        return {}
    return {"created_by_execution_id": origin[0], "created_by_step": origin[1]}


def created_by(model, workspace_id: int, origin: Origin):
    """The row an earlier attempt of the same (execution, step) created, if any."""
    if not origin:
        return None
    return db.session.scalar(
        select(model).where(
            model.workspace_id == workspace_id,
            model.created_by_execution_id == origin[0],
            model.created_by_step == origin[1],
        )
    )

"""In-app notifications: a per-user inbox per workspace, with an unread count and mark-read."""
from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update

from models import Membership, Notification, db
from models.base import utcnow
from services.common import Origin, get_in_workspace, origin_columns
from services.errors import NotFound, ValidationFailed


def safe_link(link: str | None) -> str:
    """Only a path on this site or an http(s) URL; anything else (javascript:, //host) is dropped."""
    link = (link or "").strip()
    if link.startswith("/") and not link.startswith("//"):
        return link[:500]
    if link.lower().startswith(("http://", "https://")):
        return link[:500]
    return ""


def notify(workspace_id: int, user_ids, title: str, body: str = "", link: str = "", *,
           origin: Origin = None) -> list[Notification]:
    """One notification per member among `user_ids` (duplicates and non-members are skipped)."""
    sent = notify_members(workspace_id, user_ids, title, body, link, origin=origin)
    if not sent:
        return []
    return list(db.session.scalars(
        select(Notification).where(Notification.id.in_([notification_id for notification_id, _ in sent]))
        .order_by(Notification.id)))


_COPIED = ("workspace_id", "title", "body", "link", "created_at", "created_by_execution_id", "created_by_step")
# INSERT … SELECT one row per member among :wanted; built once (building costs more than running it).
_INSERT_FOR_MEMBERS = (
    insert(Notification.__table__)
    .from_select(["user_id", *_COPIED], select(
        Membership.user_id,
        *(bindparam(name, type_=Notification.__table__.c[name].type).label(name) for name in _COPIED))
        .where(Membership.workspace_id == bindparam("workspace_id"),
               Membership.user_id.in_(bindparam("wanted", expanding=True)))
        .order_by(Membership.user_id))
    .returning(Notification.id, Notification.user_id)
)


def notify_members(workspace_id: int, user_ids, title: str, body: str = "", link: str = "", *,
                   origin: Origin = None) -> list[tuple[int, int]]:
    """notify() in one statement (the engine's hot path): INSERT … SELECT from the workspace's memberships,
    so the membership check and the insert are one round trip. Returns (notification id, user id) pairs."""
    title = (title or "").strip()
    if not title:
        raise ValidationFailed({"title": ["A title is required."]})
    wanted = list(dict.fromkeys(int(u) for u in user_ids if u is not None))
    if not wanted:
        return []
    values = {"workspace_id": workspace_id, "title": title[:300], "body": body or "", "link": safe_link(link),
              "created_at": utcnow(), "created_by_execution_id": None, "created_by_step": None,
              **origin_columns(origin)}
    rows = db.session.execute(_INSERT_FOR_MEMBERS, {**values, "wanted": wanted}).all()
    return sorted((row.id, row.user_id) for row in rows)


def created_by_step(workspace_id: int, origin: Origin) -> list[Notification]:
    if not origin:
        return []
    return list(db.session.scalars(select(Notification).where(
        Notification.workspace_id == workspace_id, Notification.created_by_execution_id == origin[0],
        Notification.created_by_step == origin[1]).order_by(Notification.id)))


def unread_count(workspace_id: int, user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.workspace_id == workspace_id, Notification.user_id == user_id,
        Notification.read_at.is_(None))) or 0


def inbox(workspace_id: int, user_id: int, limit: int = 100, unread_only: bool = False) -> list[Notification]:
    query = select(Notification).where(Notification.workspace_id == workspace_id, Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    # created_at first: a grouped notification that was updated ("3 new failures of X") comes back to the top
    return list(db.session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def mark_read(workspace_id: int, user_id: int, notification_id) -> Notification:
    notification = get_in_workspace(Notification, workspace_id, notification_id, "Notification")
    if notification.user_id != user_id:
        raise NotFound(f"Notification {notification_id} not found in this workspace")
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.flush()
    return notification


def mark_all_read(workspace_id: int, user_id: int) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.workspace_id == workspace_id, Notification.user_id == user_id,
               Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.flush()
    return result.rowcount or 0

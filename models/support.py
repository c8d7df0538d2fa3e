"""Support: tickets."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow
from models.mixins import CreatedByStep
from models.types import UTCDateTime
from models.vocabulary import TicketPriority, TicketStatus, check_in
from models.workspace import User


class Ticket(CreatedByStep, db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_workspace_status", "workspace_id", "status"),
        check_in("priority", TicketPriority, name="priority_known"),
        check_in("status", TicketStatus, name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    requester_email: Mapped[str] = mapped_column(String(254), default="")
    priority: Mapped[str] = mapped_column(String(10), default=TicketPriority.NORMAL.value)
    status: Mapped[str] = mapped_column(String(10), default=TicketStatus.OPEN.value)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    owner: Mapped[User | None] = relationship()

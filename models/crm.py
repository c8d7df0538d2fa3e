"""CRM: contacts and deals in a pipeline."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow
from models.mixins import CreatedByStep
from models.types import UTCDateTime
from models.vocabulary import DealStage, DealStatus, check_in
from models.workspace import User


class Contact(CreatedByStep, db.Model):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_workspace_name", "workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner: Mapped[User | None] = relationship()


class Deal(CreatedByStep, db.Model):
    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_workspace_stage", "workspace_id", "stage"),
        CheckConstraint("probability >= 0 AND probability <= 100", name="probability_range"),
        check_in("stage", DealStage, name="stage_known"),
        check_in("status", DealStatus, name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    stage: Mapped[str] = mapped_column(String(20), default=DealStage.LEAD.value)
    status: Mapped[str] = mapped_column(String(20), default=DealStatus.OPEN.value)
    probability: Mapped[int] = mapped_column(Integer, default=10)
    notes: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    stage_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    contact: Mapped[Contact | None] = relationship()
    owner: Mapped[User | None] = relationship()

"""Recruiting: candidates and their applications."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import db, utcnow
from models.types import UTCDateTime
from models.vocabulary import ApplicationStage, check_in
from models.workspace import User


class Candidate(db.Model):
    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(50), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    applications: Mapped[list["Application"]] = relationship(back_populates="candidate", order_by="Application.id")


class Application(db.Model):
    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_workspace_stage", "workspace_id", "stage"),
        check_in("stage", ApplicationStage, name="stage_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    position: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(20), default=ApplicationStage.APPLIED.value)
    recruiter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    candidate: Mapped[Candidate] = relationship(back_populates="applications")
    recruiter: Mapped[User | None] = relationship()

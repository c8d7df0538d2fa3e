"""Projects: projects, their tasks and sprint cycles."""
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.automations import BigId
from models.base import db, utcnow
from models.mixins import CreatedByStep
from models.types import UTCDateTime
from models.vocabulary import ProjectStatus, SprintStatus, TaskStatus, check_in
from models.workspace import User


class Project(CreatedByStep, db.Model):
    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_workspace", "workspace_id", "id"), check_in("status", ProjectStatus, name="status_known"))

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default=ProjectStatus.ACTIVE.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lead: Mapped[User | None] = relationship()


class Task(CreatedByStep, db.Model):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_workspace_project", "workspace_id", "project_id"), check_in("status", TaskStatus, name="status_known"))

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.TODO.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    project: Mapped[Project] = relationship()
    assignee: Mapped[User | None] = relationship()


class SprintCycle(db.Model):
    __tablename__ = "sprint_cycles"
    __table_args__ = (
        Index("ix_sprint_cycles_workspace_project", "workspace_id", "project_id", "status"),
        check_in("status", SprintStatus, name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=SprintStatus.ACTIVE.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_execution_id: Mapped[int | None] = mapped_column(BigId)

    project: Mapped[Project] = relationship()

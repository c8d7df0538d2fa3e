"""Workflow templates: the 20 system templates (workspace_id NULL, seeded by migration) and workspace templates."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Boolean
from sqlalchemy.orm import Mapped, mapped_column

from models.automations import json_shape_checks
from models.base import db, utcnow
from models.types import JSONDocument, UTCDateTime

TEMPLATE_CATEGORIES = ("Sales", "Customer Success", "Operations", "Marketing", "Custom / Platform")


class WorkflowTemplate(db.Model):
    __tablename__ = "workflow_templates"
    __table_args__ = (
        Index("ix_workflow_templates_workspace", "workspace_id", "category"),
        *json_shape_checks("workflow_templates", {"definition": "object"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))  # NULL: system
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40))
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    definition: Mapped[dict] = mapped_column(JSONDocument)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source_workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflows.id", ondelete="SET NULL"))
    source_workflow_version: Mapped[int | None] = mapped_column(Integer)  # the version it was published from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def is_system(self) -> bool:
        return self.workspace_id is None

"""Trigger bookkeeping beside `workflows`: cron schedules, incoming-webhook endpoints and their
delivery log, and the Quick Rules (system rules plus each workspace's on/off switch)."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.automations import BigId, Workflow
from models.base import db, utcnow
from models.types import JSONDocument, UTCDateTime


class WorkflowSchedule(db.Model):
    """The next fire time of one scheduled workflow. `next_run_at` is NULL while the workflow is
    not active (or its cron expression never matches again). The sweep claims a slot by moving
    `next_run_at` on with a conditional UPDATE, so one slot fires once."""

    __tablename__ = "workflow_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), unique=True)
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_fired_slot: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_execution_id: Mapped[int | None] = mapped_column(BigId)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    workflow: Mapped[Workflow] = relationship()


class WebhookEndpoint(db.Model):
    """The unguessable URL token and the signing secret of one Webhook Received workflow."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Requests refused before their signature held are counted here, not logged one row each.
    unverified_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_unverified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    workflow: Mapped[Workflow] = relationship()


class WebhookDelivery(db.Model):
    """One request received on an endpoint, accepted or not. `dedupe_key` holds the sender's
    delivery id on accepted deliveries only (NULL otherwise), so a retry after a rejection is
    still accepted while the same accepted id twice hits the unique constraint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "dedupe_key"),
        UniqueConstraint("endpoint_id", "replay_key", name="uq_webhook_deliveries_endpoint_replay"),
        Index("ix_webhook_deliveries_endpoint_received", "endpoint_id", "received_at"),
        Index("ix_webhook_deliveries_workspace_received", "workspace_id", "received_at"),  # retention
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflows.id", ondelete="SET NULL"))
    delivery_id: Mapped[str | None] = mapped_column(String(200))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    # "<timestamp>:<sha256 of the body>" of an X-Workestra-Signature delivery: the same signed request again is a replay
    replay_key: Mapped[str | None] = mapped_column(String(100))
    status_code: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    execution_id: Mapped[int | None] = mapped_column(BigId)
    body_bytes: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def accepted(self) -> bool:
        return self.status_code < 300


class AutomationRule(db.Model):
    """A pre-seeded system Quick Rule: one trigger, optional fixed conditions, one action.
    Rows come from seeds/quick_rules.json through a migration, not from code."""

    __tablename__ = "automation_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    module: Mapped[str] = mapped_column(String(32))
    trigger_type: Mapped[str] = mapped_column(String(64))
    conditions: Mapped[list] = mapped_column(JSONDocument, default=list)
    action: Mapped[dict] = mapped_column(JSONDocument)
    position: Mapped[int] = mapped_column(Integer, default=0)


class WorkspaceRuleSetting(db.Model):
    """A workspace's switch for one Quick Rule, and the hidden system workflow that runs it."""

    __tablename__ = "workspace_rule_settings"
    __table_args__ = (UniqueConstraint("workspace_id", "rule_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflows.id", ondelete="SET NULL"), unique=True)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    rule: Mapped[AutomationRule] = relationship()

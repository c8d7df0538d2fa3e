"""SQLAlchemy models, one module per area. Importing this package registers every table."""
from models.api_tokens import ApiToken, IdempotencyKey
from models.automations import EventSample, Workflow, WorkflowExecution, WorkflowFailureState, WorkflowVersion
from models.base import Base, db
from models.crm import Contact, Deal
from models.finance import Invoice, Payment, Quotation, Refund
from models.platform import AuditEvent, Document, Notification, OutboxEmail
from models.projects import Project, SprintCycle, Task
from models.recruiting import Application, Candidate
from models.run_rollups import RunRollupHold, WorkflowRunDaily, WorkspaceRunDaily
from models.support import Ticket
from models.templates import WorkflowTemplate
from models.triggers import AutomationRule, WebhookDelivery, WebhookEndpoint, WorkflowSchedule, WorkspaceRuleSetting
from models.vocabulary import RunStatus, WorkflowStatus
from models.workspace import Invitation, Membership, Role, User, Workspace

__all__ = [
    "ApiToken",
    "IdempotencyKey",
    "Base", "db", "AuditEvent", "Invitation", "Membership", "Role", "User",
    "RunStatus", "EventSample", "Workflow", "WorkflowExecution", "WorkflowFailureState", "WorkflowVersion", "WorkflowStatus", "Workspace",
    "Contact", "Deal", "Project", "Task", "SprintCycle", "Ticket", "Invoice", "Quotation", "Payment",
    "Refund", "Candidate", "Application", "OutboxEmail", "Notification", "Document",
    "WorkflowTemplate", "AutomationRule", "WebhookDelivery", "WebhookEndpoint", "WorkflowSchedule", "WorkspaceRuleSetting",
    "WorkflowRunDaily", "WorkspaceRunDaily", "RunRollupHold",
]

"""SQLAlchemy models, one module per area. Importing this package registers every table."""
from models.automations import ExecutionStatus, Workflow, WorkflowExecution, WorkflowStatus
from models.base import Base, db
from models.platform import AuditEvent
from models.workspace import Invitation, Membership, Role, User, Workspace

__all__ = [
    "Base", "db", "AuditEvent", "ExecutionStatus", "Invitation", "Membership", "Role", "User",
    "Workflow", "WorkflowExecution", "WorkflowStatus", "Workspace",
]

"""SQLAlchemy models, one module per area. Importing this package registers every table."""
from models.base import Base, db
from models.workspace import Invitation, Membership, Role, User, Workspace

__all__ = ["Base", "db", "Invitation", "Membership", "Role", "User", "Workspace"]

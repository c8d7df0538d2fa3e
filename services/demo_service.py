"""The demo workspace that README's first command serves."""
from dataclasses import dataclass

from sqlalchemy import select

from models import Workspace, db
from services import workspace_service

DEMO_WORKSPACE = "Acme Demo"
DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    ("owner", "owner@demo.workestra.test", "Olivia Owner"),
    ("admin", "admin@demo.workestra.test", "Adam Admin"),
    ("member", "member@demo.workestra.test", "Mia Member"),
)


@dataclass
class DemoResult:
    workspace: Workspace
    created: bool
    logins: list[tuple[str, str]]


def create_demo_workspace() -> DemoResult:
    """Idempotent: a second call finds the workspace and changes nothing."""
    logins = [(role, email) for role, email, _ in DEMO_USERS]
    existing = db.session.scalar(select(Workspace).where(Workspace.name == DEMO_WORKSPACE))
    if existing is not None:
        return DemoResult(existing, False, logins)
    (_, owner_email, owner_name), *others = DEMO_USERS
    workspace, _ = workspace_service.create_workspace(DEMO_WORKSPACE, owner_email, DEMO_PASSWORD, owner_name)
    for role, email, name in others:
        workspace_service.add_user(workspace, email, DEMO_PASSWORD, role, name)
    db.session.flush()
    return DemoResult(workspace, True, logins)

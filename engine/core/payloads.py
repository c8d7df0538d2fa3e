"""The payload pieces every trigger carries: who acted, and the workspace."""
from models import User, Workspace, db

WORKFLOW_ACTOR = {"id": None, "name": "Workflow", "email": None}


def actor_payload(actor: User | None) -> dict:
    if actor is None:
        return dict(WORKFLOW_ACTOR)
    return {"id": actor.id, "name": actor.display_name, "email": actor.email}


def workspace_payload(workspace_id: int) -> dict:
    workspace = db.session.get(Workspace, workspace_id)
    return {"id": workspace_id, "name": workspace.name if workspace else ""}

"""The set-up commands."""
from sqlalchemy import select

from engine.runtime.embedded import EMBEDDED_RUNNER_KEY
from models import Membership, User, WorkflowExecution, Workspace, db


def test_workspaces_create_and_users_add(runner):
    result = runner.invoke(args=["workspaces", "create", "--name", "Umbrella", "--owner-email", "boss@umbrella.test", "--password", "secret-secret"])
    assert result.exit_code == 0, result.output
    assert "Created workspace Umbrella" in result.output
    result = runner.invoke(args=["users", "add", "--workspace", "Umbrella", "--email", "ada@umbrella.test", "--password", "secret-secret", "--role", "admin"])
    assert result.exit_code == 0, result.output
    ws = db.session.scalar(select(Workspace).where(Workspace.name == "Umbrella"))
    roles = {m.user.email: m.role for m in db.session.scalars(select(Membership).where(Membership.workspace_id == ws.id))}
    assert roles == {"boss@umbrella.test": "owner", "ada@umbrella.test": "admin"}


def test_cli_errors_are_clear(runner):
    result = runner.invoke(args=["users", "add", "--workspace", "Nope", "--email", "a@b.test", "--password", "secret-secret"])
    assert result.exit_code != 0 and "No workspace 'Nope'" in result.output
    result = runner.invoke(args=["workspaces", "create", "--name", "W", "--owner-email", "bad", "--password", "secret-secret"])
    assert result.exit_code != 0 and "valid email" in result.output


def test_demo_is_idempotent(runner, app):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "owner@demo.workestra.test" in first.output
    # The command runs what its data triggered itself (a CLI process ends right away): nothing is handed
    # to runner threads or workers, and every run is finished when it returns.
    runs = db.session.scalars(select(WorkflowExecution.status)).all()
    assert runs and set(runs) == {"completed"}
    assert f"Ran the {len(runs)} workflow runs" in first.output
    assert EMBEDDED_RUNNER_KEY not in app.extensions
    second = runner.invoke(args=["demo"])
    assert "Found the demo workspace" in second.output
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 3

"""Migration c0210000ee21 (issue #21): every existing workflow gets version 1 from its current definition."""
import json
from datetime import datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, Table, select, text

from models import Workflow, WorkflowVersion, db


def test_existing_workflows_get_version_1_from_their_current_definition(tmp_path):
    from webapp import create_app

    url = f"sqlite:///{tmp_path / 'migrate.db'}"
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "SEED_ONBOARDING_WORKFLOW": False})
    with app.app_context():
        upgrade(revision="c0190000bb19")
        # The workspace as that revision's table has it (the models may have more columns by now: issue #22's)
        workspaces = Table("workspaces", MetaData(), autoload_with=db.engine)
        workspace_id = db.session.execute(workspaces.insert().values(
            name="Old Co", **({"timezone": "UTC"} if "timezone" in workspaces.c else {}),
            created_at=datetime(2026, 1, 1)).returning(workspaces.c.id)).scalar_one()
        db.session.commit()
        actions = [{"id": "log", "type": "log_event", "config": {"event": "old"}}]
        db.session.execute(text(
            "INSERT INTO workflows (workspace_id, name, description, trigger, trigger_type, conditions, conditions_match, "
            "actions, error_strategy, status, version, created_at, updated_at) VALUES (:ws, 'Old flow', '', :trigger, "
            "'deal_created', '[]', 'all', :actions, 'continue', 'active', 7, '2026-01-01 00:00:00', '2026-01-02 00:00:00')"),
            {"ws": workspace_id, "trigger": json.dumps({"type": "deal_created", "config": {}}), "actions": json.dumps(actions)})
        db.session.commit()
        upgrade()
        workflow = db.session.scalar(select(Workflow).where(Workflow.name == "Old flow"))
        [version] = db.session.scalars(select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow.id)).all()
        assert workflow.version == 1 and version.number == 1
        assert version.definition == {k: v for k, v in workflow.definition().items() if k != "status"}
        assert version.definition["actions"] == actions
        db.session.remove()
        downgrade(revision="c0190000bb19")  # and back down cleanly
        upgrade()
        db.session.remove()
        db.engine.dispose()

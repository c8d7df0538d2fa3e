"""System templates: seeded by migration, in step with the code's registry, valid, and counted atomically."""
import threading

from flask import current_app
from sqlalchemy import func, select

from engine.core.schemas import flatten_errors, validate_definition
from models import Workflow, db
from models.templates import WorkflowTemplate
from seeds.templates_loader import load_system_templates, read_all_system_templates
from services import template_service
from services.template_service import SYSTEM_TEMPLATE_SLUGS
from tests.factories import make_workspace

# Values a person must supply after Use Template (the editor asks before activation).
ASKED_IN_THE_EDITOR = {"url"}


def system_rows():
    return list(db.session.scalars(select(WorkflowTemplate).where(WorkflowTemplate.workspace_id.is_(None))))


def test_migrations_seed_exactly_the_system_templates(app):
    assert len(system_rows()) == 23  # 20, 2 with a branch (seeds/branch_templates.json), 1 on workflow_failed


def test_registry_seed_file_and_table_never_drift(app):
    seeded = [t["slug"] for t in read_all_system_templates()]
    assert sorted(SYSTEM_TEMPLATE_SLUGS) == sorted(seeded) == sorted(t.slug for t in system_rows())
    assert len(set(SYSTEM_TEMPLATE_SLUGS)) == 23


def test_loading_the_seeds_again_changes_nothing(app):
    before = {t.slug: (t.name, t.definition, t.usage_count) for t in system_rows()}
    with db.engine.begin() as connection:
        assert load_system_templates(connection) == 0
    db.session.expire_all()
    assert {t.slug: (t.name, t.definition, t.usage_count) for t in system_rows()} == before


def test_every_template_passes_the_workflow_validation_but_for_values_the_editor_asks_for(app):
    for template in read_all_system_templates():
        clean, errors = validate_definition(dict(template["definition"], status="draft"))
        problems = flatten_errors(errors)
        assert all(key.split(".")[-1] in ASKED_IN_THE_EDITOR and messages == ["This field is required."]
                   for key, messages in problems.items()), (template["slug"], problems)
        assert template["category"] in ("Sales", "Customer Success", "Operations", "Marketing", "Custom / Platform")


def test_use_template_copies_a_draft_and_leaves_the_template_pristine(app, workspace):
    ws = workspace()
    template = template_service.get_template(ws.id, "deal-won-thank-you-email")
    original = dict(template.definition)
    workflow = template_service.use_template(template, ws.id)
    db.session.commit()
    assert (workflow.status, workflow.workspace_id, workflow.created_from_template) == ("draft", ws.id, template.slug)
    workflow.actions = [dict(workflow.actions[0], config={"to": "x@example.test", "subject": "s", "body": "b"})]
    db.session.commit()
    db.session.expire_all()
    template = template_service.get_template(ws.id, "deal-won-thank-you-email")
    assert template.definition == original and template.usage_count == 1


def test_fifty_parallel_uses_count_fifty(app, workspace):
    ws = workspace()
    template_id = template_service.get_template(ws.id, "lead-welcome-email").id
    flask_app = current_app._get_current_object()
    errors = []

    def use():
        try:
            with flask_app.app_context():
                template_service.use_template(template_service.get_template(ws.id, template_id), ws.id)
                db.session.commit()
                db.session.remove()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=use) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db.session.expire_all()
    assert db.session.get(WorkflowTemplate, template_id).usage_count == 50
    assert db.session.scalar(select(func.count()).select_from(Workflow).where(Workflow.workspace_id == ws.id)) == 50


def test_new_workspaces_get_the_onboarding_workflow_once(make_app):
    app = make_app(SEED_ONBOARDING_WORKFLOW=True)
    with app.app_context():
        ws = make_workspace("Fresh Co")
        workflows = db.session.scalars(select(Workflow).where(Workflow.workspace_id == ws.id)).all()
        assert [(w.name, w.status, w.created_from_template) for w in workflows] == [
            ("Customer Onboarding Kickoff", "draft", "customer-onboarding-kickoff")]
        assert template_service.seed_workspace_workflows(ws.id) is None
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Workflow).where(Workflow.workspace_id == ws.id)) == 1
        db.session.remove()

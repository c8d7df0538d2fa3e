"""Workflow templates: the gallery, Use Template, publishing workspace templates, the onboarding workflow."""
import re
import secrets

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, or_, select, update

from engine.core.catalog import ACTIONS, TRIGGERS
from engine.core.steps import BRANCH, branch_paths
from engine.core.wording import conditions_words
from models import User, Workflow, db
from models.templates import TEMPLATE_CATEGORIES, WorkflowTemplate
from models.vocabulary import WorkflowStatus
from services import audit_service, workflow_service
from services.common import is_plain_int
from services.errors import NotFound, ValidationFailed

# The system templates the code knows about; a drift-check test keeps it equal to
# seeds/system_templates.json and to the rows the migrations load.
SYSTEM_TEMPLATE_SLUGS = (
    "lead-welcome-email",
    "deal-created-slack-alert",
    "deal-stage-negotiation-nudge",
    "deal-won-thank-you-email",
    "deal-won-auto-invoice",
    "customer-onboarding-kickoff",
    "ticket-created-auto-acknowledge",
    "ticket-resolved-csat-survey",
    "new-contact-csm-notification",
    "deal-won-kickoff-project",
    "ticket-escalation-ops-pagerduty",
    "task-completed-audit-log",
    "candidate-applied-auto-confirmation",
    "candidate-stage-recruiter-alert",
    "invoice-paid-thank-you-email",
    "invoice-paid-accounting-webhook",
    "invoice-refunded-apology-email",
    "daily-digest-scheduled",
    "stale-deal-alert-scheduled",
    "external-webhook-create-ticket",
    # seeds/branch_templates.json (definition v2)
    "deal-won-big-or-small",
    "ticket-created-urgent-or-acknowledge",
    # seeds/operations_templates.json (issue #22)
    "workflow-failed-chat-alert",
)
ONBOARDING_TEMPLATE_SLUG = "customer-onboarding-kickoff"


class PublishSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200, error="Name is required (at most 200 characters)."),
                         error_messages={"required": "Name is required."})
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    category = fields.String(required=True, validate=validate.OneOf(TEMPLATE_CATEGORIES, error="Choose one of the categories."),
                             error_messages={"required": "Choose a category."})


def gallery(workspace_id: int, search: str = "") -> list[WorkflowTemplate]:
    """System templates and this workspace's own, featured first."""
    query = select(WorkflowTemplate).where(
        or_(WorkflowTemplate.workspace_id.is_(None), WorkflowTemplate.workspace_id == workspace_id)
    )
    if search.strip():
        term = search.strip().lower()
        query = query.where(or_(WorkflowTemplate.name.ilike(f"%{term}%"), WorkflowTemplate.description.ilike(f"%{term}%")))
    return list(db.session.scalars(query.order_by(WorkflowTemplate.featured.desc(), WorkflowTemplate.name)))


def get_template(workspace_id: int, template_ref) -> WorkflowTemplate:
    """A template visible to this workspace, by id or slug; another workspace's is NotFound."""
    ref = str(template_ref)
    key = WorkflowTemplate.id == int(ref) if is_plain_int(ref) else WorkflowTemplate.slug == ref
    template = db.session.scalar(
        select(WorkflowTemplate).where(key, or_(WorkflowTemplate.workspace_id.is_(None), WorkflowTemplate.workspace_id == workspace_id))
    )
    if template is None:
        raise NotFound("No such template.")
    return template


def summary(template: WorkflowTemplate) -> list[str]:
    """Trigger → actions chips for a card."""
    definition = template.definition or {}
    trigger = TRIGGERS.get((definition.get("trigger") or {}).get("type"))
    chips = [trigger.label if trigger else "Unknown trigger"]
    for action in definition.get("actions") or []:
        chips.append(_chip(action, trigger.key if trigger else None))
    return chips


def _chip(action: dict, trigger_key: str | None) -> str:
    """An action's label; a branch says its condition and what each path does."""
    catalog_action = ACTIONS.get(action.get("type"))
    if action.get("type") != BRANCH:
        return catalog_action.label if catalog_action else action.get("type", "?")
    config = action.get("config") or {}
    paths = [f"{side.capitalize()}: {', '.join(_chip(step, trigger_key) for step in steps) or 'nothing'}"
             for side, steps in branch_paths(action)]
    return f"If {conditions_words(config.get('conditions'), config.get('match'), trigger_key)} ({'; '.join(paths)})"


def use_template(template: WorkflowTemplate, workspace_id: int, actor: User | None = None) -> Workflow:
    """Copy the template into the workspace as a draft and count the use (atomically). The template stays as it is."""
    definition = dict(template.definition, status=WorkflowStatus.DRAFT.value)
    workflow = workflow_service.create_workflow(workspace_id, definition, actor, allow_incomplete=True)
    workflow.created_from_template = template.slug
    db.session.execute(
        update(WorkflowTemplate).where(WorkflowTemplate.id == template.id)
        .values(usage_count=WorkflowTemplate.usage_count + 1).execution_options(synchronize_session=False)
    )
    db.session.flush()
    return workflow


def publish_workflow(workflow: Workflow, data: dict, actor: User | None = None) -> WorkflowTemplate:
    try:
        fields_ = PublishSchema().load({k: (v.strip() if isinstance(v, str) else v) for k, v in (data or {}).items()
                                        if k in ("name", "description", "category")})
    except ValidationError as error:
        raise ValidationFailed(error.normalized_messages()) from None
    workflow_service.clean_definition(workflow.definition())  # only a complete workflow becomes a template
    slug_base = re.sub(r"[^a-z0-9]+", "-", fields_["name"].lower()).strip("-")[:80] or "template"
    template = WorkflowTemplate(
        workspace_id=workflow.workspace_id, slug=f"ws{workflow.workspace_id}-{slug_base}-{secrets.token_hex(3)}",
        name=fields_["name"], description=fields_["description"], category=fields_["category"], featured=False,
        usage_count=0, definition={k: v for k, v in workflow.definition().items() if k != "status"} | {"name": fields_["name"]},
        created_by_id=actor.id if actor else None, source_workflow_id=workflow.id, source_workflow_version=workflow.version,
    )
    db.session.add(template)
    db.session.flush()
    audit_service.record_event(workflow.workspace_id, "template.published", f"Published {template.name!r} as a workspace template",
                               actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
                               subject_type="template", subject_id=template.id)
    return template


def delete_workspace_template(template: WorkflowTemplate, workspace_id: int, actor: User | None = None) -> None:
    if template.workspace_id != workspace_id:
        raise NotFound("No such workspace template.")  # system templates cannot be deleted from a workspace
    audit_service.record_event(workspace_id, "template.unpublished", f"Unpublished {template.name!r}",
                               actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
                               subject_type="template", subject_id=template.id)
    db.session.delete(template)
    db.session.flush()


def seed_workspace_workflows(workspace_id: int) -> Workflow | None:
    """Give a new workspace its default onboarding workflow, as a draft. Idempotent."""
    exists = db.session.scalar(
        select(Workflow.id).where(Workflow.workspace_id == workspace_id, Workflow.created_from_template == ONBOARDING_TEMPLATE_SLUG)
    )
    if exists:
        return None
    template = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.slug == ONBOARDING_TEMPLATE_SLUG))
    if template is None:
        return None
    workflow = workflow_service.create_workflow(workspace_id, dict(template.definition, status=WorkflowStatus.DRAFT.value), None,
                                               allow_incomplete=True)
    workflow.created_from_template = template.slug
    db.session.flush()
    return workflow


def used_in_workspace(workspace_id: int) -> dict[str, int]:
    """{template slug: how many of the workspace's workflows (archived ones left out) were made from it}."""
    rows = db.session.execute(
        select(Workflow.created_from_template, func.count()).where(
            Workflow.workspace_id == workspace_id, Workflow.created_from_template.is_not(None),
            Workflow.status != WorkflowStatus.ARCHIVED.value)
        .group_by(Workflow.created_from_template))
    return {slug: count for slug, count in rows}

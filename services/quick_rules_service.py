"""Quick Rules: pre-seeded system rules (one trigger, one action) that a workspace switches on or off.

A rule that is on runs as a hidden system workflow of the workspace (status active; off =
paused), so the dispatcher fires it like any workflow. workspace_rule_settings links the rule and
the workflow: that link is how workflow_service keeps these workflows hidden and read-only on the
pages and the API (`editable_conditions()`, `get_editable_workflow()`) and how the Runs tab labels
their runs (`quick_rule_names()`). Only this service changes them.
"""
from sqlalchemy import func, select

from models import Role, User, Workflow, db
from models.triggers import AutomationRule, WorkspaceRuleSetting
from models.vocabulary import ErrorStrategy, WorkflowStatus
from seeds.quick_rules import load_rules
from services import audit_service, workflow_service
from services.errors import NotFound, PermissionDenied

WORKFLOW_NAME_PREFIX = "Quick Rule · "


def ensure_system_rules() -> int:
    """Insert any rule of seeds/quick_rules.json that is missing (by slug). Returns how many were added.
    The migration seeds them; this repairs a database whose rows were removed (tests empty tables)."""
    existing = set(db.session.scalars(select(AutomationRule.slug)))
    added = 0
    for rule in load_rules():
        if rule["slug"] not in existing:
            db.session.add(AutomationRule(**rule))
            added += 1
    db.session.flush()
    return added


def list_rules(workspace_id: int) -> list[dict]:
    """Every system rule with this workspace's switch: [{"rule", "enabled", "setting"}] in display order."""
    rules = db.session.scalars(select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)).all()
    settings = _settings_by_rule(workspace_id)
    overlaps = overlapping_workflows(workspace_id, rules)
    return [dict(_row(rule, settings.get(rule.id)), overlaps=overlaps.get(rule.id, [])) for rule in rules]


def enabled_count(workspace_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(WorkspaceRuleSetting).where(
        WorkspaceRuleSetting.workspace_id == workspace_id, WorkspaceRuleSetting.enabled.is_(True))) or 0


def rule_row(workspace_id: int, rule_id) -> dict:
    rule = get_rule(rule_id)
    return dict(_row(rule, _setting(workspace_id, rule.id)), overlaps=overlapping_workflows(workspace_id, [rule]).get(rule.id, []))


def overlapping_workflows(workspace_id: int, rules) -> dict[int, list[tuple[int, str]]]:
    """{rule id: [(workflow id, name)]}: the workspace's active workflows (not Quick Rules) on the same trigger with
    an action of the same kind, so that with the rule on the same thing happens twice (two identical emails)."""
    rule_workflows = select(WorkspaceRuleSetting.workflow_id).where(
        WorkspaceRuleSetting.workspace_id == workspace_id, WorkspaceRuleSetting.workflow_id.is_not(None))
    workflows = db.session.execute(select(Workflow.id, Workflow.name, Workflow.trigger_type, Workflow.actions).where(
        Workflow.workspace_id == workspace_id, Workflow.status == WorkflowStatus.ACTIVE.value,
        Workflow.trigger_type.in_({rule.trigger_type for rule in rules}), Workflow.id.not_in(rule_workflows))).all()
    overlaps: dict[int, list[tuple[int, str]]] = {}
    for rule in rules:
        for workflow_id, name, trigger_type, actions in workflows:
            kinds = {a.get("type") for a in actions or [] if isinstance(a, dict)}
            if trigger_type == rule.trigger_type and (rule.action or {}).get("type") in kinds:
                overlaps.setdefault(rule.id, []).append((workflow_id, name))
    return overlaps


def _row(rule: AutomationRule, setting: WorkspaceRuleSetting | None) -> dict:
    return {"rule": rule, "enabled": bool(setting and setting.enabled), "setting": setting}


def get_rule(rule_id) -> AutomationRule:
    try:
        rule = db.session.get(AutomationRule, int(rule_id))
    except (TypeError, ValueError):
        rule = None
    if rule is None:
        raise NotFound("No such Quick Rule.")
    return rule


def _settings_by_rule(workspace_id: int) -> dict[int, WorkspaceRuleSetting]:
    rows = db.session.scalars(select(WorkspaceRuleSetting).where(WorkspaceRuleSetting.workspace_id == workspace_id))
    return {row.rule_id: row for row in rows}


def _setting(workspace_id: int, rule_id: int) -> WorkspaceRuleSetting | None:
    return db.session.scalar(select(WorkspaceRuleSetting).where(
        WorkspaceRuleSetting.workspace_id == workspace_id, WorkspaceRuleSetting.rule_id == rule_id))


def set_rule_enabled(workspace_id: int, rule_id, enabled: bool, actor: User | None, actor_role: Role | None = None) -> dict:
    """Switch a rule on or off for the workspace (admins and owners only) and audit it.

    On: the hidden workflow is created, or re-synced with the rule's current definition, and
    activated. Off: it is paused (kept, so its run history stays linked)."""
    if actor_role is not None and actor_role.rank < Role.ADMIN.rank:
        raise PermissionDenied("Only workspace admins and owners can change Quick Rules.")
    rule = get_rule(rule_id)
    setting = _setting(workspace_id, rule.id)
    if setting is None:
        setting = WorkspaceRuleSetting(workspace_id=workspace_id, rule_id=rule.id, enabled=False)
        db.session.add(setting)
    workflow = db.session.get(Workflow, setting.workflow_id) if setting.workflow_id else None
    if enabled:
        definition = rule_definition(rule)
        if workflow is None:
            workflow = workflow_service.create_workflow(workspace_id, definition, actor)
        else:
            workflow_service.update_workflow(workflow, definition, actor)
        setting.workflow_id = workflow.id
    elif workflow is not None and workflow.status != WorkflowStatus.PAUSED:
        workflow_service.set_status(workflow, WorkflowStatus.PAUSED, actor)
    changed = setting.enabled != enabled
    setting.enabled = enabled
    setting.updated_by_id = actor.id if actor else None
    db.session.flush()
    if changed:
        audit_service.record_event(
            workspace_id, "quick_rule.enabled" if enabled else "quick_rule.disabled",
            f"Quick Rule {'switched on' if enabled else 'switched off'}: {rule.name}",
            actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
            subject_type="automation_rule", subject_id=rule.id, data={"slug": rule.slug, "workflow_id": setting.workflow_id},
        )
    return dict(_row(rule, setting), overlaps=overlapping_workflows(workspace_id, [rule]).get(rule.id, []))


def rule_definition(rule: AutomationRule) -> dict:
    """The workflow definition (DESIGN.md shape) that runs this rule."""
    return {
        "name": (WORKFLOW_NAME_PREFIX + rule.name)[:200],
        "description": f"Runs the Quick Rule '{rule.slug}'. Managed on Settings → Quick Rules.",
        "trigger": {"type": rule.trigger_type, "config": {}},
        "conditions": list(rule.conditions or []),
        "actions": [dict(rule.action, delay_seconds=0)],
        "error_strategy": ErrorStrategy.CONTINUE.value,
        "status": WorkflowStatus.ACTIVE.value,
    }


# --- For the Runs tab ---------------------------------------------------------------------------

def quick_rule_names(workspace_id: int, workflow_ids=None) -> dict[int, str]:
    """{workflow_id: rule name} for this workspace's Quick Rule workflows (optionally only these ids):
    the Runs tab labels an execution whose workflow_id is a key as a Quick Rule run."""
    query = (select(WorkspaceRuleSetting.workflow_id, AutomationRule.name)
             .join(AutomationRule, AutomationRule.id == WorkspaceRuleSetting.rule_id)
             .where(WorkspaceRuleSetting.workspace_id == workspace_id, WorkspaceRuleSetting.workflow_id.is_not(None)))
    if workflow_ids is not None:
        query = query.where(WorkspaceRuleSetting.workflow_id.in_(list(workflow_ids)))
    return {workflow_id: name for workflow_id, name in db.session.execute(query)}

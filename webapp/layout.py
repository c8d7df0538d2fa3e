"""What every page's layout needs: navigation, the workspace switcher, the feature flag."""
from dataclasses import dataclass

from flask import current_app, g, request
from flask_login import current_user

from models import Role
from webapp.security import has_role, user_memberships


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    icon: str
    section: str = "suite"  # "suite", "automations" or "settings"
    min_role: Role = Role.MEMBER


NAVIGATION = (
    NavItem("Home", "main.dashboard", "house"),
    NavItem("CRM", "crm.index", "people"),
    NavItem("Projects", "projects.index", "kanban"),
    NavItem("Support", "support.index", "life-preserver"),
    NavItem("Finance", "finance.index", "receipt"),
    NavItem("Recruiting", "recruiting.index", "person-badge"),
    NavItem("Workflows", "automations.workflows", "diagram-3", "automations"),
    NavItem("Templates", "automations.templates", "grid", "automations"),
    NavItem("Runs", "runs.index", "activity", "automations"),
    NavItem("Insights", "insights.index", "graph-up", "automations"),
    NavItem("Quick Rules", "quick_rules.index", "toggles", "settings", Role.ADMIN),
    NavItem("Workspace", "settings.workspace", "globe", "settings"),
    NavItem("Members", "settings.members", "people-fill", "settings"),
    NavItem("API tokens", "api_tokens.index", "key", "settings", Role.ADMIN),
    NavItem("Outbox", "platform.outbox", "envelope", "settings"),
    NavItem("Audit log", "platform.audit_log", "journal-text", "settings"),
    NavItem("Documents", "platform.documents", "file-earmark-text", "settings"),
)


def automations_enabled() -> bool:
    return bool(current_app.config["AUTOMATIONS_ENABLED"])


def visible_navigation() -> dict[str, list[dict]]:
    """Entries grouped by section: the ones the user's role may see (automations only when the flag is on)."""
    sections: dict[str, list[dict]] = {"suite": [], "automations": [], "settings": []}
    for item in NAVIGATION:
        if item.section == "automations" and not automations_enabled():
            continue
        if not has_role(item.min_role):
            continue
        active = request.endpoint is not None and request.endpoint.split(".")[0] == item.endpoint.split(".")[0]
        if item.section == "automations":
            active = request.endpoint == item.endpoint or (
                item.endpoint == "automations.workflows" and request.endpoint in ("automations.new_workflow", "automations.edit_workflow")
            ) or (item.endpoint == "runs.index" and request.endpoint in ("runs.detail", "runs.confirm_bulk_replay",
                                                                           "runs.confirm_bulk_action")
                  ) or (item.endpoint == "insights.index" and request.endpoint == "insights.workflow")
        elif item.section == "settings":
            active = request.endpoint == item.endpoint
        sections[item.section].append({"label": item.label, "endpoint": item.endpoint, "icon": item.icon, "active": active})
    return sections


def layout_context() -> dict:
    if not current_user.is_authenticated or getattr(g, "workspace", None) is None:
        return {"automations_enabled": automations_enabled()}
    return {
        "automations_enabled": automations_enabled(),
        "navigation": visible_navigation(),
        "current_workspace": g.workspace,
        "current_role": g.membership.role,
        "workspace_choices": [(m.workspace_id, m.workspace.name, m.role) for m in user_memberships(current_user)],
    }


def register(app) -> None:
    app.context_processor(layout_context)

    @app.after_request
    def vary_on_htmx(response):
        response.headers.add("Vary", "HX-Request")
        return response

"""Tenant isolation: a user of workspace A naming workspace B's ids gets a 404 and changes nothing.

The meta-test walks app.url_map: a route that is neither covered by a case here nor listed in
NO_SCOPED_ID (with the reason) fails the suite, so a new route must come with its case.
"""
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.runner import run_execution
from models import Deal, WorkflowExecution, db
from tests.api.conftest import ApiClient, issue_token
from tests.conftest import Auth
from tests.factories import make_workflow
from tests.security.conftest import db_checksum, populate

ANY = object()


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    args: dict = field(default_factory=dict)  # URL argument -> key of Tenant.ids
    data: dict | None = None  # form fields (browser routes) or JSON body (API routes)
    query: dict | None = None


def C(endpoint, method="GET", data=None, query=None, **args):
    return Case(endpoint, method, args, data, query)


# Browser routes that name a record by id in the URL (or query) --------------------------------------
BROWSER_CASES = [
    C("automations.edit_workflow", workflow_id="workflow_id"),
    C("automations.save_workflow", "POST", {"name": "Hijacked", "trigger_type": "deal_created"}, workflow_id="workflow_id"),
    C("automations.delete", "POST", workflow_id="workflow_id"),
    C("automations.duplicate", "POST", workflow_id="workflow_id"),
    C("automations.publish", "POST", {"name": "Stolen", "category": "Sales"}, workflow_id="workflow_id"),
    C("automations.run_now", "POST", workflow_id="workflow_id"),
    C("automations.change_status", "POST", {"status": "paused"}, workflow_id="workflow_id"),
    C("automations.run_live", workflow_id="workflow_id", execution_id="execution_id"),
    C("workflow_versions.history", workflow_id="workflow_id"),
    C("workflow_versions.confirm_restore", workflow_id="workflow_id", number="=1"),
    C("workflow_versions.restore", "POST", workflow_id="workflow_id", number="=1"),
    C("workflow_versions.export", workflow_id="workflow_id"),
    C("workflow_versions.unsaved_changes", "POST", {"name": "Peek", "trigger_type": "deal_created"}, workflow_id="workflow_id"),
    C("triggers.schedule_panel", workflow_id="workflow_id"),
    C("triggers.webhook_panel", workflow_id="hook_workflow_id"),
    C("triggers.rotate_webhook_secret", "POST", workflow_id="hook_workflow_id"),
    C("automations.delete_template", "POST", template_id="template_id"),
    C("automations.use_template", "POST", template_ref="template_ref"),
    C("runs.detail", execution_id="execution_id"),
    C("insights.workflow", workflow_id="workflow_id"),
    C("insights.save_minutes_saved", "POST", {"minutes_saved_per_run": "7"}, workflow_id="workflow_id"),
    C("runs.cancel", "POST", execution_id="paused_execution_id"),
    C("runs.replay", "POST", {"mode": "start"}, execution_id="execution_id"),
    C("crm.contact", contact_id="contact_id"),
    C("crm.deal", deal_id="deal_id"),
    C("crm.assign_deal_owner", "POST", {"owner_id": ""}, deal_id="deal_id"),
    C("crm.move_stage", "POST", {"stage": "negotiation"}, deal_id="deal_id"),
    C("platform.document", document_id="document_id"),
    C("platform.download_document", document_id="document_id"),
    C("finance.invoice", invoice_id="invoice_id"),
    C("settings.change_role", "POST", {"role": "admin"}, membership_id="membership_id"),
    C("settings.remove_member", "POST", membership_id="membership_id"),
    C("settings.revoke_invitation", "POST", invitation_id="invitation_id"),
    C("platform.retry_email", "POST", email_id="email_id"),
    C("finance.record_payment", "POST", {"amount": "10"}, invoice_id="invoice_id"),
    C("finance.refund", "POST", {"amount": "10", "reason": "x"}, invoice_id="invoice_id"),
    C("finance.send_invoice", "POST", invoice_id="invoice_id"),
    C("finance.quotation", quotation_id="quotation_id"),
    C("finance.quotation_transition", "POST", quotation_id="quotation_id", transition="=send"),
    C("finance.quotation_transition", "POST", quotation_id="quotation_id", transition="=accept"),
    C("platform.mark_read", "POST", notification_id="notification_id"),
    C("projects.project", project_id="project_id"),
    C("projects.start_sprint", "POST", {"name": "Sprint X"}, project_id="project_id"),
    C("projects.close_sprint", "POST", project_id="project_id"),
    C("projects.add_task", "POST", {"title": "Injected"}, project_id="project_id"),
    C("projects.task", task_id="task_id"),
    C("projects.task_assignee", "POST", {"assignee_id": ""}, task_id="task_id"),
    C("projects.task_status", "POST", {"status": "done"}, task_id="task_id"),
    C("recruiting.application", application_id="application_id"),
    C("recruiting.move_stage", "POST", {"stage": "interview"}, application_id="application_id"),
    C("api_tokens.revoke", "POST", token_id="token_id"),
    C("support.ticket", ticket_id="ticket_id"),
    C("support.escalate", "POST", {"priority": "urgent"}, ticket_id="ticket_id"),
    C("support.assign_owner", "POST", {"owner_id": ""}, ticket_id="ticket_id"),
    C("support.resolve", "POST", ticket_id="ticket_id"),
    C("support.set_status", "POST", {"status": "pending"}, ticket_id="ticket_id"),
]

# API routes (a token of workspace A) ------------------------------------------------------------------
API_CASES = [
    C("api_v1.business_get_application", application_id="application_id"),
    C("api_v1.business_move_application_stage", "POST", {"stage": "interview"}, application_id="application_id"),
    C("api_v1.business_get_contact", contact_id="contact_id"),
    C("api_v1.business_get_deal", deal_id="deal_id"),
    C("api_v1.business_move_deal_stage", "POST", {"stage": "negotiation"}, deal_id="deal_id"),
    C("api_v1.executions_get_execution", execution_id="execution_id"),
    C("api_v1.executions_cancel_execution", "POST", execution_id="paused_execution_id"),
    C("api_v1.executions_replay_execution", "POST", {"from": "start"}, execution_id="execution_id"),
    C("api_v1.business_get_invoice", invoice_id="invoice_id"),
    C("api_v1.business_record_payment", "POST", {"amount": "10"}, invoice_id="invoice_id"),
    C("api_v1.business_refund_invoice", "POST", {"amount": "10"}, invoice_id="invoice_id"),
    C("api_v1.business_get_project", project_id="project_id"),
    C("api_v1.business_get_task", task_id="task_id"),
    C("api_v1.business_change_task_status", "POST", {"status": "done"}, task_id="task_id"),
    C("api_v1.templates_use_template", "POST", {}, template_ref="template_ref"),
    C("api_v1.templates_use_template", "POST", {}, template_ref="template_id"),
    C("api_v1.business_get_ticket", ticket_id="ticket_id"),
    C("api_v1.business_escalate_ticket", "POST", {}, ticket_id="ticket_id"),
    C("api_v1.business_resolve_ticket", "POST", {}, ticket_id="ticket_id"),
    C("api_v1.workflows_get_workflow", workflow_id="workflow_id"),
    C("api_v1.workflows_update_workflow", "PATCH", {"name": "Hijacked"}, workflow_id="workflow_id"),
    C("api_v1.workflows_delete_workflow", "DELETE", workflow_id="workflow_id"),
    C("api_v1.workflows_activate", "POST", workflow_id="workflow_id"),
    C("api_v1.workflows_archive", "POST", workflow_id="workflow_id"),
    C("api_v1.workflows_pause", "POST", workflow_id="workflow_id"),
    C("api_v1.workflows_run_workflow", "POST", {}, workflow_id="workflow_id"),
    C("api_v1.workflows_test_workflow", "POST", {}, workflow_id="workflow_id"),
    C("api_v1.workflows_list_versions", workflow_id="workflow_id"),
    C("api_v1.workflows_get_version", workflow_id="workflow_id", number="=1"),
    C("api_v1.workflows_restore_version", "POST", {}, workflow_id="workflow_id", number="=1"),
    C("api_v1.workflows_export_workflow", workflow_id="workflow_id"),
    C("api_v1.workflows_get_settings", workflow_id="workflow_id"),
    C("api_v1.workflows_update_settings", "PATCH", {"alert_on_failure": False}, workflow_id="workflow_id"),
]

# Ids passed in a body or query instead of the URL: refused (4xx) or ignored, B's rows untouched.
BODY_ID_CASES = [
    C("api_v1.business_create_task", "POST", {"project_id": "@project_id", "title": "Injected"}),
    C("api_v1.business_create_invoice", "POST", {"customer_name": "X", "amount": "5", "deal_id": "@deal_id"}),
    C("api_v1.executions_list_executions", query={"workflow_id": "@workflow_id"}),
    C("runs.index", query={"workflow": "@workflow_id"}),
    C("runs.confirm_bulk_action", query={"action": "delete", "run": "@execution_id"}),
    C("runs.confirm_bulk_action", query={"action": "delete", "all": "1", "workflow": "@workflow_id"}),
    C("runs.bulk_action", "POST", {"action": "delete", "run": "@execution_id"}),
    C("runs.bulk_action", "POST", {"action": "cancel", "run": "@paused_execution_id"}),
    C("runs.bulk_action", "POST", {"action": "replay", "run": "@execution_id", "mode": "start"}),
    C("test_runs.test", "POST", {"workflow_id": "@workflow_id", "name": "Probe", "trigger_type": "deal_created"}),
    C("auth.switch_workspace", "POST", {"workspace_id": "@workspace_id"}),
    C("finance.new_invoice", "POST", {"customer_name": "X", "amount": "5", "deal_id": "@deal_id"}),
    C("finance.new_quotation", "POST", {"customer_name": "X", "amount": "5", "deal_id": "@deal_id"}),
]

# Routes that take no workspace-scoped id, with the reason. Listing pages and creation forms read or
# write only the signed-in user's workspace (g.workspace); they are covered by their areas' tests.
NO_SCOPED_ID = {
    "static": "static files",
    "main.healthz": "health check, no data",
    "observability.metrics": "loopback or METRICS_TOKEN; counts across every workspace by design, no ids",
    "main.dashboard": "current workspace only",
    "auth.login": "public", "auth.logout": "current session", "auth.signup": "creates a new workspace",
    "auth.accept_invitation": "token-scoped (secret invitation token), not an id",
    "auth.change_password": "the signed-in user's own password",
    "hooks.receive": "token-scoped (secret URL token + the workflow's signature)",
    "cron.workflow_runner": "CRON_SECRET bearer; runs due executions of every workspace by design",
    "api_v1.openapi_document": "public API description, no data",
    "api_v1.catalog_get_catalog": "the static trigger/action catalog",
    "quick_rules.toggle": "rule_id names a system rule (automation_rules has no workspace); the setting "
                          "written is the current workspace's (tests/http/test_quick_rules.py)",
    "quick_rules.index": "current workspace only",
    "automations.workflows": "current workspace only", "automations.new_workflow": "form",
    "automations.create_workflow": "creates in the current workspace (mass assignment: test_roles_and_mass_assignment)",
    "automations.render_editor": "renders posted form state, writes nothing",
    "test_runs.samples": "the current workspace's recent events only (tests/integration/test_test_runs.py)",
    "api_v1.workflows_list_samples": "the token's workspace's recent events only",
    "api_v1.workflows_test_definition": "tests the body's definition in the token's workspace; keeps only a test run",
    "automations.templates": "system + current workspace's templates",
    "settings.save_failed_runs_policy": "the current workspace's auto-pause default (tests/http/test_failure_alerts_pages.py)",
    "workflow_versions.import_page": "form", "workflow_versions.import_file": "creates drafts in the current workspace",
    "workflow_versions.export_all": "current workspace only",
    "triggers.schedule_preview": "computes cron times, no data",
    "insights.index": "current workspace only (tests/http/test_insights.py)",
    "runs.confirm_bulk_replay": "current workspace only", "runs.bulk_replay": "current workspace only",
    "runs.workflow_options": "searches the current workspace's workflows only (tests/http/test_runs.py)",
    "crm.index": "current workspace only", "crm.contacts": "current workspace only",
    "crm.new_contact": "creates in the current workspace", "crm.new_deal": "creates in the current workspace",
    "platform.documents": "current workspace only", "platform.notifications": "current user's inbox",
    "platform.mark_all_read": "current user's inbox", "platform.audit_log": "current workspace only",
    "platform.outbox": "current workspace only",
    "finance.index": "current workspace only",
    "projects.index": "current workspace only", "projects.new_project": "creates in the current workspace",
    "recruiting.index": "current workspace only", "recruiting.new_application": "creates in the current workspace",
    "support.index": "current workspace only", "support.new_ticket": "creates in the current workspace",
    "settings.members": "current workspace only", "settings.invite": "invites into the current workspace",
    "settings.workspace": "current workspace only", "settings.save_workspace": "changes the current workspace only",
    "settings.save_retention": "changes the current workspace only (tests/http/test_retention.py)",
    "api_tokens.index": "current workspace only", "api_tokens.create": "creates in the current workspace",
    **{f"api_v1.{name}": "lists or creates in the token's workspace" for name in (
        "business_list_applications", "business_create_application", "business_list_contacts",
        "business_create_contact", "business_list_deals", "business_create_deal", "business_list_invoices",
        "business_list_projects", "business_create_project", "business_list_tasks", "business_list_tickets",
        "business_create_ticket", "templates_list_templates", "workflows_list_workflows",
        "workflows_create_workflow", "workflows_import_workflow")},
}

ALL_CASES = BROWSER_CASES + API_CASES + BODY_ID_CASES

# Every page a person opens in a browser (GET, a whole HTML page), with the ids it names (keys of Tenant.ids,
# or "invitation_token"). tests/browser/test_every_page.py visits each at phone and desktop size (no sideways
# scroll, nothing needed off-screen, axe-core clean). A new GET route must be listed here or in NOT_PAGES.
PAGES = [
    C("auth.login"), C("auth.signup"), C("auth.accept_invitation", token="invitation_token"),
    C("main.dashboard"),
    C("automations.workflows"), C("automations.new_workflow"), C("automations.edit_workflow", workflow_id="workflow_id"),
    C("automations.edit_workflow", workflow_id="hook_workflow_id"), C("automations.templates"),
    C("runs.index"), C("runs.detail", execution_id="execution_id"), C("runs.detail", execution_id="paused_execution_id"),
    C("runs.confirm_bulk_replay"), C("runs.confirm_bulk_action", query={"action": "cancel", "run": "@paused_execution_id"}),
    C("runs.confirm_bulk_action", query={"action": "replay", "run": "@execution_id"}),
    C("insights.index"), C("insights.workflow", workflow_id="workflow_id"),
    C("crm.index"), C("crm.contacts"), C("crm.new_deal"), C("crm.deal", deal_id="deal_id"), C("crm.new_contact"),
    C("crm.contact", contact_id="contact_id"),
    C("projects.index"), C("projects.new_project"), C("projects.project", project_id="project_id"),
    C("projects.task", task_id="task_id"),
    C("support.index"), C("support.new_ticket"), C("support.ticket", ticket_id="ticket_id"),
    C("finance.index"), C("finance.new_invoice"), C("finance.invoice", invoice_id="invoice_id"),
    C("finance.new_quotation"), C("finance.quotation", quotation_id="quotation_id"),
    C("recruiting.index"), C("recruiting.new_application"), C("recruiting.application", application_id="application_id"),
    C("platform.outbox"), C("platform.audit_log"), C("platform.notifications"), C("platform.documents"),
    C("platform.document", document_id="document_id"),
    C("settings.members"), C("settings.workspace"), C("api_tokens.index"), C("quick_rules.index"),
    C("auth.change_password"),
    C("workflow_versions.history", workflow_id="workflow_id"),
    C("workflow_versions.confirm_restore", workflow_id="workflow_id", number="=1"),
    C("workflow_versions.import_page"),
]
NOT_PAGES = {
    "main.healthz": "JSON health check",
    "observability.metrics": "Prometheus text for scrapers, not a page",
    "workflow_versions.export": "a file download", "workflow_versions.export_all": "a zip download",
    "platform.download_document": "a file download",
    "runs.workflow_options": "JSON for the Runs filter's search",
    "automations.run_live": "htmx fragment inside the editor's Run now modal",
    "test_runs.samples": "htmx fragment inside the editor's Test panel",
    "triggers.webhook_panel": "htmx fragment inside the editor", "triggers.schedule_panel": "htmx fragment inside the editor",
    "triggers.schedule_preview": "htmx fragment inside the editor",
}


def test_every_get_page_is_listed_for_the_browser_walk(app):
    pages = {case.endpoint for case in PAGES}
    missing = sorted(
        f"{rule.rule} ({rule.endpoint})" for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.endpoint.startswith(("api_v1.", "static"))
        and rule.endpoint not in pages and rule.endpoint not in NOT_PAGES
    )
    assert not missing, ("New pages need an entry in PAGES (tests/security/test_tenant_isolation.py), "
                         f"so the browser walk checks them on a phone and with axe-core: {missing}")
    stale = sorted((pages | set(NOT_PAGES)) - set(app.view_functions))
    assert not stale, f"PAGES/NOT_PAGES name endpoints that no longer exist: {stale}"


def test_every_route_is_covered_by_a_case_or_listed_as_taking_no_workspace_scoped_id(app):
    covered = {case.endpoint for case in ALL_CASES}
    unknown_listed = set(NO_SCOPED_ID) - set(app.view_functions)
    missing = sorted(
        f"{rule.rule} ({rule.endpoint})" for rule in app.url_map.iter_rules()
        if rule.endpoint not in covered and rule.endpoint not in NO_SCOPED_ID
    )
    assert not missing, ("New routes need a tenant-isolation case in tests/security/test_tenant_isolation.py "
                         f"(or an entry in NO_SCOPED_ID saying why they take no workspace-scoped id): {missing}")
    assert not unknown_listed, f"NO_SCOPED_ID names endpoints that no longer exist: {sorted(unknown_listed)}"
    stale = sorted(case.endpoint for case in ALL_CASES if case.endpoint not in app.view_functions)
    assert not stale, f"cases for endpoints that no longer exist: {stale}"


def test_every_route_argument_that_names_a_record_is_exercised(app):
    """A path argument of a covered route must be filled by every case of that route (none left out)."""
    for rule in app.url_map.iter_rules():
        for case in (c for c in BROWSER_CASES + API_CASES if c.endpoint == rule.endpoint):
            given = set(case.args)
            assert set(rule.arguments) <= given, f"{case.endpoint}: {set(rule.arguments) - given} not given"


def _url(app, case: Case, ids: dict) -> tuple[str, dict | None]:
    from flask import url_for

    # "=word" is a literal argument (finance.quotation_transition's send/accept), anything else an id key
    args = {name: key[1:] if key.startswith("=") else ids[key] for name, key in case.args.items()}
    data = dict(case.data or {})
    query = {k: _fill(v, ids) for k, v in (case.query or {}).items()}
    with app.test_request_context():
        return url_for(case.endpoint, **args, **query), {k: _fill(v, ids) for k, v in data.items()} or None


def _fill(value, ids):
    if isinstance(value, str) and value.startswith("@"):
        return ids[value[1:]]
    return value


@pytest.fixture
def attacker(app, client, two_tenants):
    a, b = two_tenants
    b.ids["workspace_id"] = b.workspace.id
    Auth(client).login(a.owner)
    api = ApiClient(client, issue_token(a.workspace, a.owner), a.workspace, a.owner)
    return client, api, a, b


def _send(client, api, case: Case, url: str, data):
    if case.endpoint.startswith("api_v1."):
        return client.open(url, method=case.method, json=data if case.method != "GET" else None,
                           headers=api.headers(), csrf=False)
    return client.open(url, method=case.method, data=data)


def _label(case: Case) -> str:
    return f"{case.method} {case.endpoint} {'/'.join(case.args.values())}"


@pytest.mark.parametrize("group", ["browser", "api"])
def test_a_user_of_workspace_a_gets_404_for_workspace_b_ids_and_nothing_changes(app, attacker, group):
    """Browser routes with A's session, API routes with A's token: every case, all problems reported at once."""
    client, api, _a, b = attacker
    problems = []
    for case in BROWSER_CASES if group == "browser" else API_CASES:
        url, data = _url(app, case, b.ids)
        before = db_checksum()
        response = _send(client, api, case, url, data)
        if response.status_code != 404:
            problems.append(f"{_label(case)}: {url} answered {response.status_code}")
        if db_checksum() != before:
            problems.append(f"{_label(case)}: {url} changed the database")
    assert not problems, problems


def test_control_the_same_requests_with_workspace_a_own_ids_are_not_404(app, attacker):
    """Proves each case's URL is right: its 404 for B's ids comes from the workspace check, not from a typo.
    Every case gets fresh records of A (an earlier control may have deleted or changed its own)."""
    client, api, a, _b = attacker
    problems = []
    for case in BROWSER_CASES + API_CASES:
        own = populate(a.workspace)
        url, data = _url(app, case, own.ids)
        response = _send(client, api, case, url, data)
        if response.status_code == 404 or response.status_code >= 500:
            problems.append(f"{_label(case)}: {url} answered {response.status_code}: "
                            f"{response.get_data(as_text=True)[:200]}")
    assert not problems, problems


def _rows_of(workspace_id) -> str:
    """A digest of the rows of one workspace (every table with a workspace_id)."""
    import hashlib

    db.session.commit()
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        if "workspace_id" not in table.c:
            continue
        rows = db.session.execute(select(table).where(table.c.workspace_id == workspace_id)
                                  .order_by(*table.primary_key.columns)).all()
        digest.update(f"{table.name}:{rows!r}".encode())
    db.session.commit()
    return digest.hexdigest()


@pytest.mark.parametrize("case", BODY_ID_CASES, ids=lambda c: f"{c.method} {c.endpoint}")
def test_ids_of_workspace_b_in_a_body_or_query_are_refused_or_ignored(app, attacker, case):
    client, api, a, b = attacker
    url, data = _url(app, case, b.ids)
    b_before = _rows_of(b.workspace.id)
    if case.endpoint.startswith("api_v1."):
        response = client.open(url, method=case.method, json=data, headers=api.headers(), csrf=False)
    else:
        response = client.open(url, method=case.method, data=data)
    assert response.status_code < 500
    assert _rows_of(b.workspace.id) == b_before, f"{case.method} {url} changed workspace B"
    text = response.get_data(as_text=True)
    assert f"Flow of {b.workspace.name}" not in text and "Tenant B" not in text, f"{url} shows workspace B's data"
    if case.endpoint == "auth.switch_workspace":
        assert response.status_code == 404
    if response.status_code < 400 and case.method == "POST":  # accepted: whatever it made is A's, not linked to B
        for table in db.metadata.sorted_tables:
            for column in ("deal_id", "project_id"):
                if column in table.c and "workspace_id" in table.c:
                    leaked = db.session.scalar(select(db.func.count()).select_from(table).where(
                        table.c.workspace_id == a.workspace.id, table.c[column] == b.ids[column]))
                    assert not leaked, f"{table.name} row of A points at B's {column}"


# Events and action configs -----------------------------------------------------------------------------

def test_an_event_in_workspace_a_never_runs_a_workflow_of_workspace_b(app, two_tenants):
    a, b = two_tenants
    make_workflow(b.workspace.id, name="B listens")

    def b_executions():
        return db.session.scalar(select(db.func.count()).select_from(WorkflowExecution).where(
            WorkflowExecution.workspace_id == b.workspace.id))

    before = b_executions()
    ids = fire_workflow_event(a.workspace.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    assert ids, "A's own workflow should have fired"
    owners = set(db.session.scalars(select(WorkflowExecution.workspace_id).where(WorkflowExecution.id.in_(ids))))
    assert owners == {a.workspace.id}
    assert b_executions() == before


@pytest.mark.parametrize("action", [
    {"type": "update_deal", "config": {"deal_id": "@deal_id", "changes": {"title": "Hijacked"}}},
    {"type": "update_win_probability", "config": {"deal_id": "@deal_id", "probability": 99}},
    {"type": "assign_owner", "config": {"record_type": "deal", "record_id": "@deal_id", "user_id": "@owner_id"}},
    {"type": "assign_owner", "config": {"record_type": "ticket", "record_id": "@ticket_id", "user_id": "@owner_id"}},
    {"type": "flag_as_stale", "config": {"deal_id": "@deal_id"}},
    {"type": "close_sprint_cycle", "config": {"project_id": "@project_id"}},
    {"type": "create_invoice", "config": {"deal_id": "@deal_id", "customer_name": "X", "amount": 5}},
    {"type": "create_deal", "config": {"title": "X", "contact_id": "@contact_id"}},
    {"type": "send_in_app_notification", "config": {"recipient": "user", "user_id": "@owner_id", "title": "Hi"}},
], ids=lambda a: f"{a['type']}")
def test_action_configs_naming_workspace_b_records_fail_and_leave_b_untouched(make_app, workspace, action):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        from tests.security.conftest import populate

        a, b = populate(workspace("Tenant A")), populate(workspace("Tenant B"))
        ids = dict(b.ids, owner_id=b.owner.id)
        config = {k: _fill(v, ids) for k, v in action["config"].items()}
        make_workflow(a.workspace.id, trigger="task_completed", actions=[{"type": action["type"], "config": config}],
                      error_strategy="stop", name="Reaches into B")
        b_before = _rows_of(b.workspace.id)
        [execution_id] = fire_workflow_event(a.workspace.id, "task_completed", sample_payload("task_completed"))
        db.session.commit()
        run_execution(execution_id)
        execution = db.session.get(WorkflowExecution, execution_id)
        db.session.refresh(execution)
        assert execution.status == "failed", execution.completed_actions
        assert _rows_of(b.workspace.id) == b_before
        assert db.session.get(Deal, b.ids["deal_id"]).title != "Hijacked"
        db.session.remove()


"""Settings → Quick Rules: the list, instant audited toggles (admins and owners), and rules that really run."""
import pytest
from markupsafe import escape
from sqlalchemy import func, select

from engine.runtime.runner import run_execution
from models import AuditEvent, Notification, Workflow, WorkflowExecution, db
from models.triggers import AutomationRule, WorkspaceRuleSetting
from seeds.quick_rules import load_rules
from services import deal_service, quick_rules_service, workflow_service
from tests.conftest import owner_of
from tests.factories import make_workflow


@pytest.fixture
def app(make_app):
    """This module's app: runs wait for an explicit run_execution. The system rules are seeded
    by the migration; tests empty every table afterwards, so put them back first."""
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        quick_rules_service.ensure_system_rules()
        db.session.commit()
        yield app
        db.session.remove()


def rule(slug) -> AutomationRule:
    return db.session.scalar(select(AutomationRule).where(AutomationRule.slug == slug))


def toggle(client, rule_id, enabled, htmx=True, **kwargs):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/settings/automations/{rule_id}", data={"enabled": enabled}, headers=headers, **kwargs)


def executions(workspace_id):
    db.session.expire_all()
    return list(db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.workspace_id == workspace_id)))


def win_a_deal(ws, owner):
    deal = deal_service.create_deal(ws.id, {"title": "Acme renewal", "value": 5000, "owner_id": owner.id}, owner)
    deal_service.move_deal_to_stage(ws.id, deal.id, "closed_won", owner)
    db.session.commit()
    return deal


def test_the_seed_file_holds_six_to_ten_valid_rules(app):
    from engine.core.schemas import validate_definition

    rules = load_rules()
    assert 6 <= len(rules) <= 10 and len({r["slug"] for r in rules}) == len(rules)
    for seeded in db.session.scalars(select(AutomationRule)):
        _, errors = validate_definition(quick_rules_service.rule_definition(seeded))
        assert errors == {}, (seeded.slug, errors)


def test_page_lists_every_rule_off_by_default_with_the_comparison(app, logged_in):
    client, ws, _ = logged_in("admin")
    page = client.get("/settings/automations")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for seeded in load_rules():
        assert str(escape(seeded["name"])) in html
    assert html.count('role="switch"') == len(load_rules()) and " checked" not in html
    assert "Quick Rules or workflows?" in html and "Full visual editor" in html and "Multi-step, multi-action" in html
    assert 'href="/automations"' in html  # the link to the builder


def test_members_see_the_rules_but_cannot_switch_them(app, logged_in):
    client, ws, _ = logged_in("member")
    html = client.get("/settings/automations").get_data(as_text=True)
    assert "Only workspace admins and owners" in html and html.count("disabled") >= len(load_rules())
    target = rule("deal_won_notify_owner")
    assert toggle(client, target.id, "on").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(WorkspaceRuleSetting)) == 0
    assert db.session.scalar(select(func.count()).select_from(Workflow)) == 0


def test_switching_on_is_instant_audited_and_creates_a_hidden_active_workflow(app, logged_in):
    client, ws, admin = logged_in("admin")
    target = rule("deal_won_notify_owner")
    response = toggle(client, target.id, "on")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and f'id="rule-{target.id}"' in html and " checked" in html and "Saved" in html
    assert "<html" not in html  # just the row, for the htmx swap
    setting = db.session.scalar(select(WorkspaceRuleSetting).where(WorkspaceRuleSetting.workspace_id == ws.id))
    assert setting.enabled and setting.workflow_id
    workflow = db.session.get(Workflow, setting.workflow_id)
    assert workflow.status == "active" and workflow.trigger_type == "deal_closed_won"
    assert workflow.actions[0]["type"] == "send_in_app_notification"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "quick_rule.enabled"))
    assert audit.workspace_id == ws.id and audit.actor_id == admin.id and target.name in audit.message
    # Hidden from the workflow list, labelled for the Runs tab.
    visible = db.session.scalars(select(Workflow.id).where(*workflow_service.editable_conditions(ws.id))).all()
    assert workflow.id not in visible
    assert workflow_service.is_quick_rule_workflow(workflow.id)
    assert quick_rules_service.quick_rule_names(ws.id) == {workflow.id: target.name}


def test_rule_on_then_event_runs_it(app, logged_in):
    client, ws, owner = logged_in("owner")
    assert toggle(client, rule("deal_won_notify_owner").id, "on").status_code == 200
    deal = win_a_deal(ws, owner)
    [execution] = executions(ws.id)
    assert execution.trigger_type == "deal_closed_won"
    assert run_execution(execution.id) == "completed"
    notification = db.session.scalar(select(Notification).where(Notification.workspace_id == ws.id))
    assert notification.user_id == owner.id and notification.title == f"Deal won: {deal.title}"


def test_rule_off_then_event_runs_nothing(app, logged_in):
    client, ws, owner = logged_in("owner")
    target = rule("deal_won_notify_owner")
    toggle(client, target.id, "on")
    response = toggle(client, target.id, "off")
    assert response.status_code == 200 and " checked" not in response.get_data(as_text=True)
    setting = db.session.scalar(select(WorkspaceRuleSetting).where(WorkspaceRuleSetting.workspace_id == ws.id))
    assert not setting.enabled and db.session.get(Workflow, setting.workflow_id).status == "paused"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "quick_rule.disabled"))
    win_a_deal(ws, owner)
    assert executions(ws.id) == []


def test_a_rule_never_switched_on_runs_nothing(app, logged_in):
    client, ws, owner = logged_in("owner")
    win_a_deal(ws, owner)
    assert executions(ws.id) == []


def test_switching_on_again_reuses_the_same_workflow(app, logged_in):
    client, ws, _ = logged_in("owner")
    target = rule("ticket_resolved_email_requester")
    toggle(client, target.id, "on")
    first = quick_rules_service.rule_row(ws.id, target.id)["setting"].workflow_id
    toggle(client, target.id, "off")
    toggle(client, target.id, "on")
    db.session.expire_all()
    assert quick_rules_service.rule_row(ws.id, target.id)["setting"].workflow_id == first
    assert db.session.scalar(select(func.count()).select_from(Workflow)) == 1
    assert db.session.get(Workflow, first).status == "active"


def test_a_rule_is_per_workspace(app, logged_in, workspace):
    client, ws, _ = logged_in("owner")
    other = workspace()
    toggle(client, rule("deal_won_notify_owner").id, "on")
    win_a_deal(other, owner_of(other))
    assert executions(other.id) == []
    assert quick_rules_service.list_rules(other.id)[0]["enabled"] is False


def test_without_htmx_the_toggle_redirects_back(app, logged_in):
    client, ws, _ = logged_in("owner")
    response = toggle(client, rule("task_completed_log").id, "on", htmx=False)
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/automations")
    assert "switched on" in client.get("/settings/automations").get_data(as_text=True)


@pytest.mark.parametrize("rule_id, enabled, status", [(999999, "on", 404), (None, "maybe", 400), (None, "", 400)])
def test_bad_toggles_are_4xx_and_change_nothing(app, logged_in, rule_id, enabled, status):
    client, ws, _ = logged_in("owner")
    rule_id = rule_id or rule("deal_won_notify_owner").id
    assert toggle(client, rule_id, enabled).status_code == status
    assert db.session.scalar(select(func.count()).select_from(WorkspaceRuleSetting)) == 0


def test_toggle_needs_csrf(app, logged_in):
    client, ws, _ = logged_in("owner")
    assert toggle(client, rule("deal_won_notify_owner").id, "on", csrf=False).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(WorkspaceRuleSetting)) == 0


def test_toggle_needs_a_login(app, client):
    response = client.post(f"/settings/automations/{rule('deal_won_notify_owner').id}", data={"enabled": "on"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]



def test_a_rule_that_duplicates_an_active_workflow_warns_before_two_identical_emails(logged_in):
    """Issue #23: ticket acknowledgement as a Quick Rule and as an active workflow sent the customer two emails."""
    client, ws, _ = logged_in()
    email = {"type": "send_template_email", "config": {"to": "{{ trigger.ticket.requester_email }}", "subject": "Got it",
                                                        "body": "We are on it."}}
    workflow = make_workflow(ws.id, trigger="ticket_created", actions=[email], name="Acknowledge tickets")
    html = client.get("/settings/automations").get_data(as_text=True)
    assert "switching this on makes it happen twice" in html
    assert f'href="/automations/{workflow.id}">Acknowledge tickets</a>' in html
    assert html.count("happen twice") == 1  # only the acknowledgement rule, not the other email rules
    rule = db.session.scalar(select(AutomationRule).where(AutomationRule.slug == "ticket_created_acknowledge"))
    switched = client.post(f"/settings/automations/{rule.id}", data={"enabled": "on"}, headers={"HX-Request": "true"})
    assert "both run, so it happens twice" in switched.get_data(as_text=True)

"""The template gallery through HTTP: browse, search, use, publish, unpublish, isolation, roles."""
import html

import pytest
from sqlalchemy import select

from models import Workflow, db
from models.templates import WorkflowTemplate
from tests.factories import make_workflow
from tests.support.engine import log_step


def test_gallery_shows_featured_first_then_categories(logged_in):
    client, _, _ = logged_in("member")
    page = html.unescape(client.get("/automations/templates").get_data(as_text=True))
    assert page.index("Featured") < page.index("<h2 class=\"h5\">Sales</h2>") < page.index("<h2 class=\"h5\">Custom / Platform</h2>")
    for name in ("Lead Welcome Email", "Stale Deal Alert (Scheduled)", "External Webhook → Create Ticket"):
        assert name in page
    assert "Deal Closed Won" in page and "Used 0 times" in page and page.count("Use Template") >= 20


def test_gallery_search(logged_in):
    client, _, _ = logged_in()
    page = html.unescape(client.get("/automations/templates?q=invoice").get_data(as_text=True))
    assert "Invoice Paid → Accounting Webhook" in page and "Lead Welcome Email" not in page


def test_use_template_opens_the_editor_on_a_draft_copy_and_counts_it(logged_in):
    client, ws, _ = logged_in("member")
    template = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.slug == "lead-welcome-email"))
    response = client.post(f"/automations/templates/{template.id}/use")
    workflow = db.session.scalar(select(Workflow).where(Workflow.workspace_id == ws.id))
    assert response.status_code == 302 and response.headers["Location"] == f"/automations/{workflow.id}"
    assert workflow.status == "draft"
    assert [{k: v for k, v in action.items() if k != "id"} for action in workflow.actions] == template.definition["actions"]
    assert all(action["id"] for action in workflow.actions)  # the server gives every step a stable id
    db.session.refresh(template)
    assert template.usage_count == 1
    assert "Used 1 time" in client.get("/automations/templates").get_data(as_text=True)


def test_a_template_needing_a_url_asks_for_it_before_activation(logged_in):
    client, ws, _ = logged_in()
    response = client.post("/automations/templates/deal-created-slack-alert/use")
    workflow = db.session.scalar(select(Workflow).where(Workflow.workspace_id == ws.id))
    editor = html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "needs 1 more detail before it can be activated" in editor and "This field is required." in editor
    client.post(f"/automations/{workflow.id}/status", data={"status": "active"})
    db.session.refresh(workflow)
    assert workflow.status == "draft"


def test_unknown_template_is_404(logged_in):
    client, _, _ = logged_in()
    assert client.post("/automations/templates/999999/use").status_code == 404
    assert client.post("/automations/templates/no-such-slug/use").status_code == 404


def test_admins_publish_a_workspace_template_visible_only_in_their_workspace(logged_in, workspace, client, auth):
    client, ws, _ = logged_in("admin")
    workflow = make_workflow(ws.id, name="Our secret sauce", actions=[log_step("sauce")])
    response = client.post(f"/automations/{workflow.id}/publish", data={"name": "Secret sauce", "description": "Ours", "category": "Operations"})
    assert response.status_code == 302
    template = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.workspace_id == ws.id))
    assert template.name == "Secret sauce" and template.definition["actions"] == workflow.actions
    page = client.get("/automations/templates").get_data(as_text=True)
    assert "Secret sauce" in page and "Workspace</span>" in page

    auth.logout()
    other = workspace()
    from tests.conftest import owner_of

    auth.login(owner_of(other))
    assert "Secret sauce" not in client.get("/automations/templates").get_data(as_text=True)
    assert client.post(f"/automations/templates/{template.id}/use").status_code == 404
    assert client.post(f"/automations/templates/{template.slug}/use").status_code == 404
    assert client.post(f"/automations/templates/{template.id}/delete").status_code == 404
    db.session.refresh(template)
    assert template.usage_count == 0


@pytest.mark.parametrize("form, message", [({"name": "", "category": "Sales"}, "Name is required"),
                                           ({"name": "X", "category": "Astrology"}, "Choose one of the categories.")])
def test_publish_validates(logged_in, form, message):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id)
    response = client.post(f"/automations/{workflow.id}/publish", data=form, follow_redirects=True)
    assert message in html.unescape(response.get_data(as_text=True))
    assert db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.workspace_id == ws.id)) is None


def test_members_cannot_publish_or_unpublish(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    assert client.post(f"/automations/{workflow.id}/publish", data={"name": "N", "category": "Sales"}).status_code == 403
    template = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.slug == "lead-welcome-email"))
    assert client.post(f"/automations/templates/{template.id}/delete").status_code == 403
    assert "Publish as template" not in client.get(f"/automations/{workflow.id}").get_data(as_text=True)


def test_unpublish_removes_a_workspace_template_but_never_a_system_one(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id)
    client.post(f"/automations/{workflow.id}/publish", data={"name": "Mine", "category": "Sales"})
    mine = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.workspace_id == ws.id))
    assert client.post(f"/automations/templates/{mine.id}/delete").status_code == 302
    assert db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.workspace_id == ws.id)) is None
    system = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.slug == "lead-welcome-email"))
    assert client.post(f"/automations/templates/{system.id}/delete").status_code == 404

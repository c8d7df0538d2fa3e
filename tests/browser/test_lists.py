"""The workflow list filters as you type, like the template gallery (issue #23)."""
from models import db
from services import workspace_service
from tests.conftest import PASSWORD
from tests.factories import make_workflow


def test_the_workflow_search_filters_as_you_type(live_server, page):
    with live_server.app.app_context():
        ws, _ = workspace_service.create_workspace("List Co", "list@example.test", PASSWORD, "Lisa List")
        db.session.commit()
        make_workflow(ws.id, name="Alpha deal alert")
        make_workflow(ws.id, name="Beta ticket triage")
    page.goto(live_server.url + "/login")
    page.fill("#email", "list@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/automations")
    assert page.locator(".workflow-table tbody tr").count() == 2
    page.locator("#workflow-search").press_sequentially("alp", delay=50)  # no Enter
    page.wait_for_function("() => document.querySelectorAll('.workflow-table tbody tr').length === 1")
    assert "Alpha deal alert" in page.locator(".workflow-table tbody").inner_text()
    assert "q=alp" in page.url
    assert page.evaluate("document.activeElement.id") == "workflow-search"  # typing goes on
    assert page.errors == []

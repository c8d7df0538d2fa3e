"""In a workspace with more workflows than the page lists, a member types part of a workflow's name in
the Runs filter, picks it from what the server found, and sees only that workflow's runs."""
import re

from playwright.sync_api import expect
from sqlalchemy import insert

from tests.factories import new_execution
from models import Workflow, db
from services import workspace_service
from tests.conftest import PASSWORD
from tests.factories import make_workflow
from webapp.blueprints.runs import PLAIN_WORKFLOW_SELECT_MAX


def add_runs(workflow, count):
    ids = []
    for _ in range(count):
        execution = new_execution(workflow, {"deal": {"title": "Acme"}})
        execution.status, execution.duration_ms = "completed", 5
        db.session.add(execution)
        db.session.flush()
        ids.append(execution.id)
    db.session.commit()
    return ids


def test_type_pick_a_workflow_and_see_only_its_runs(live_server, page, screenshot):
    with live_server.app.app_context():
        ws, _owner = workspace_service.create_workspace("Many Flows Co", "flows@example.test", PASSWORD, "Flo")
        db.session.commit()
        db.session.execute(insert(Workflow), [{
            "workspace_id": ws.id, "name": f"Other flow {n:03d}", "description": "",
            "trigger": {"type": "contact_created", "config": {}}, "trigger_type": "contact_created",
            "conditions": [], "actions": [{"type": "log_event", "config": {"event": "other"}}],
            "error_strategy": "continue", "status": "active", "version": 1,
        } for n in range(PLAIN_WORKFLOW_SELECT_MAX)])
        db.session.commit()
        # Named to sort after the first 20 workflows: only the server's search can offer it.
        invoices = make_workflow(ws.id, name="Zeta: invoice paid → thank you")
        deals = make_workflow(ws.id, name="Deal won → accounting")
        invoice_runs = add_runs(invoices, 2)
        deal_runs = add_runs(deals, 3)
        invoices_id = invoices.id

    page.goto(live_server.url + "/login")
    page.fill("#email", "flows@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/automations/runs")
    assert page.locator("#filter-workflow option").count() == 1  # 202 workflows: none listed in the page
    assert len(page.locator("tr[data-run-id]").all()) == 5

    control = page.locator(".ts-wrapper:has(#filter-workflow-ts-control) .ts-control")
    box, date_box = page.locator(".ts-wrapper:has(#filter-workflow-ts-control)").bounding_box(), page.locator("#filter-from").bounding_box()
    assert (box["y"], box["height"]) == (date_box["y"], date_box["height"])  # one row: the labels above line up too
    screenshot("runs-workflow-filter")
    with page.expect_response(lambda response: response.url.endswith("/automations/runs/workflows?q=")):
        control.click()  # opens the search box and loads the first workflows by name
    search = page.locator(".ts-dropdown .dropdown-input")
    expect(search).to_be_focused()
    with page.expect_response(lambda response: "/automations/runs/workflows?q=invoice" in response.url):
        search.press_sequentially("invoice")
    option = page.locator(".ts-dropdown .option", has_text="Zeta: invoice paid → thank you")
    option.wait_for()
    expect(page.locator(".ts-dropdown .option", has_text="Deal won")).to_have_count(0)
    screenshot("runs-workflow-filter-search")
    option.click()
    page.get_by_role("button", name="Apply filters").click()

    page.wait_for_url(re.compile(rf".*workflow={invoices_id}.*"))
    shown = sorted(int(row.get_attribute("data-run-id")) for row in page.locator("tr[data-run-id]").all())
    assert shown == sorted(invoice_runs) and not set(shown) & set(deal_runs)
    assert "Zeta: invoice paid → thank you" in control.inner_text()  # the choice stays shown
    tab = page.locator("[data-tab='all'] .badge").inner_text()
    assert tab == "2"
    screenshot("runs-workflow-filter-applied")
    assert page.errors == []

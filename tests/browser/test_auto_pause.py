"""A workflow that fails on every event is paused after N failed runs in a row; the owner sees it in the bell,
reads why in the editor, fixes the step and activates it again, and the next event runs it to completion.
(The merger extends this with the Runs tab: select the failed runs, replay them, see them resolved.)"""
from sqlalchemy import select

from models import Deal, Workflow, Workspace, db
from services import deal_service, workspace_service
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import executions_of, make_workflow
from tests.support.engine import wait_for_status

WRONG_DEAL = {"type": "update_deal", "config": {"deal_id": "999999", "changes": {"notes": "Synced to the ERP"}}}


def fire_and_finish(ws_id: int, title: str):
    """A deal created through the service fires the workflow; wait until its run is over."""
    deal_service.create_deal(ws_id, {"title": title, "value": "500", "currency": "USD"}, None)
    db.session.commit()
    workflow = db.session.scalar(select(Workflow).where(Workflow.workspace_id == ws_id))
    runs = executions_of(workflow)
    return wait_for_status(runs[-1].id) if runs else None


def test_a_failing_workflow_is_paused_the_owner_fixes_and_activates_it(live_server, page, screenshot):
    app = live_server.app
    with app.app_context():
        ws, _owner = workspace_service.create_workspace("Pause Co", "paula@example.test", PASSWORD, "Paula Owner")
        db.session.get(Workspace, ws.id).auto_pause_after_failures = 3
        db.session.commit()
        workflow = make_workflow(ws.id, name="Note deals in the ERP", error_strategy="stop", actions=[WRONG_DEAL])
        ws_id, workflow_id = ws.id, workflow.id
        for n in range(3):
            assert fire_and_finish(ws_id, f"Deal {n}").status == "failed"
        assert db.session.get(Workflow, workflow_id).status == "paused"
        deal_service.create_deal(ws_id, {"title": "Deal while paused", "value": "5"}, None)
        db.session.commit()
        assert len(executions_of(db.session.get(Workflow, workflow_id))) == 3  # a paused workflow runs on nothing

    sign_in(page, live_server, "paula@example.test")
    bell = page.locator("#notification-bell")
    assert bell.locator(".bell-badge").inner_text().strip() == "2"
    bell.get_by_role("button").first.click()
    menu = bell.locator(".bell-menu")
    assert "Note deals in the ERP was paused after failing repeatedly" in menu.inner_text()
    assert "3 new failures of Note deals in the ERP" in menu.inner_text()
    screenshot("auto-pause-bell")

    page.goto(live_server.url + "/automations")
    row = page.locator("tr", has_text="Note deals in the ERP")
    assert "Paused automatically after 3 failed runs in a row" in row.inner_text()
    row.get_by_role("link", name="Fix and activate").click()
    page.wait_for_url(live_server.url + f"/automations/{workflow_id}#paused-reason")
    banner = page.locator("#paused-reason")
    assert "Paused automatically after 3 failed runs in a row" in banner.inner_text()
    assert "999999" in banner.inner_text() or "not found" in banner.inner_text().lower()
    screenshot("auto-pause-editor")

    # The fix: the step should update the deal of the event, not a fixed one.
    page.locator(".action-card", has_text="Update Deal").click()
    page.fill("#f-actions-0-config-deal_id", "{{ trigger.deal.id }}")
    banner.get_by_role("button", name="Save and activate").click()
    page.wait_for_url(live_server.url + f"/automations/{workflow_id}")
    assert page.locator(".editor-header .badge").first.inner_text().strip() == "Active"
    assert page.locator("#paused-reason").count() == 0
    screenshot("auto-pause-fixed")

    with app.app_context():
        saved = db.session.get(Workflow, workflow_id)
        assert saved.status == "active" and saved.paused_reason is None
        run = fire_and_finish(ws_id, "Deal after the fix")
        assert run.status == "completed"
        deal = db.session.scalar(select(Deal).where(Deal.workspace_id == ws_id, Deal.title == "Deal after the fix"))
        assert deal.notes == "Synced to the ERP"
    assert page.errors == []

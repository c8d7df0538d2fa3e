"""Issue #22's browser criterion, in one story through the real pages: a workflow failing on every event is paused
after N failed runs in a row; the owner sees it in the bell and the inbox, opens the paused workflow from its list
row ("Fix and activate"), fixes the step and activates it, opens the failures notification, selects the failed runs
in the Runs tab, replays them after the confirmation, and sees them marked "resolved by #N" and out of the Failed
tab's count; the replays did the work the failed runs could not, and the next event runs to completion."""
import re
import time

from sqlalchemy import select

from models import Deal, Workflow, WorkflowExecution, Workspace, db
from services import deal_service, workspace_service
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import executions_of, make_workflow
from tests.support.engine import wait_for_status

WRONG_DEAL = {"type": "update_deal", "config": {"deal_id": "999999", "changes": {"notes": "Synced to the ERP"}}}
NAME = "Note deals in the ERP"


def fire_and_finish(ws_id: int, title: str):
    """A deal created through the service fires the workflow; wait until its run is over."""
    deal_service.create_deal(ws_id, {"title": title, "value": "500", "currency": "USD"}, None)
    db.session.commit()
    workflow = db.session.scalar(select(Workflow).where(Workflow.workspace_id == ws_id))
    runs = executions_of(workflow)
    return wait_for_status(runs[-1].id) if runs else None


def wait_until_resolved(app, run_ids: list[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            db.session.expire_all()
            resolved = db.session.scalars(select(WorkflowExecution.resolved_by_id)
                                          .where(WorkflowExecution.id.in_(run_ids))).all()
            if all(resolved) or time.monotonic() > deadline:
                return resolved
            time.sleep(0.2)


def test_a_failing_workflow_is_paused_fixed_and_its_failed_runs_replayed_and_resolved(live_server, page, screenshot):
    app = live_server.app
    with app.app_context():
        ws, _owner = workspace_service.create_workspace("Pause Co", "paula@example.test", PASSWORD, "Paula Owner")
        db.session.get(Workspace, ws.id).auto_pause_after_failures = 3
        db.session.commit()
        workflow = make_workflow(ws.id, name=NAME, error_strategy="stop", actions=[WRONG_DEAL])
        ws_id, workflow_id = ws.id, workflow.id
        for n in range(3):
            assert fire_and_finish(ws_id, f"Deal {n}").status == "failed"
        failed = [run.id for run in executions_of(db.session.get(Workflow, workflow_id))]
        assert db.session.get(Workflow, workflow_id).status == "paused"
        deal_service.create_deal(ws_id, {"title": "Deal while paused", "value": "5"}, None)
        db.session.commit()
        assert len(executions_of(db.session.get(Workflow, workflow_id))) == 3  # a paused workflow runs on nothing

    # The bell: one grouped failures notification (not three) and the pause.
    sign_in(page, live_server, "paula@example.test")
    bell = page.locator("#notification-bell")
    assert bell.locator(".bell-badge").inner_text().strip() == "2"
    bell.get_by_role("button").first.click()
    menu = bell.locator(".bell-menu")
    assert f"{NAME} was paused after failing repeatedly" in menu.inner_text()
    assert f"3 new failures of {NAME}" in menu.inner_text()
    screenshot("auto-pause-bell")
    menu.get_by_role("link", name="Open the inbox").click()
    page.wait_for_url(live_server.url + "/notifications")
    paused_item = page.locator("li", has_text=f"{NAME} was paused after failing repeatedly")
    assert "Paused automatically after 3 failed runs in a row" in paused_item.inner_text()

    # The list says why it is paused and offers the way out.
    page.get_by_role("navigation", name="Modules").get_by_role("link", name="Workflows").click()
    page.wait_for_url(live_server.url + "/automations")
    row = page.locator("tr", has_text=NAME)
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
    with app.app_context():
        saved = db.session.get(Workflow, workflow_id)
        assert saved.status == "active" and saved.paused_reason is None

    # The failures notification opens the workflow's failed runs.
    page.goto(live_server.url + "/notifications")
    page.locator("li", has_text=f"3 new failures of {NAME}").get_by_role("button", name="Open").click()
    page.wait_for_url(re.compile(r".*/automations/runs\?.*status=failed.*"))
    assert page.locator("[data-tab='failed'] .badge").inner_text() == "3"
    assert sorted(int(row.get_attribute("data-run-id")) for row in page.locator("tr[data-run-id]").all()) == failed
    replay_button = page.get_by_role("button", name="Replay…")
    assert replay_button.is_disabled()  # nothing selected yet
    page.get_by_label("Select every run on this page").check()
    assert page.locator("[data-bulk-count]").inner_text() == "3 runs selected."
    screenshot("runs-triage-selected")
    replay_button.click()

    page.wait_for_url(re.compile(r".*/automations/runs/bulk\?.*"))
    assert page.locator("#bulk-count").inner_text() == "Replay 3 runs?"
    page.get_by_role("button", name="Replay 3 runs").click()
    page.wait_for_url(re.compile(r".*/automations/runs\?.*status=failed.*"))
    assert "Replaying 3 runs." in page.content()
    assert all(wait_until_resolved(app, failed)), "the replays did not resolve the failed runs"

    page.reload()
    assert page.locator("tr[data-run-id]").count() == 0
    assert page.locator("[data-tab='failed'] .badge").inner_text() == "0"
    assert "3 failed runs resolved by a replay are hidden." in page.locator("#resolved-toggle").inner_text()
    page.get_by_role("link", name="Show resolved").click()
    page.wait_for_url(re.compile(r".*resolved=show.*"))
    marks = page.locator(".run-resolved")
    assert marks.count() == 3 and all(re.fullmatch(r"resolved by #\d+", mark.inner_text().strip()) for mark in marks.all())
    screenshot("runs-triage-resolved")
    marks.first.click()
    page.wait_for_selector("#run-body[data-status='completed']")

    with app.app_context():  # the replays updated the deals the failed runs could not; the next event just runs
        notes = db.session.scalars(select(Deal.notes).where(Deal.workspace_id == ws_id, Deal.title.like("Deal _"))).all()
        assert notes == ["Synced to the ERP"] * 3
        run = fire_and_finish(ws_id, "Deal after the fix")
        assert run.status == "completed"
        deal = db.session.scalar(select(Deal).where(Deal.workspace_id == ws_id, Deal.title == "Deal after the fix"))
        assert deal.notes == "Synced to the ERP"
    assert page.errors == []

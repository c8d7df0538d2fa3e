"""Issue #21 in Chromium: edit a workflow twice, open History, read the diff, restore version 1, export the
file, import it as a new draft."""
from playwright.sync_api import expect
from sqlalchemy import select

from models import Workflow, db
from services import workflow_service, workspace_service
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import log_step


def _save(page, note):
    page.fill("#version-note", note)
    with page.expect_navigation():
        page.locator("button[name=intent][value=save]").click()
    expect(page.locator(".alert, .toast").filter(has_text="Saved").first).to_be_attached()


def test_edit_twice_read_the_diff_restore_export_and_import(live_server, page, screenshot, tmp_path):
    with live_server.app.app_context():
        workspace, owner = workspace_service.create_workspace("History Co", "history@example.test", PASSWORD, "Hana History")
        workflow = workflow_service.create_workflow(workspace.id, {
            "name": "Deal alert", "trigger": {"type": "deal_created", "config": {}},
            "actions": [log_step()]}, owner)
        db.session.commit()
        workflow_id = workflow.id
    sign_in(page, live_server, "history@example.test")
    page.goto(f"{live_server.url}/automations/{workflow_id}")
    screenshot("editor-history-tab")
    page.fill("#workflow-name", "Deal alert (renamed)")
    page.locator("#show-unsaved-changes").click()
    expect(page.locator("#unsaved-diff")).to_contain_text("Name changed")
    _save(page, "clearer name")
    page.locator(".action-card").first.click()
    page.fill("#f-actions-0-config-message", "A deal arrived: {{ trigger.deal.title }}")
    _save(page, "say which deal")

    page.locator(".workflow-tabs a", has_text="History").click()
    page.wait_for_url(f"**/automations/{workflow_id}/history")
    rows = page.locator("#history-list tbody tr[data-version]")
    expect(rows).to_have_count(3)
    expect(page.locator("#history-list")).to_contain_text("say which deal")
    expect(page.locator("#history-list")).to_contain_text("clearer name")
    diff = page.locator("#version-diff")
    expect(diff).to_contain_text("Changed step 1")
    expect(diff).to_contain_text("A deal arrived: {{ trigger.deal.title }}")
    expect(diff.locator("tbody tr")).to_have_count(1)  # one field changed: one row
    page.fill("#compare-from", "1")
    page.fill("#compare-to", "3")
    page.get_by_role("button", name="Show changes").click()
    expect(page.locator("#version-diff")).to_contain_text("Name changed")
    screenshot("history-diff")

    page.locator("tr[data-version='1'] a", has_text="Restore").click()
    expect(page.locator("#version-diff")).to_contain_text("Deal alert (renamed)")
    page.get_by_role("button", name="Restore version 1").click()
    page.wait_for_url(f"**/automations/{workflow_id}/history")
    expect(page.locator("body")).to_contain_text("Restored version 1 as version 4")
    expect(page.locator("#history-list tbody tr[data-version]")).to_have_count(4)
    with live_server.app.app_context():
        restored = db.session.get(Workflow, workflow_id)
        assert (restored.name, restored.version, restored.status) == ("Deal alert", 4, "draft")

    page.goto(f"{live_server.url}/automations/{workflow_id}")
    page.get_by_role("button", name="More actions").click()
    with page.expect_download() as download_info:
        page.locator(".dropdown-menu a", has_text="Export file").click()
    download = download_info.value
    assert download.suggested_filename == "deal-alert.workestra.json"
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    page.goto(f"{live_server.url}/automations")
    page.locator("a", has_text="Import").first.click()
    page.set_input_files("#import-file", str(path))
    screenshot("import-page")
    page.get_by_role("button", name="Import as draft").click()
    page.wait_for_url("**/automations/*")
    expect(page.locator("#workflow-name")).to_have_value("Deal alert")
    with live_server.app.app_context():
        copies = db.session.scalars(select(Workflow).where(Workflow.name == "Deal alert")).all()
        assert len(copies) == 2 and {w.status for w in copies} == {"draft"}
    assert not page.errors

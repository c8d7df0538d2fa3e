"""An admin builds a workflow in Chromium: three actions, drag to reorder, a delay, save, activate, run now."""
import re

from playwright.sync_api import expect
from sqlalchemy import select

from models import Workflow, db
from services import workspace_service
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD


def _action_titles(page):
    return [t.strip() for t in page.locator("#flow-actions .flow-card-title").all_inner_texts()]


def test_build_reorder_save_activate_and_run_a_workflow(live_server, page, screenshot):
    with live_server.app.app_context():
        workspace_service.create_workspace("Editor Co", "editor@example.test", PASSWORD, "Eddie Editor")
        db.session.commit()
    sign_in(page, live_server, "editor@example.test")
    page.goto(live_server.url + "/automations/new")
    page.fill("#workflow-name", "Big deal alert")

    for count, label in enumerate(("Log Event", "Send In-App Notification", "Wait / Delay"), start=1):
        page.locator(".palette-item", has_text=label).click()
        page.wait_for_function("(n) => document.querySelectorAll('#flow-actions .action-card').length === n", arg=count)
    assert _action_titles(page) == ["Log Event", "Send In-App Notification", "Wait / Delay"]

    # The newest action's panel is open: fill the wait, then the others.
    page.fill("#f-actions-2-config-seconds", "1")
    page.locator(".action-card", has_text="Log Event").click()
    page.fill("#f-actions-0-config-event", "big_deal")
    page.locator("[data-panel='0'] .variable-picker button").first.click()
    page.locator("[data-insert-target='f-actions-0-config-event'][data-insert-variable='{{ trigger.deal.title }}']").click()
    assert page.input_value("#f-actions-0-config-event") == "big_deal{{ trigger.deal.title }}"
    page.fill("#f-actions-0-config-event", "big_deal")
    page.fill("#f-actions-0-config-message", "Deal {{ trigger.deal.title }}")
    page.locator(".action-card", has_text="Send In-App Notification").click()
    page.fill("#f-actions-1-config-title", "A big deal landed")
    page.select_option("#f-actions-1-config-recipient", "role")
    page.select_option("#f-actions-1-config-role", "owner")
    page.fill("#delay-1", "1")

    # Drag the Wait to the top.
    wait_card = page.locator(".action-card", has_text="Wait / Delay").locator(".drag-handle")
    first_card = page.locator(".action-card").first
    # Sortable moves the cards at once; the server's re-render of the reordered form comes after: wait for it.
    with page.expect_response(lambda response: "/automations/editor/render" in response.url
                              and "edit=reorder" in (response.request.post_data or "")):
        wait_card.drag_to(first_card, target_position={"x": 40, "y": 5})
    expect(page.locator(".delay-badge")).to_have_count(1)  # the notification's delay survived the re-render
    assert _action_titles(page) == ["Wait / Delay", "Log Event", "Send In-App Notification"]

    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/automations/\d+$"))
    assert "saved as a draft" in page.locator("#toasts").inner_text()
    assert page.locator(".editor-header .badge").inner_text() == "Draft"
    screenshot("editor-saved")

    page.reload()
    assert _action_titles(page) == ["Wait / Delay", "Log Event", "Send In-App Notification"]
    with live_server.app.app_context():
        workflow = db.session.scalar(select(Workflow).where(Workflow.name == "Big deal alert"))
        assert [a["type"] for a in workflow.actions] == ["wait_delay", "log_event", "send_in_app_notification"]
        assert workflow.actions[2]["delay_seconds"] == 1 and workflow.status == "draft"

    page.get_by_role("button", name="Activate").click()
    page.wait_for_load_state()
    assert page.locator(".editor-header .badge").inner_text() == "Active"

    page.get_by_role("button", name="Run for real now…").click()
    page.locator("#run-now-modal").get_by_role("button", name="Run for real").click()
    page.wait_for_selector("[data-run-status='completed']", timeout=30000)
    screenshot("editor-run-now")
    assert page.locator("#run-live .list-group-item .badge", has_text="completed").count() == 3
    assert page.errors == []


def test_invalid_save_keeps_every_edit_and_marks_the_fields(live_server, page):
    with live_server.app.app_context():
        workspace_service.create_workspace("Invalid Co", "invalid@example.test", PASSWORD)
        db.session.commit()
    sign_in(page, live_server, "invalid@example.test")
    page.goto(live_server.url + "/automations/new")
    page.locator(".palette-item", has_text="Update Win Probability").click()
    page.wait_for_selector("#f-actions-0-config-probability")
    page.fill("#f-actions-0-config-probability", "150")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".alert-danger")
    assert "Name is required." in page.locator(".editor-title").inner_text()
    assert page.locator(".action-card.has-errors").count() == 1
    page.locator(".action-card").first.click()
    assert page.input_value("#f-actions-0-config-probability") == "150"
    assert "Must be between 0 and 100." in page.locator("[data-panel='0']").inner_text()

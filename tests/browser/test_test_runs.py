"""A user tries a template copy on a recent real event before turning it on (issue #20): Test, each step's
rendered output, Test one step, then activate. Nothing is sent or kept by the tests."""
from sqlalchemy import func, select

from models import Deal, OutboxEmail, WorkflowExecution, db
from services import contact_service, deal_service, workspace_service
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD


def close_test_panel(page):
    page.locator("#test-panel .btn-close").click()
    page.locator(".offcanvas-backdrop").wait_for(state="detached")


def test_try_a_template_on_a_recent_event_then_activate(live_server, page, screenshot):
    with live_server.app.app_context():
        workspace, _owner = workspace_service.create_workspace("Trial Co", "trial@example.test", PASSWORD, "Tess Trial")
        contact = contact_service.create_contact(workspace.id, {"name": "Ada Buyer", "email": "ada@acme.example"}, None)
        deal = deal_service.create_deal(workspace.id, {"title": "Acme — 50 seats", "value": "5000",
                                                       "contact_id": contact.id}, None)
        db.session.commit()
        deal_service.move_deal_to_stage(workspace.id, deal.id, "closed_won", None)  # a real Deal Closed Won event
        db.session.commit()
        deals_before = db.session.scalar(select(func.count()).select_from(Deal))
    sign_in(page, live_server, "trial@example.test")

    page.goto(live_server.url + "/automations/templates")
    page.fill("#template-search", "Deal Won → Thank-You")
    page.locator(".template-col:not(.d-none)").first.get_by_role("button", name="Use Template").click()
    page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1].isdigit())
    page.get_by_role("button", name="Run for real now…").click()  # says it is real, and what it would do
    page.locator("#run-now-modal.show").wait_for()
    assert "This is a real run: it sends 1 email, logs 1 audit event." in page.locator("#run-now-modal").inner_text()
    page.locator("#run-now-modal").get_by_role("button", name="Close").click()
    page.locator("#run-now-modal.show").wait_for(state="detached")

    page.locator("[data-test-open]").click()
    sample = page.locator("#test-sample")
    sample.wait_for()
    recent = sample.locator("option").first.inner_text()
    assert recent.startswith("Use a recent event: Deal 'Acme — 50 seats'"), recent
    assert "ago" in recent or "just now" in recent
    sample.select_option(index=0)
    assert "ada@acme.example" in page.locator("#test-payload").input_value()
    page.get_by_role("button", name="Run test").click()
    page.locator("[data-test-status]").wait_for()
    assert page.locator("[data-test-status]").get_attribute("data-test-status") == "completed"
    steps = page.locator("[data-test-step]")
    assert steps.count() == 2
    email = steps.nth(0).locator("[data-test-email]").inner_text()  # the email as it would read, not sent
    assert "The email it would send (not sent)" in email and "To: ada@acme.example" in email
    assert "Thank you" in email and "\\n" not in email
    email_output = steps.nth(0).locator("[data-test-output]").text_content()  # and its JSON, folded
    assert '"would_send"' in email_output and '"sent": false' in email_output
    logged = steps.nth(1).locator("[data-test-summary]").inner_text()  # the audit event it would log
    assert logged.startswith("Would create an audit event:"), logged
    screenshot("test-run-panel")

    close_test_panel(page)
    page.locator(".action-card").nth(1).get_by_role("button", name="Step 2 menu").click()
    page.locator(".action-card").nth(1).get_by_role("button", name="Test this step").click()
    # The whole test's results may still be in the panel until this one's arrive: wait for this one's words.
    page.locator("#test-results").get_by_text("Tested up to this step").wait_for()
    page.wait_for_function("document.querySelectorAll('#test-results [data-test-step]').length === 2")
    assert page.locator("#test-panel-title").inner_text().startswith("Test Step 2")
    screenshot("test-this-step")
    close_test_panel(page)

    page.get_by_role("button", name="Activate").click()
    page.wait_for_load_state()
    assert page.locator(".editor-header .badge").inner_text() == "Active"
    with live_server.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0
        assert db.session.scalar(select(func.count()).select_from(Deal)) == deals_before
        modes = db.session.scalars(select(WorkflowExecution.mode)).all()
        assert modes == ["test", "test"]
    assert page.errors == []

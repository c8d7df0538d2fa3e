"""A team member browses the gallery, searches, uses a template and lands in the editor on the draft."""
from models import db
from services import workspace_service
from tests.conftest import PASSWORD


def test_browse_search_and_use_a_template(live_server, page, screenshot):
    with live_server.app.app_context():
        workspace_service.create_workspace("Gallery Co", "gallery@example.test", PASSWORD, "Gil Gallery")
        db.session.commit()
    page.goto(live_server.url + "/login")
    page.fill("#email", "gallery@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")

    page.get_by_role("link", name="Templates").click()
    page.wait_for_url(live_server.url + "/automations/templates")
    assert page.locator(".template-card").count() >= 20
    screenshot("gallery")

    page.fill("#template-search", "csat")
    visible = page.locator(".template-col:not(.d-none) h3")
    assert visible.all_inner_texts() == ["Ticket Resolved → CSAT Survey"]

    page.locator(".template-col:not(.d-none)").get_by_role("button", name="Use Template").click()
    page.wait_for_url(lambda url: "/automations/" in url and url.rstrip("/").split("/")[-1].isdigit())
    assert page.locator("#workflow-name").input_value() == "Ticket Resolved → CSAT Survey"
    assert page.locator(".editor-header .badge").inner_text() == "Draft"
    assert page.locator(".trigger-card .flow-card-title").inner_text() == "Ticket Resolved"
    assert "copied into your workspace as a draft" in page.locator("#toasts").inner_text()
    screenshot("gallery-used-template")
    assert page.errors == []

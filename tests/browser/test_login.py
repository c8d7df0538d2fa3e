"""A person signs in through Chromium and sees the layout."""
from models import db
from services import workspace_service

from tests.conftest import PASSWORD


def test_sign_in_shows_the_layout_with_automations(live_server, page, screenshot):
    with live_server.app.app_context():
        workspace_service.create_workspace("Browser Co", "browser@example.test", PASSWORD, "Bea Browser")
        db.session.commit()

    page.goto(live_server.url + "/automations")
    assert "/login" in page.url
    page.fill("#email", "browser@example.test")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    assert page.locator(".alert-danger").inner_text() == "Wrong email or password."

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/automations")
    screenshot("login-layout")
    assert page.locator(".app-sidebar").get_by_role("link", name="Workflows").is_visible()
    assert page.locator(".app-topbar").inner_text().count("Browser Co") == 1
    screenshot("login-layout")
    assert page.errors == []

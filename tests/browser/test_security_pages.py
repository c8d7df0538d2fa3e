"""Under the Content-Security-Policy (no inline script): the behaviours moved to static/js/widgets.js work,
the members page manages people, and a violation really fails a browser test."""
from playwright.sync_api import expect

from models import db
from services import workspace_service
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import make_workflow


def test_a_csp_violation_is_caught_by_the_page_fixture(live_server, page):
    page.goto(live_server.url + "/login")
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
                             document.body.appendChild(s); }""")
    for _ in range(50):  # the violation is reported when the browser gets to it (a loaded host is slower)
        if page.csp_violations:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("() => window.ran") is None  # the inline script did not run
    assert any("script-src" in v or "Content Security Policy" in v for v in page.csp_violations), page.csp_violations
    page.csp_violations.clear()  # this test wanted one


def test_moved_scripts_work_switcher_sort_copy_and_reveal(live_server, page, screenshot):
    with live_server.app.app_context():
        first, owner = workspace_service.create_workspace("First Co", "csp@example.test", PASSWORD, "Cy Csp")
        second, _ = workspace_service.create_workspace("Second Co", "csp2@example.test", PASSWORD, "Other")
        workspace_service.add_user(second, owner.email, PASSWORD, "admin")
        db.session.commit()
        hook = make_workflow(first.id, trigger="webhook_received", name="Inbound")
        make_workflow(first.id, name="Alpha flow")
        hook_id = hook.id
    sign_in(page, live_server, "csp@example.test")

    with page.expect_navigation():
        page.select_option("#workspace-switcher", label="Second Co")  # submit-on-change
    assert "Switched to Second Co" in page.locator("#toasts").inner_text()
    with page.expect_navigation():
        page.select_option("#workspace-switcher", label="First Co")

    page.goto(live_server.url + "/automations")
    page.select_option("#workflow-sort", index=1)
    page.wait_for_url(lambda url: "sort=" in url)

    page.goto(live_server.url + f"/automations/{hook_id}")
    page.locator(".trigger-card").click()  # opens the trigger's panel
    secret = page.locator("#webhook-secret")
    secret.wait_for()
    assert secret.get_attribute("type") == "password"
    page.locator("[data-reveal-target='#webhook-secret']").click()
    assert secret.get_attribute("type") == "text"
    copy = page.locator("[data-copy-target='#webhook-url']")
    copy.click()
    expect(copy).to_contain_text("Copied")
    screenshot("csp-webhook-panel")
    assert page.errors == []


def test_an_owner_manages_members_in_the_browser(live_server, page, screenshot):
    with live_server.app.app_context():
        ws, _owner = workspace_service.create_workspace("Team Co", "boss@team.test", PASSWORD, "Bo Boss")
        workspace_service.add_user(ws, "pat@team.test", PASSWORD, "member", "Pat Member")
        db.session.commit()
    sign_in(page, live_server, "boss@team.test")
    page.goto(live_server.url + "/settings/members")
    page.fill("#invite-email", "new@team.test")
    with page.expect_navigation():
        page.click("text=Create invitation")
    assert page.locator("[id^=invitation-]").count() == 1
    row = page.locator("tr", has_text="pat@team.test")
    row.locator("select").select_option("admin")
    with page.expect_navigation():
        row.get_by_role("button", name="Save role").click()
    assert "pat@team.test is now admin" in page.locator("#toasts").inner_text()
    screenshot("members")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator("tr", has_text="pat@team.test").get_by_role("button", name="Remove pat@team.test").click()
    assert page.locator("tr", has_text="pat@team.test").count() == 0
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Revoke the invitation for new@team.test").click()
    assert page.locator("[id^=invitation-]").count() == 0
    assert page.errors == []

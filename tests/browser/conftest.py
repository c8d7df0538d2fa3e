"""Playwright on Debian's Chromium (it cannot download its own browser here)."""
import os

import pytest

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR", "tmp/screenshots")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Reports every Content-Security-Policy violation to the console, where the fixture collects it (Chromium
# also logs its own "Refused to ..." line; the event catches what it does not log, e.g. in swapped content).
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`);
});
"""


def _is_csp_violation(text: str) -> bool:
    return "Content Security Policy" in text or text.startswith("CSP violation")


@pytest.fixture
def page(browser):
    """A page; a Content-Security-Policy violation anywhere in the test fails it (at teardown)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(CSP_REPORTER)
    page = context.new_page()
    errors = []
    csp_violations = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: csp_violations.append(message.text)
            if message.type == "error" and _is_csp_violation(message.text) else None)
    page.errors = errors
    page.csp_violations = csp_violations
    yield page
    context.close()
    assert not csp_violations, f"Content-Security-Policy violations: {csp_violations}"


@pytest.fixture
def screenshot(page):
    def take(name: str) -> str:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        path = os.path.join(SCREENSHOTS, f"{name}.png")
        page.screenshot(path=path, full_page=True)
        return path

    return take


def sign_in(page, live_server, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and wait for the home page."""
    page.goto(live_server.url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")

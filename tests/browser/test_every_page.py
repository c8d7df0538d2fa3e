"""Every page (tests/security/test_tenant_isolation.py PAGES) on a phone (390×844) and a desktop (1440×900):
the page never scrolls sideways, every control a user must reach is inside the viewport (or inside a box
that scrolls on its own), and axe-core (vendored, tests/browser/vendor) finds no serious or critical
WCAG 2.1 A/AA violation."""
import os

import pytest
from flask import url_for

from engine.runtime.runner import run_execution
from models import Workflow, db
from services import workspace_service
from tests.conftest import PASSWORD, owner_of
from tests.factories import make_user, make_workflow, make_workspace, new_execution
from tests.security.conftest import populate
from tests.security.test_tenant_isolation import PAGES, _fill

AXE = os.path.join(os.path.dirname(__file__), "vendor", "axe.min.js")
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
SIGNED_OUT = {"auth.login", "auth.signup", "auth.accept_invitation"}
SCREENSHOT_PAGES = {"main.dashboard", "automations.workflows", "automations.edit_workflow", "automations.templates",
                    "runs.index", "runs.detail", "crm.index", "quick_rules.index", "auth.login"}

# Controls a user must be able to reach: visible ones must sit inside the viewport horizontally, or inside
# an ancestor that scrolls sideways on its own (a .table-responsive box) which itself is inside the viewport.
OFF_SCREEN_JS = """
() => {
  const width = window.innerWidth;
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"]), [role=button], [role=tab], h1';
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && !el.closest('[aria-hidden=true], .visually-hidden, .visually-hidden-focusable');
  };
  const scroller = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p).overflowX;
      if ((s === 'auto' || s === 'scroll') && p.scrollWidth > p.clientWidth) return p;
    }
    return null;
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 40) + '"';
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!visible(el)) continue;
    const box = scroller(el) || el;
    const r = box.getBoundingClientRect();
    if (r.left < -1 || r.right > width + 1) out.push(describe(el) + ' at ' + Math.round(r.left) + '..' + Math.round(r.right));
    if (box === el && r.width < 24 && el.matches('h1')) out.push(describe(el) + ' is squeezed to ' + Math.round(r.width) + 'px');
  }
  return out;
}
"""

AXE_JS = """
async () => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(
    v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\\n').slice(1, 2).join('')).join(' | '));
}
"""


@pytest.fixture
def site(live_server):
    """A workspace with one record of every kind, a completed and a failed run, an open invitation."""
    app = live_server.app
    with app.app_context():
        ws = make_workspace("Every Page Co", "every@example.test")
        tenant = populate(ws)
        # a second workspace with a long name, so the top bar shows the workspace switcher
        make_user(make_workspace("Second Workspace With A Rather Long Name"), "admin", email="every@example.test")
        workflow = db.session.get(Workflow, tenant.ids["workflow_id"])
        execution = new_execution(workflow, {"deal": {"id": 1, "title": "Big one"}})
        db.session.add(execution)
        db.session.commit()
        run_execution(execution.id)
        invitation = workspace_service.invite_member(ws, "invitee@example.test", "member", owner_of(ws))
        db.session.commit()
        ids = dict(tenant.ids, invitation_token=invitation.token)
        urls = []
        with app.test_request_context():
            for case in PAGES:
                args = {name: key[1:] if key.startswith("=") else ids[key] for name, key in case.args.items()}
                query = {name: _fill(value, ids) for name, value in (case.query or {}).items()}
                urls.append((case.endpoint, url_for(case.endpoint, **args, **query)))
    return live_server, urls


def _sign_in(page, live_server):
    page.goto(live_server.url + "/login")
    page.fill("#email", "every@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")


def _check(page, label, problems):
    width = page.evaluate("window.innerWidth")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"{label}: the page scrolls sideways ({scroll_width}px > {width}px)")
    for item in page.evaluate(OFF_SCREEN_JS):
        problems.append(f"{label}: {item} is outside the viewport")
    page.add_script_tag(path=AXE)
    for violation in page.evaluate(AXE_JS):
        problems.append(f"{label}: axe {violation}")


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_the_screen_and_passes_axe(browser, site, size):
    live_server, urls = site
    os.makedirs(os.environ.get("SCREENSHOT_DIR", "tmp/screenshots"), exist_ok=True)
    problems = []
    for signed_in in (False, True):
        context = browser.new_context(viewport=SIZES[size], bypass_csp=True)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        if signed_in:
            _sign_in(page, live_server)
        for endpoint, url in urls:
            if (endpoint in SIGNED_OUT) == signed_in:
                continue
            response = page.goto(live_server.url + url)
            page.wait_for_load_state("networkidle")
            if response.status != 200:
                problems.append(f"{url}: answered {response.status}")
                continue
            _check(page, f"{size} {url}", problems)
            if endpoint in SCREENSHOT_PAGES:
                name = url.strip("/").replace("/", "-") or "dashboard"
                page.screenshot(path=os.path.join(os.environ.get("SCREENSHOT_DIR", "tmp/screenshots"),
                                                  f"page-{size}-{name}.png"), full_page=True)
        problems.extend(f"{size}: script error {error}" for error in errors)
        context.close()
    assert not problems, "\n".join(problems)


def test_on_a_phone_the_menu_button_opens_the_sidebar_and_the_top_bar_menus_fit(browser, site):
    live_server, _urls = site
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_in(page, live_server)
    sidebar_link = page.locator(".app-sidebar a", has_text="Workflows")
    assert not sidebar_link.is_visible(), "the sidebar should be tucked away on a phone"
    page.get_by_role("button", name="Menu").click()
    page.wait_for_selector("#app-sidebar.show:not(.showing)")
    box = sidebar_link.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    sidebar_link.click()
    page.wait_for_url(live_server.url + "/automations")
    for toggle in ("Notifications", "Account"):
        page.get_by_role("button", name=toggle).click()
        menu = page.locator(".app-topbar .dropdown-menu.show")
        menu.wait_for(state="visible")
        box = menu.bounding_box()
        assert box["x"] >= -1 and box["x"] + box["width"] <= 391, f"{toggle} menu spills out: {box}"
        page.keyboard.press("Escape")
    context.close()


BRANCHING = [
    {"id": "a1", "type": "log_event", "config": {"event": "seen"}},
    {"id": "b1", "type": "branch", "config": {"match": "any", "conditions": [
        {"field": "deal.value", "op": "gte", "value": 10000}, {"field": "steps.a1.output.event", "op": "eq", "value": "vip"}]},
     "then": [{"id": "a2", "type": "log_event", "delay_seconds": 3600,
               "config": {"event": "a_rather_long_event_name_for_a_big_deal_that_must_not_push_the_card_out"}},
              {"id": "a5", "type": "wait_delay", "config": {"seconds": 86400}}],
     "else": [{"id": "a3", "type": "log_event", "config": {"event": "small"}}]},
    {"id": "a4", "type": "log_event", "config": {"event": "done", "message": "{{ steps.a1.output.event }}"}},
]


@pytest.mark.parametrize("size", list(SIZES))
def test_a_branching_workflow_fits_the_screen_and_passes_axe(browser, live_server, size):
    """The editor of a workflow with a branch (its card, its Then and Else paths, a nested step's panel) and the run
    detail of a run that took the Else path: no sideways scroll, nothing off-screen, axe-core clean."""
    app = live_server.app
    with app.app_context():
        ws = make_workspace("Branch Page Co", "every@example.test")
        workflow = make_workflow(ws.id, actions=BRANCHING, name="Big or small deals")
        execution = new_execution(workflow, {"deal": {"id": 1, "title": "Small one", "value": 10}})
        db.session.add(execution)
        db.session.commit()
        run_execution(execution.id)
        workflow_id, execution_id = workflow.id, execution.id
    os.makedirs(os.environ.get("SCREENSHOT_DIR", "tmp/screenshots"), exist_ok=True)
    context = browser.new_context(viewport=SIZES[size], bypass_csp=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, live_server)
    problems = []
    page.goto(f"{live_server.url}/automations/{workflow_id}")
    page.wait_for_load_state("networkidle")
    assert page.locator(".branch-card .flow-card-open").count() == 1
    _check(page, f"{size} editor", problems)
    for step in ("Step 2: Branch (If / Else)", "Step 2 › Then 1: Log Event"):
        page.locator(f"[data-step='{step}'] .flow-card-open").click()
        page.wait_for_selector(f"[data-step='{step}'].selected")
        _check(page, f"{size} editor, {step} open", problems)
    page.screenshot(path=os.path.join(os.environ.get("SCREENSHOT_DIR", "tmp/screenshots"), f"page-{size}-branch-editor.png"),
                    full_page=True)
    page.goto(f"{live_server.url}/automations/runs/{execution_id}")
    page.wait_for_load_state("networkidle")
    assert page.locator(".run-step-not-taken").count() == 2
    _check(page, f"{size} run detail", problems)
    problems.extend(f"{size}: script error {error}" for error in errors)
    context.close()
    assert not problems, "\n".join(problems)

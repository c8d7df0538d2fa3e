"""The editor's rough edges (issue #23), each as a person meets it in Chromium."""
import re

from playwright.sync_api import expect
from sqlalchemy import select

from models import Workflow, db
from services import workspace_service
from tests.conftest import PASSWORD


def _open_editor(live_server, page, email):
    with live_server.app.app_context():
        workspace_service.create_workspace(f"{email} Co", email, PASSWORD, "Edna Editor")
        db.session.commit()
    page.goto(live_server.url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/automations/new")


def _add(page, label):
    count = page.locator("#flow-actions .action-card").count()
    page.locator(".palette-item", has_text=label).click()
    page.wait_for_function("(n) => document.querySelectorAll('#flow-actions .action-card').length === n", arg=count + 1)


def _visible_pane(page):
    return page.locator(".editor-pane:not(.d-none)")


def _saved(live_server, name):
    with live_server.app.app_context():
        return db.session.scalar(select(Workflow).where(Workflow.name == name))


def test_the_trigger_list_opens_in_full_not_clipped_by_the_panel(live_server, page):
    _open_editor(live_server, page, "clip@example.test")
    page.locator(".trigger-card").click()
    page.locator("[data-panel='trigger'] .ts-control").click()
    page.wait_for_selector(".ts-dropdown .option")
    # An option is really shown when the point at its centre belongs to it (not cut off by a scrolling box).
    shown = page.evaluate("""() => [...document.querySelectorAll('.ts-dropdown .option')].filter(o => {
        const r = o.getBoundingClientRect();
        if (r.height === 0 || r.bottom > window.innerHeight) return false;
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return hit && (hit === o || o.contains(hit));
    }).length""")
    assert shown >= 5, f"only {shown} trigger options can be seen"


def test_clicking_the_selected_card_again_and_again_toggles_it(live_server, page):
    _open_editor(live_server, page, "toggle@example.test")
    trigger = page.locator(".trigger-card")
    seen = []
    for _ in range(4):
        trigger.click()
        seen.append(_visible_pane(page).get_attribute("data-panel"))
    assert seen == ["trigger", "settings", "trigger", "settings"]


def test_a_refused_save_still_warns_before_leaving(live_server, page):
    _open_editor(live_server, page, "unsaved@example.test")
    _add(page, "Log Event")
    page.fill("#f-actions-0-config-event", "kept")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".alert-danger")  # no name: nothing saved
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.locator(".editor-header a", has_text="Workflows").click()
    for _ in range(50):  # the dialog comes when the browser gets to it (CI's parallel suites load the host)
        if dialogs:
            break
        page.wait_for_timeout(100)
    assert dialogs == ["beforeunload"]
    assert page.url.endswith("/automations/new")
    assert page.input_value("#f-actions-0-config-event") == "kept"


def test_card_summaries_follow_the_edits(live_server, page):
    _open_editor(live_server, page, "summary@example.test")
    _add(page, "Log Event")
    assert page.locator(".action-card .flow-card-meta").inner_text() != "Platform"
    assert "Not set up yet" in page.locator(".action-card .flow-card-meta").inner_text()
    page.fill("#f-actions-0-config-event", "big_deal")
    assert page.locator(".action-card .flow-card-meta").inner_text() == "Event: big_deal"

    page.locator(".conditions-card").click()
    page.get_by_role("button", name="Add condition").click()
    page.wait_for_selector("#cond-0-field")
    page.select_option("#cond-0-field", "deal.value")
    page.select_option("#cond-0-op", "gte")
    page.fill("#cond-0-value", "1000")
    summary = page.locator(".conditions-card").inner_text()
    assert "deal.value" in summary and "1000" in summary and "?" not in summary, summary
    assert "runs on every" not in summary


def test_a_bad_delay_is_reported_under_its_field_and_units_are_offered(live_server, page):
    _open_editor(live_server, page, "delay@example.test")
    page.fill("#workflow-name", "Delayed")
    _add(page, "Log Event")
    page.fill("#f-actions-0-config-event", "later")
    page.fill("#delay-0", "abc")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".alert-danger")
    pane = page.locator("[data-panel='0']")
    assert pane.locator(".alert-danger").count() == 0, "the delay's error sits at the top of the panel"
    expect(page.locator("#delay-0-errors")).to_be_visible()
    assert page.locator("#delay-0").get_attribute("aria-invalid") == "true"
    expect(page.locator(".delay-badge")).to_have_count(0)  # no "⏱ abc s"

    page.fill("#delay-0", "2")
    page.locator("[name='actions-0-delay_unit']").select_option("hours")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/automations/\d+$"))
    assert _saved(live_server, "Delayed").actions[0]["delay_seconds"] == 7200
    expect(page.locator(".delay-badge")).to_have_text(re.compile(r"2 h"))
    assert page.locator("[name='actions-0-delay_unit']").input_value() == "hours"


def test_wait_takes_minutes_hours_and_days(live_server, page):
    _open_editor(live_server, page, "wait@example.test")
    page.fill("#workflow-name", "Wait a day")
    _add(page, "Wait / Delay")
    page.fill("#f-actions-0-config-seconds", "1")
    page.locator("[name='actions-0-config-seconds_unit']").select_option("days")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/automations/\d+$"))
    assert _saved(live_server, "Wait a day").actions[0]["config"]["seconds"] == 86400
    assert "Waits 1 d" in page.locator(".action-card .flow-card-meta").inner_text()


def test_dragging_the_card_being_edited_keeps_its_panel(live_server, page):
    _open_editor(live_server, page, "drag@example.test")
    for label in ("Log Event", "Send In-App Notification", "Wait / Delay"):
        _add(page, label)
    assert "Wait / Delay" in _visible_pane(page).locator("h2").inner_text()  # the newest card is open
    handle = page.locator(".action-card", has_text="Wait / Delay").locator(".drag-handle")
    with page.expect_response(lambda response: "/automations/editor/render" in response.url
                              and "edit=reorder" in (response.request.post_data or "")):
        handle.drag_to(page.locator(".action-card").first, target_position={"x": 40, "y": 5})
    page.wait_for_function("() => document.querySelector('#flow-actions .flow-card-title').textContent.includes('Wait')")
    assert "Wait / Delay" in _visible_pane(page).locator("h2").inner_text()
    assert page.locator(".action-card.selected .flow-card-title").inner_text().strip().endswith("Wait / Delay")


def test_step_menus_open_from_the_keyboard(live_server, page):
    _open_editor(live_server, page, "keys@example.test")
    _add(page, "Log Event")
    _add(page, "Send In-App Notification")
    menu = page.get_by_role("button", name="Step 2 menu")
    menu.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Move up")).to_be_visible()
    page.get_by_role("button", name="Move up").click()
    page.wait_for_function("() => document.querySelector('#flow-actions .flow-card-title').textContent.includes('Notification')")
    page.wait_for_selector("#editor-body[data-current]")  # editor.js has wired the new cards
    # a card opens from the keyboard too
    page.locator(".action-card", has_text="Log Event").locator(".flow-card-open").focus()
    page.keyboard.press("Enter")
    assert "Log Event" in _visible_pane(page).locator("h2").inner_text()


def test_long_names_fit_the_header_at_1280(live_server, page):
    page.set_viewport_size({"width": 1280, "height": 800})
    _open_editor(live_server, page, "longname@example.test")
    page.fill("#workflow-name", "When a very large enterprise deal is won, thank the buyer")
    fits = page.evaluate("() => { const i = document.getElementById('workflow-name'); return i.scrollWidth <= i.clientWidth; }")
    assert fits, "the workflow name is cut off in the header"


def test_notification_and_email_forms_offer_each_choice_once(live_server, page):
    _open_editor(live_server, page, "choices@example.test")
    _add(page, "Send In-App Notification")
    pane = page.locator("[data-panel='0']")
    assert pane.inner_text().count("record's owner") + pane.inner_text().count("Owner of the record") == 1
    assert "record_owner" not in pane.inner_text()  # the long API help is not shown here
    _add(page, "Send Template Email")
    options = page.locator("#f-actions-1-config-template option").all_inner_texts()
    assert not ("—" in options and "None" in options), options

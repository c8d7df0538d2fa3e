"""An admin builds a branching workflow in Chromium with the mouse: a branch on the deal's value, a step added in
each path (one dragged from Then to Else), a step after the branch that reads a step's output through the Insert
field picker; save, reload, activate, create a big and a small deal on the CRM pages, and read both timelines."""
import re
import time

from playwright.sync_api import expect
from sqlalchemy import select

from models import Workflow, WorkflowExecution, db
from services import workspace_service
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD


def _rendered(page, edit):
    return page.expect_response(lambda response: "/automations/editor/render" in response.url
                                and f"edit={edit}" in (response.request.post_data or ""))


def _cards(page):
    return [card.get_attribute("data-step") for card in page.locator("#flow-actions .action-card").all()]


def _create_deal(page, live_server, title, value):
    page.goto(live_server.url + "/crm/deals/new")
    page.fill("#f-title", title)
    page.fill("#f-value", value)
    page.get_by_role("button", name="Create deal").click()
    page.wait_for_url("**/crm/deals/*")


def test_build_a_branching_workflow_with_the_mouse_and_fire_it_both_ways(live_server, page, screenshot):
    with live_server.app.app_context():
        workspace_service.create_workspace("Branch Co", "brancher@example.test", PASSWORD, "Bea Brancher")
        db.session.commit()
    sign_in(page, live_server, "brancher@example.test")
    page.goto(live_server.url + "/automations/new")
    page.fill("#workflow-name", "Big or small")

    # A branch: Deal value ≥ 10,000
    with _rendered(page, "add_action"):
        page.locator(".palette-item", has_text="Branch (If / Else)").click()
    page.select_option("#branch-0-cond-0-field", "deal.value")
    page.select_option("#branch-0-cond-0-op", "gte")
    page.fill("#branch-0-cond-0-value", "10000")

    # Two steps in Then (with "+ Add step" in that path), then drag the second one to Else
    for event in ("big_deal", "small_deal"):
        with _rendered(page, "choose_path"):
            page.locator("[data-add-to='0.then']").click()
        expect(page.locator("[data-add-target-note]")).to_contain_text("Adding to step 1 · Then")
        with _rendered(page, "add_action"):
            page.locator(".palette-item", has_text="Log Event").click()
        position = 1 if event == "big_deal" else 2
        page.fill(f"#f-actions-{position}-config-event", event)
    assert _cards(page) == ["Step 1: Branch (If / Else)", "Step 1 › Then 1: Log Event", "Step 1 › Then 2: Log Event"]
    with _rendered(page, "reorder"):
        page.locator("[data-step='Step 1 › Then 2: Log Event'] .drag-handle").drag_to(
            page.locator("[data-parent='0.else']"))
    expect(page.locator("[data-step='Step 1 › Else 1: Log Event']")).to_have_count(1)
    assert _cards(page) == ["Step 1: Branch (If / Else)", "Step 1 › Then 1: Log Event", "Step 1 › Else 1: Log Event"]
    expect(page.locator("[data-branch-summary]")).to_have_text("If Deal value ≥ 10,000")

    # After the branch, on the main line: a step that reads which path ran, inserted with the picker
    with _rendered(page, "add_action"):
        page.locator(".palette-item", has_text="Log Event").click()
    page.fill("#f-actions-3-config-event", "decided")
    page.locator("[data-panel='3'] .variable-picker > button").nth(1).click()  # the Message field's picker
    menu = page.locator("[data-panel='3'] .variable-menu.show")
    menu.locator("[data-variable-search]").fill("path taken")
    expect(menu.locator("[data-insert-variable]:visible")).to_have_count(1)
    menu.locator("[data-insert-variable]:visible").click()
    message = page.input_value("#f-actions-3-config-message")
    assert re.fullmatch(r"\{\{ steps\.s\d+\.output\.path \}\}", message), message

    # The keyboard moves a step too: Alt+↑ puts the last step above the branch, Alt+↓ brings it back
    page.wait_for_selector("#editor-body[data-wired]", state="attached")  # the re-rendered body's keys are wired
    with _rendered(page, "move_up"):
        page.locator("[data-step='Step 2: Log Event'] .flow-card-open").focus()
        page.keyboard.press("Alt+ArrowUp")
    expect(page.locator("#flow-actions .action-card").first).to_have_attribute("data-step", "Step 1: Log Event")
    page.wait_for_selector("#editor-body[data-wired]", state="attached")
    with _rendered(page, "move_down"):
        page.locator("[data-step='Step 1: Log Event'] .flow-card-open").focus()
        page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("#flow-actions .action-card").last).to_have_attribute("data-step", "Step 2: Log Event")

    # Collapse and expand the branch's paths
    page.locator("[data-branch-collapse]").click()
    expect(page.locator("[data-branch-paths='0']")).to_be_hidden()
    page.locator("[data-branch-collapse]").click()
    expect(page.locator("[data-branch-paths='0']")).to_be_visible()

    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/automations/\d+$"))
    screenshot("editor-branch-saved")
    page.reload()
    assert _cards(page) == ["Step 1: Branch (If / Else)", "Step 1 › Then 1: Log Event", "Step 1 › Else 1: Log Event",
                            "Step 2: Log Event"]
    with live_server.app.app_context():
        workflow = db.session.scalar(select(Workflow).where(Workflow.name == "Big or small"))
        [branch, after] = workflow.actions
        assert branch["type"] == "branch" and branch["config"]["conditions"] == [{"field": "deal.value", "op": "gte", "value": "10000"}]
        assert [a["config"]["event"] for a in branch["then"]] == ["big_deal"]
        assert [a["config"]["event"] for a in branch["else"]] == ["small_deal"]
        assert after["config"]["message"] == "{{ steps.%s.output.path }}" % branch["id"]
        workflow_id = workflow.id

    page.get_by_role("button", name="Activate").click()
    page.wait_for_load_state()
    assert page.locator(".editor-header .badge").inner_text() == "Active"

    # Fire it both ways from the CRM pages
    _create_deal(page, live_server, "Whale", "50000")
    _create_deal(page, live_server, "Minnow", "500")
    deadline = time.monotonic() + 30
    while True:
        with live_server.app.app_context():
            runs = db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.workflow_id == workflow_id)
                                      .order_by(WorkflowExecution.id)).all()
            done = [run for run in runs if run.status == "completed"]
            ids = [run.id for run in runs]
            messages = [run.completed_actions[-1]["input"].get("message") for run in done]
        if len(done) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(done) == 2, [run.status for run in runs]
    assert messages == ["then", "else"]  # the step after the branch read {{ steps.<branch>.output.path }}

    page.goto(live_server.url + f"/automations/runs/{ids[0]}")
    expect(page.locator(".run-branch-took")).to_have_text(re.compile(r"took Then: Deal value ≥ 10,000"))
    expect(page.locator(".run-step-not-taken")).to_have_count(1)
    assert page.locator(".run-step[data-path='0.else.0']").get_attribute("data-status") == "skipped"
    screenshot("run-branch-then")
    page.goto(live_server.url + f"/automations/runs/{ids[1]}")
    expect(page.locator(".run-branch-took")).to_have_text(re.compile(r"took Else: not \(Deal value ≥ 10,000\)"))
    assert page.locator(".run-step[data-path='0.then.0']").get_attribute("data-status") == "skipped"
    assert page.locator(".run-step[data-path='0.else.0']").get_attribute("data-status") == "completed"
    screenshot("run-branch-else")
    assert page.errors == []

"""An owner selects the failed runs in the Runs tab, replays them after fixing the workflow, and sees them marked
"resolved by #N" and out of the Failed tab (issue #22). The merger chains this after the auto-pause browser test."""
import re
import time

from sqlalchemy import select

from engine.runtime.runner import run_execution
from models import WorkflowExecution, db
from services import workflow_service, workspace_service
from tests.browser.conftest import sign_in
from tests.browser.test_runs import receiver, webhook_step  # noqa: F401 (the receiver fixture)
from tests.conftest import PASSWORD, _free_port
from tests.factories import make_workflow, new_execution
from tests.support.engine import log_step


def test_select_failed_runs_replay_them_and_see_them_resolved(live_server, page, screenshot, receiver):  # noqa: F811
    app = live_server.app
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    closed_port = _free_port()
    with app.app_context():
        ws, _owner = workspace_service.create_workspace("Triage Co", "triage@example.test", PASSWORD, "Tia Triage")
        db.session.commit()
        workflow = make_workflow(ws.id, name="Deal → billing webhook", error_strategy="stop", actions=[
            log_step("before"), webhook_step(f"http://127.0.0.1:{closed_port}/hook")])
        originals = []
        for title in ("Acme", "Globex", "Initech"):
            execution = new_execution(workflow, {"deal": {"title": title}})
            db.session.add(execution)
            db.session.commit()
            run_execution(execution.id)
            originals.append(execution.id)
        workflow = workflow_service.get_workflow(ws.id, workflow.id)  # fixed: the receiver answers now
        workflow_service.update_workflow(workflow, dict(workflow.definition(), actions=[
            log_step("before"), webhook_step(f"http://127.0.0.1:{receiver.server_port}/hook")]))
        db.session.commit()

    sign_in(page, live_server, "triage@example.test")
    page.goto(live_server.url + "/automations/runs?status=failed")
    assert sorted(int(row.get_attribute("data-run-id")) for row in page.locator("tr[data-run-id]").all()) == originals
    replay_button = page.get_by_role("button", name="Replay…")
    assert replay_button.is_disabled()  # nothing selected yet
    page.get_by_label("Select every run on this page").check()
    assert page.locator("[data-bulk-count]").inner_text() == "3 runs selected."
    screenshot("runs-triage-selected")
    replay_button.click()

    page.wait_for_url(re.compile(r".*/automations/runs/bulk\?.*"))
    assert page.locator("#bulk-count").inner_text() == "Replay 3 runs?"
    page.get_by_role("button", name="Replay 3 runs").click()
    page.wait_for_url(re.compile(r".*/automations/runs\?.*status=failed.*"))
    assert "Replaying 3 runs." in page.content()

    deadline = time.monotonic() + 30
    with app.app_context():
        while True:
            db.session.expire_all()
            resolved = db.session.scalars(select(WorkflowExecution.resolved_by_id)
                                          .where(WorkflowExecution.id.in_(originals))).all()
            if all(resolved) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert all(resolved), "the replays did not resolve the failed runs"

    page.reload()
    assert page.locator("tr[data-run-id]").count() == 0
    assert page.locator("[data-tab='failed'] .badge").inner_text() == "0"
    assert "3 failed runs resolved by a replay are hidden." in page.locator("#resolved-toggle").inner_text()
    page.get_by_role("link", name="Show resolved").click()
    page.wait_for_url(re.compile(r".*resolved=show.*"))
    marks = page.locator(".run-resolved")
    assert marks.count() == 3 and all(re.fullmatch(r"resolved by #\d+", mark.inner_text().strip()) for mark in marks.all())
    screenshot("runs-triage-resolved")
    marks.first.click()
    page.wait_for_selector("#run-body[data-status='completed']")
    assert receiver.calls == ["/hook"] * 3
    assert page.errors == []

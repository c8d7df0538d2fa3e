"""An owner finds a failed run in the Runs tab, reads why, fixes the URL and replays from the failed step."""
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import func, select

from tests.factories import new_execution
from engine.runtime.runner import run_execution
from models import AuditEvent, db
from services import workflow_service, workspace_service
from tests.conftest import PASSWORD, _free_port
from tests.factories import make_workflow
from tests.support.engine import load_execution, log_step


@pytest.fixture
def receiver():
    """A webhook receiver on loopback that answers 200 and remembers each request path."""
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.calls = calls
    yield server
    server.shutdown()
    thread.join(timeout=5)


def webhook_step(url):
    return {"type": "call_webhook", "config": {"url": url}}


def test_read_a_failed_run_fix_it_and_replay_from_the_failed_step(live_server, page, screenshot, receiver):
    app = live_server.app
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    closed_port = _free_port()
    with app.app_context():
        ws, _owner = workspace_service.create_workspace("Runs Co", "runs@example.test", PASSWORD, "Rita Runs")
        db.session.commit()
        workflow = make_workflow(ws.id, name="Deal → accounting webhook", error_strategy="stop", actions=[
            log_step("before_webhook"), webhook_step(f"http://127.0.0.1:{closed_port}/hook"), log_step("after_webhook")])
        execution = new_execution(workflow, {"deal": {"title": "Acme renewal"}})
        db.session.add(execution)
        db.session.commit()
        original_id, workflow_id, ws_id = execution.id, workflow.id, ws.id
        run_execution(original_id)
        assert load_execution(original_id).status == "failed"

    page.goto(live_server.url + "/login")
    page.fill("#email", "runs@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")

    page.get_by_role("link", name="Runs").click()
    page.wait_for_url(live_server.url + "/automations/runs")
    row = page.locator(f"tr[data-run-id='{original_id}']")
    assert row.get_attribute("data-status") == "failed"
    assert "Deal → accounting webhook" in row.inner_text()
    assert row.locator(".run-error").inner_text().strip() != ""
    screenshot("runs-tab")

    row.get_by_role("link", name=f"#{original_id}").click()
    page.wait_for_url(live_server.url + f"/automations/runs/{original_id}")
    error = page.locator("#run-error").inner_text()
    assert "Step 2 (Call Webhook) failed" in error
    assert str(closed_port) in error or "connect" in error.lower() or "refused" in error.lower()
    assert page.locator(".run-step[data-step='3']").get_attribute("data-status") == "skipped"
    screenshot("run-detail-failed")

    with app.app_context():  # fix the URL (the editor would do this)
        workflow = workflow_service.get_workflow(ws_id, workflow_id)
        workflow_service.update_workflow(workflow, dict(workflow.definition(), actions=[
            log_step("before_webhook"), webhook_step(f"http://127.0.0.1:{receiver.server_port}/hook"),
            log_step("after_webhook")]))
        db.session.commit()

    page.get_by_role("button", name="Replay").click()
    page.get_by_role("button", name="Replay from the failed step (step 2) on the current definition").click()
    page.wait_for_url(re.compile(r".*/automations/runs/(\d+)$"))
    replay_id = int(page.url.rsplit("/", 1)[1])
    assert replay_id != original_id
    page.wait_for_selector("#run-body[data-status='completed']", timeout=20_000)
    assert page.locator(".run-step[data-step='1']").inner_text().count(f"from run #{original_id}") == 1
    assert [page.locator(f".run-step[data-step='{n}']").get_attribute("data-status") for n in (1, 2, 3)] == [
        "completed", "completed", "completed"]
    assert page.locator("h1 .run-status").inner_text().strip() == "Completed"
    assert f"run #{original_id}" in page.locator("#run-body").inner_text()
    screenshot("run-detail-replayed")

    assert receiver.calls == ["/hook"]
    with app.app_context():
        first_steps = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.workspace_id == ws_id, AuditEvent.event == "before_webhook"))
        assert first_steps == 1  # the completed step did not run again
        assert load_execution(replay_id).replay_of_id == original_id
    assert page.errors == []

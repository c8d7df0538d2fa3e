"""Lists and pages say what is true (issue #23): no Pause on a draft, a run filter with no match, the
cancelled and waiting runs' copy, Cancel asks first."""
import re
from datetime import timedelta

from models import db
from models.base import utcnow
from models.platform import OutboxEmail
from services import audit_service
from tests.factories import make_workflow
from tests.http.test_runs import add_run, page_text
from tests.support.engine import log_step


def test_a_draft_row_offers_activate_not_pause(logged_in):
    client, ws, _ = logged_in()
    make_workflow(ws.id, status="draft", name="Draft flow")
    html = page_text(client.get("/automations"))
    assert "Activate" in html and "bi-pause" not in html


def test_a_filter_without_matches_says_so(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id)
    add_run(workflow, created_at=utcnow() - timedelta(days=3))
    db.session.commit()
    today = utcnow().date().isoformat()
    html = page_text(client.get(f"/automations/runs?from={today}&to={today}"))
    assert "No runs match these filters." in html and "No runs here yet" not in html
    assert "No runs here yet" not in page_text(client.get("/automations/runs"))


def test_a_run_waiting_in_its_wait_step_says_so_and_a_cancelled_wait_is_not_not_run(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, actions=[{"type": "wait_delay", "config": {"seconds": 3600}}, log_step()])
    waiting = add_run(workflow, status="paused", current_step=0, resume_at=utcnow() + timedelta(hours=1))
    cancelled = add_run(workflow, status="cancelled", current_step=0, error="Cancelled by Owner One")
    db.session.commit()
    html = page_text(client.get(f"/automations/runs/{waiting.id}"))
    assert "Step 1 (Wait / Delay) is waiting" in html and "Waiting before step 1" not in html
    assert 'data-confirm="Cancel this run?' in html
    html = page_text(client.get(f"/automations/runs/{cancelled.id}"))
    assert "Cancelled by Owner One. Steps that had not started did not run." in html
    assert "Cancelled during this wait." in html


def test_the_new_token_try_it_command_works_as_pasted(logged_in):
    client, _, _ = logged_in()
    html = page_text(client.post("/settings/api-tokens", data={"name": "ci"}))
    secret = re.search(r'id="new-token-secret" readonly value="([^"]+)"', html).group(1)
    assert f"Authorization: Bearer {secret}&#34;" in html or f'Authorization: Bearer {secret}"' in html


def test_the_outbox_links_the_run_that_sent_an_email(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id)
    run = add_run(workflow)
    db.session.flush()
    email = OutboxEmail(workspace_id=ws.id, to="a@b.example", subject="Hi", body="Hello",
                          created_by_execution_id=run.id, created_by_step=0)
    db.session.add(email)
    db.session.commit()
    html = page_text(client.get("/settings/outbox"))
    assert f'href="/automations/runs/{run.id}">workflow run #{run.id}</a>' in html


def test_the_gallery_shows_each_template_once_with_category_links_and_what_is_in_use(logged_in):
    client, ws, _ = logged_in()
    html = page_text(client.get("/automations/templates"))
    cards = re.findall(r'<h3 class="h6 mb-0">([^<]+)</h3>', html)
    assert cards and len(cards) == len(set(cards)), "a template is shown twice"
    assert 'href="#category-featured"' in html and 'id="category-featured"' in html
    assert "In use" not in html
    slug = re.search(r'action="/automations/templates/(\d+)/use"', html).group(1)
    client.post(f"/automations/templates/{slug}/use")
    assert "In use" in page_text(client.get("/automations/templates"))
    searched = page_text(client.get("/automations/templates?q=deal"))
    found = re.findall(r'<h3 class="h6 mb-0">([^<]+)</h3>', searched)
    assert found and len(found) == len(set(found))


def test_the_audit_log_names_and_links_workflows_and_runs_and_filters_by_event(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id, name="Thank the buyer")
    run = add_run(workflow)
    db.session.flush()
    audit_service.record_event(ws.id, "deal.updated", "Deal changed", actor_label=f"Workflow #{workflow.id}",
                               execution_id=run.id)
    audit_service.record_event(ws.id, "workflow.paused", "Paused", actor_label="Olivia", subject_type="workflow",
                               subject_id=workflow.id)
    db.session.commit()
    html = page_text(client.get("/settings/audit-log"))
    assert f'Workflow <a href="/automations/{workflow.id}">Thank the buyer</a>' in html
    assert f'<a href="/automations/runs/{run.id}">run #{run.id}</a>' in html
    assert f'Paused <a href="/automations/{workflow.id}">Thank the buyer</a>' in html
    filtered = page_text(client.get("/settings/audit-log?event=workflow.paused"))
    assert "Deal changed" not in filtered and "Paused" in filtered

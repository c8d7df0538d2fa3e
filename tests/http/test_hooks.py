"""POST /hooks/<token>: signed deliveries, every rejection, replays, the rate limit, and the editor's panels."""
import hashlib
import hmac
import json
import os
import subprocess
import time

import pytest
from sqlalchemy import select

from models import AuditEvent, Ticket, WorkflowExecution, db
from models.triggers import WebhookDelivery
from services import incoming_webhook_service, workflow_service
from services.incoming_webhook_service import WebhookRejected, check_signature
from tests.factories import make_workflow, make_workspace
from tests.support.engine import wait_for_status

KNOWN_SECRET = "whsec_known_vector_secret"
KNOWN_BODY = b'{"event":"order.created","order_id":"ORD-1042"}'
KNOWN_TIMESTAMP = 1700000000
# printf '%s.%s' 1700000000 '<body>' | openssl dgst -sha256 -hmac 'whsec_known_vector_secret' -hex
KNOWN_DIGEST = "ed89eee5df84332dc9ca5673084e6b60fa65477b6d0635bfa71952167418a0fb"


@pytest.fixture
def app(make_app):
    """This module's app: executions wait for an explicit run, so assertions see them pending."""
    app = make_app(ENGINE_HANDOFF="sweep", WEBHOOK_RATE_LIMIT_PER_MINUTE=1000)
    with app.app_context():
        yield app
        db.session.remove()


def webhook_workflow(workspace_id, status="active", actions=None, name="Inbound orders"):
    workflow = make_workflow(workspace_id, trigger="webhook_received", status=status, name=name,
                             actions=actions or [{"type": "log_event", "config": {"event": "order", "message": "{{ trigger.body.order_id }}"}}])
    return workflow, incoming_webhook_service.endpoint_for(workflow.id)


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """Computed here independently of the service."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(client, endpoint, body=b'{"order_id": "ORD-1"}', *, secret=None, delivery_id=None, headers=None, sign=True, timestamp=None,
         environ_base=None):
    sent = {"Content-Type": "application/json"}
    if sign:
        sent["X-Workestra-Signature"] = signature(secret or endpoint.secret, body, timestamp)
    if delivery_id:
        sent["X-Workestra-Webhook-Id"] = delivery_id
    sent.update(headers or {})
    return client.post(f"/hooks/{endpoint.token}", data=body, headers=sent, csrf=False, environ_base=environ_base or {})


def executions():
    db.session.expire_all()
    return list(db.session.scalars(select(WorkflowExecution).order_by(WorkflowExecution.id)))


def deliveries(endpoint):
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id).order_by(WebhookDelivery.id)))


# --- The signature, with a known vector ---------------------------------------------------------

def test_known_vector_is_accepted_and_signs_like_the_service():
    header = f"t={KNOWN_TIMESTAMP},v1={KNOWN_DIGEST}"
    assert incoming_webhook_service.sign(KNOWN_SECRET, KNOWN_BODY, KNOWN_TIMESTAMP) == header
    check_signature(KNOWN_SECRET, KNOWN_BODY, header, now=KNOWN_TIMESTAMP + 299)
    check_signature(KNOWN_SECRET, KNOWN_BODY, f"t={KNOWN_TIMESTAMP},v1={'0' * 64},v1={KNOWN_DIGEST}", now=KNOWN_TIMESTAMP)


@pytest.mark.parametrize("body, header, now, reason", [
    (KNOWN_BODY + b" ", f"t={KNOWN_TIMESTAMP},v1={KNOWN_DIGEST}", KNOWN_TIMESTAMP, "Invalid signature"),
    (KNOWN_BODY, f"t={KNOWN_TIMESTAMP + 1},v1={KNOWN_DIGEST}", KNOWN_TIMESTAMP, "Invalid signature"),
    (KNOWN_BODY, f"t={KNOWN_TIMESTAMP},v1={KNOWN_DIGEST[:-1]}0", KNOWN_TIMESTAMP, "Invalid signature"),
    (KNOWN_BODY, f"t={KNOWN_TIMESTAMP},v1={KNOWN_DIGEST}", KNOWN_TIMESTAMP + 301, "Stale signature"),
    (KNOWN_BODY, f"t={KNOWN_TIMESTAMP},v1={KNOWN_DIGEST}", KNOWN_TIMESTAMP - 301, "Stale signature"),
    (KNOWN_BODY, f"v1={KNOWN_DIGEST}", KNOWN_TIMESTAMP, "Malformed"),
    (KNOWN_BODY, f"t=soon,v1={KNOWN_DIGEST}", KNOWN_TIMESTAMP, "Malformed"),
    (KNOWN_BODY, "", KNOWN_TIMESTAMP, "Missing"),
])
def test_bad_signatures_are_refused_with_the_reason(body, header, now, reason):
    with pytest.raises(WebhookRejected) as refused:
        check_signature(KNOWN_SECRET, body, header, now=now)
    assert refused.value.status == 401 and reason in refused.value.message


def test_wrong_secret_is_refused():
    with pytest.raises(WebhookRejected):
        check_signature(KNOWN_SECRET + "x", KNOWN_BODY, f"t={KNOWN_TIMESTAMP},v1={KNOWN_DIGEST}", now=KNOWN_TIMESTAMP)


# --- Endpoints ----------------------------------------------------------------------------------

def test_a_webhook_workflow_gets_a_token_and_secret_on_creation(app, workspace):
    ws = workspace()
    workflow, endpoint = webhook_workflow(ws.id, status="draft")
    assert endpoint is not None and len(endpoint.token) >= 40 and endpoint.secret.startswith("whsec_")
    other = make_workflow(ws.id)
    assert incoming_webhook_service.endpoint_for(other.id) is None
    second, second_endpoint = webhook_workflow(ws.id)
    assert second_endpoint.token != endpoint.token and second_endpoint.secret != endpoint.secret


# --- Receiving ------------------------------------------------------------------------------------

def test_a_valid_signed_request_starts_a_run(app, client, workspace):
    ws = workspace()
    workflow, endpoint = webhook_workflow(ws.id)
    response = post(client, endpoint, b'{"order_id": "ORD-7", "total": 12.5}', delivery_id="msg_1")
    assert response.status_code == 202, response.get_json()
    execution_id = response.get_json()["execution_id"]
    [execution] = executions()
    assert execution.id == execution_id and execution.workflow_id == workflow.id
    assert execution.source == "webhook" and execution.status == "pending"
    assert execution.trigger_payload["body"] == {"order_id": "ORD-7", "total": 12.5}
    assert execution.trigger_payload["delivery_id"] == "msg_1"
    [logged] = deliveries(endpoint)
    assert (logged.status_code, logged.execution_id, logged.delivery_id) == (202, execution_id, "msg_1")


def test_without_a_delivery_id_each_request_runs_and_gets_an_id(app, client, workspace):
    ws = workspace()
    _, endpoint = webhook_workflow(ws.id)
    first, second = post(client, endpoint, b'{"order_id": "A"}'), post(client, endpoint, b'{"order_id": "B"}')
    assert first.status_code == second.status_code == 202
    assert first.get_json()["delivery_id"] != second.get_json()["delivery_id"]
    assert len(executions()) == 2


@pytest.mark.parametrize("case, expected_status, expected_words", [
    ("unsigned", 401, "Missing X-Workestra-Signature"),
    ("bad_signature", 401, "Invalid signature"),
    ("wrong_secret", 401, "Invalid signature"),
    ("stale", 401, "Stale signature"),
    ("oversized", 413, "Body too large"),
    ("not_json", 400, "not valid JSON"),
    ("json_array", 422, "must be a JSON object"),
    ("not_utf8", 400, "not valid JSON"),
])
def test_each_rejection_is_a_clear_json_error_logged_without_a_run(app, client, workspace, case, expected_status, expected_words):
    ws = workspace()
    _, endpoint = webhook_workflow(ws.id)
    body = b'{"order_id": "ORD-1"}'
    kwargs = {}
    if case == "unsigned":
        kwargs["sign"] = False
    elif case == "bad_signature":
        kwargs["headers"] = {"X-Workestra-Signature": f"t={int(time.time())},v1={'ab' * 32}"}
    elif case == "wrong_secret":
        kwargs["secret"] = "whsec_not_the_secret"
    elif case == "stale":
        kwargs["timestamp"] = int(time.time()) - 600
    elif case == "oversized":
        body = json.dumps({"blob": "x" * (256 * 1024)}).encode()
    elif case == "not_json":
        body = b"order_id=ORD-1"
    elif case == "json_array":
        body = b'[{"order_id": "ORD-1"}]'
    elif case == "not_utf8":
        body = b'{"name": "\xff\xfe"}'
    response = post(client, endpoint, body, delivery_id=f"msg-{case}", **kwargs)
    assert response.status_code == expected_status
    assert response.is_json and expected_words in response.get_json()["message"]
    assert executions() == []
    db.session.refresh(endpoint)
    if expected_status in (401, 413):  # unverified: counted on the endpoint, no delivery row
        assert deliveries(endpoint) == [] and endpoint.unverified_count == 1
        return
    [logged] = deliveries(endpoint)
    assert logged.status_code == expected_status and expected_words in logged.error
    assert logged.dedupe_key is None and endpoint.unverified_count == 0


@pytest.mark.parametrize("status, word", [("draft", "a draft"), ("paused", "paused"), ("archived", "archived")])
def test_a_workflow_that_is_not_active_answers_409(app, client, workspace, status, word):
    ws = workspace()
    workflow, endpoint = webhook_workflow(ws.id, status=status)
    response = post(client, endpoint)
    assert response.status_code == 409
    assert f"is {word}" in response.get_json()["message"] and "activate it" in response.get_json()["message"]
    assert executions() == [] and deliveries(endpoint)[0].status_code == 409


def test_a_workflow_switched_to_another_trigger_refuses_deliveries(app, client, workspace):
    ws = workspace()
    workflow, endpoint = webhook_workflow(ws.id)
    workflow_service.update_workflow(workflow, dict(workflow.definition(), trigger={"type": "deal_created", "config": {}}))
    db.session.commit()
    response = post(client, endpoint)
    assert response.status_code == 409 and "no longer uses the Webhook Received trigger" in response.get_json()["message"]


def test_unknown_token_is_404_json(app, client, workspace):
    response = client.post("/hooks/not-a-real-token", data=b"{}", headers={"X-Workestra-Signature": "t=1,v1=00"}, csrf=False)
    assert response.status_code == 404 and response.is_json
    assert "No webhook endpoint" in response.get_json()["message"]


def test_get_is_not_allowed(app, client, workspace):
    ws = workspace()
    _, endpoint = webhook_workflow(ws.id)
    response = client.get(f"/hooks/{endpoint.token}")
    assert response.status_code == 405 and response.is_json


def test_hooks_404_with_the_flag_off(make_app):
    app = make_app(AUTOMATIONS_ENABLED=False)
    with app.app_context():
        ws = make_workspace("Flag Off Co")
        _, endpoint = webhook_workflow(ws.id)
        response = post(app.test_client(), endpoint)
        assert response.status_code == 404 and response.is_json
        assert executions() == []


# --- Replays and the rate limit ---------------------------------------------------------------

@pytest.mark.parametrize("header", ["X-Workestra-Webhook-Id", "webhook-id"])
def test_the_same_delivery_id_twice_runs_once(app, client, workspace, header):
    ws = workspace()
    _, endpoint = webhook_workflow(ws.id)
    body = b'{"order_id": "ORD-9"}'
    first = post(client, endpoint, body, headers={header: "msg_replayed"})
    again = post(client, endpoint, body, headers={header: "msg_replayed"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["execution_id"] == first.get_json()["execution_id"]
    assert again.get_json()["duplicate"] is True
    assert len(executions()) == 1


def test_a_delivery_id_refused_once_can_be_retried(app, client, workspace):
    ws = workspace()
    _, endpoint = webhook_workflow(ws.id)
    refused = post(client, endpoint, delivery_id="msg_retry", secret="whsec_wrong")
    accepted = post(client, endpoint, delivery_id="msg_retry")
    assert refused.status_code == 401 and accepted.status_code == 202
    assert len(executions()) == 1


def test_the_same_delivery_id_on_another_workflow_is_a_different_delivery(app, client, workspace):
    ws = workspace()
    _, first = webhook_workflow(ws.id)
    _, second = webhook_workflow(ws.id, name="Second")
    assert post(client, first, delivery_id="msg_shared").status_code == 202
    assert post(client, second, delivery_id="msg_shared").status_code == 202
    assert len(executions()) == 2


def test_rate_limit_per_workflow_answers_429_with_retry_after(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", WEBHOOK_RATE_LIMIT_PER_MINUTE=3)
    with app.app_context():
        ws = make_workspace("Busy Co")
        _, endpoint = webhook_workflow(ws.id)
        _, quiet = webhook_workflow(ws.id, name="Quiet")
        client = app.test_client()
        statuses = [post(client, endpoint, b'{"n": %d}' % n, delivery_id=f"msg_{n}").status_code for n in range(3)]
        limited = post(client, endpoint, b'{"n": 4}', delivery_id="msg_4")
        assert statuses == [202, 202, 202]
        assert limited.status_code == 429 and "Rate limit" in limited.get_json()["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert len(executions()) == 3 and deliveries(endpoint)[-1].status_code == 429
        assert post(client, quiet).status_code == 202  # the limit is per workflow


# --- End to end: External Webhook → Create Ticket from the panel's own curl example --------------

def test_external_webhook_creates_a_ticket_from_the_signed_curl_example(live_server):
    app = live_server.app
    with app.app_context():
        ws = make_workspace("Curl Co")
        workflow, endpoint = webhook_workflow(ws.id, name="External Webhook → Create Ticket", actions=[{
            "type": "create_ticket",
            "config": {"subject": "{{ trigger.body.message }}", "description": "Event {{ trigger.body.event }}", "priority": "high"},
        }])
        url = f"{live_server.url}/hooks/{endpoint.token}"
        script = incoming_webhook_service.curl_example(url, endpoint.secret)
        completed = subprocess.run(["bash", "-c", script + " -s -w '\\n%{http_code}'"], capture_output=True, text=True, timeout=30,
                                   env={**os.environ, "LC_ALL": "C"})
        *body_lines, status = completed.stdout.strip().splitlines()
        assert status == "202", completed.stdout + completed.stderr
        execution_id = json.loads("\n".join(body_lines))["execution_id"]
        execution = wait_for_status(execution_id)
        assert execution.status == "completed", execution.completed_actions
        ticket = db.session.get(Ticket, execution.completed_actions[0]["output"]["ticket_id"])
        assert ticket.workspace_id == ws.id
        assert (ticket.subject, ticket.description, ticket.priority) == ("Hello from curl", "Event test", "high")


# --- The editor's panels ----------------------------------------------------------------------------

def test_webhook_panel_shows_url_secret_curl_and_deliveries(app, client, logged_in):
    client, ws, admin = logged_in("admin")
    workflow, endpoint = webhook_workflow(ws.id)
    post(client, endpoint, delivery_id="msg_seen")
    post(client, endpoint, sign=False, delivery_id="msg_unsigned")
    page = client.get(f"/automations/{workflow.id}/triggers/webhook")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"/hooks/{endpoint.token}" in html and endpoint.secret in html
    assert "curl -X POST" in html and "X-Workestra-Signature" in html
    assert "msg_seen" in html and "msg_unsigned" not in html
    assert "1 request without a valid signature refused" in html


def test_rotating_the_secret_makes_the_old_one_fail(app, client, logged_in):
    client, ws, admin = logged_in("admin")
    workflow, endpoint = webhook_workflow(ws.id)
    old_secret = endpoint.secret
    response = client.post(f"/automations/{workflow.id}/triggers/webhook/rotate", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "New secret issued" in response.get_data(as_text=True)
    db.session.expire_all()
    endpoint = incoming_webhook_service.endpoint_for(workflow.id)
    assert endpoint.secret != old_secret and endpoint.secret in response.get_data(as_text=True)
    assert post(client, endpoint, secret=old_secret).status_code == 401
    assert post(client, endpoint).status_code == 202
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "webhook.secret_rotated", AuditEvent.subject_id == workflow.id))


def test_members_neither_see_nor_rotate_the_signing_secret(app, client, logged_in):
    """Finding 9: a member could read and rotate a webhook's signing secret; only owners and admins may."""
    client, ws, member = logged_in("member")
    workflow, endpoint = webhook_workflow(ws.id)
    for page in (client.get(f"/automations/{workflow.id}/triggers/webhook"), client.get(f"/automations/{workflow.id}")):
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert f"/hooks/{endpoint.token}" in html and endpoint.secret not in html
        assert "Only owners and admins" in html and "Rotate secret" not in html
    assert client.post(f"/automations/{workflow.id}/triggers/webhook/rotate").status_code == 403
    db.session.expire_all()
    assert incoming_webhook_service.endpoint_for(workflow.id).secret == endpoint.secret


def test_rotation_needs_csrf_and_stays_in_the_workspace(app, client, logged_in, workspace):
    client, ws, _ = logged_in("owner")
    other_ws = workspace()
    theirs, their_endpoint = webhook_workflow(other_ws.id)
    assert client.post(f"/automations/{theirs.id}/triggers/webhook/rotate").status_code == 404
    assert client.get(f"/automations/{theirs.id}/triggers/webhook").status_code == 404
    mine, endpoint = webhook_workflow(ws.id)
    assert client.post(f"/automations/{mine.id}/triggers/webhook/rotate", csrf=False).status_code == 400
    db.session.expire_all()
    assert incoming_webhook_service.endpoint_for(mine.id).secret == endpoint.secret
    assert incoming_webhook_service.endpoint_for(theirs.id).secret == their_endpoint.secret


def test_rotating_a_workflow_without_the_webhook_trigger_is_409(app, client, logged_in):
    client, ws, _ = logged_in("owner")
    workflow = make_workflow(ws.id)
    assert client.post(f"/automations/{workflow.id}/triggers/webhook/rotate").status_code == 409


def test_schedule_preview_lists_the_next_five_times(app, client, logged_in):
    client, ws, _ = logged_in("member")
    page = client.get("/automations/triggers/schedule-preview", query_string={"trigger.config.cron": "0 9 * * *", "timezone": "Europe/Berlin"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count("<li") == 5 and "09:00" in html and ("CET" in html or "CEST" in html)
    bad = client.get("/automations/triggers/schedule-preview", query_string={"cron": "every day", "timezone": "UTC"})
    assert bad.status_code == 200 and "Invalid cron expression" in bad.get_data(as_text=True)


def test_schedule_panel_shows_next_runs_in_the_workflow_zone(app, client, logged_in, workspace):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id, trigger="scheduled", trigger_config={"cron": "0 9 * * *", "timezone": "America/New_York"})
    html = client.get(f"/automations/{workflow.id}/triggers/schedule").get_data(as_text=True)
    assert "America/New_York" in html and html.count("09:00") >= 5 and ("EST" in html or "EDT" in html)
    assert "Active — next run" in html and 'id="cron-presets"' in html
    theirs = make_workflow(workspace().id, trigger="scheduled", trigger_config={"cron": "0 9 * * *", "timezone": "UTC"})
    assert client.get(f"/automations/{theirs.id}/triggers/schedule").status_code == 404

"""Incoming webhooks (issue #18, findings 4 and 5): replays of a signed request, made-up delivery ids, a flood
of unsigned requests from someone who only knows the URL, and Standard Webhooks signatures."""
import base64
import hashlib
import hmac
import time

import pytest
from sqlalchemy import func, select

from models import WorkflowExecution, db
from models.triggers import WebhookDelivery
from tests.factories import make_workspace
from tests.http.test_hooks import post, signature, webhook_workflow

ATTACKER = {"REMOTE_ADDR": "203.0.113.9"}
SENDER = {"REMOTE_ADDR": "198.51.100.7"}


def runs():
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(WorkflowExecution))


def rows():
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery))


def standard_headers(secret, message_id, body, timestamp=None, extra_signatures=()):
    """Computed here from the Standard Webhooks spec: v1,<base64 HMAC-SHA256 of "<id>.<ts>.<body>">."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    signatures = " ".join([*extra_signatures, "v1," + base64.b64encode(digest).decode()])
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures,
            "Content-Type": "application/json"}


@pytest.fixture
def hooks_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", WEBHOOK_RATE_LIMIT_PER_MINUTE=60, WEBHOOK_UNVERIFIED_PER_MINUTE=30)
    with app.app_context():
        yield app
        db.session.remove()


def test_the_same_signed_request_five_times_runs_once_even_with_made_up_ids(hooks_app):
    """Before: 5 runs, and 3 more with made-up ids (the id is not signed)."""
    client = hooks_app.test_client()
    _, endpoint = webhook_workflow(make_workspace("Replay Co").id)
    body = b'{"order_id": "ORD-5"}'
    headers = {"X-Workestra-Signature": signature(endpoint.secret, body), "Content-Type": "application/json"}
    responses = [client.post(f"/hooks/{endpoint.token}", data=body, headers=headers) for _ in range(5)]
    responses += [client.post(f"/hooks/{endpoint.token}", data=body, headers={**headers, "X-Workestra-Webhook-Id": f"fake-{n}"})
                  for n in range(3)]
    assert [r.status_code for r in responses] == [202] + [200] * 7
    first = responses[0].get_json()["execution_id"]
    assert all(r.get_json()["execution_id"] == first and r.get_json()["duplicate"] for r in responses[1:])
    assert runs() == 1


def test_a_senders_retry_with_the_same_id_and_a_new_signature_runs_once(hooks_app):
    client = hooks_app.test_client()
    _, endpoint = webhook_workflow(make_workspace("Retry Co").id)
    body = b'{"order_id": "ORD-6"}'
    first = post(client, endpoint, body, delivery_id="ord-6", timestamp=int(time.time()) - 10)
    retry = post(client, endpoint, body, delivery_id="ord-6")
    assert (first.status_code, retry.status_code) == (202, 200) and runs() == 1


def test_a_flood_of_unsigned_requests_neither_blocks_the_sender_nor_writes_rows(hooks_app):
    """Before: 300 unsigned POSTs used up the workflow's budget (the sender then got 429) and wrote 301 rows."""
    client = hooks_app.test_client()
    _, endpoint = webhook_workflow(make_workspace("Flood Co").id)
    statuses = [post(client, endpoint, b'{"x": %d}' % n, sign=False, environ_base=ATTACKER).status_code
                for n in range(300)]
    assert statuses == [401] * 30 + [429] * 270
    assert rows() == 0
    db.session.refresh(endpoint)
    assert endpoint.unverified_count == 30 and endpoint.last_unverified_at is not None
    real = post(client, endpoint, b'{"order_id": "REAL"}', environ_base=SENDER)
    assert real.status_code == 202 and runs() == 1
    # a signed request from the flooding address itself is verified first, so it is accepted too
    assert post(client, endpoint, b'{"order_id": "REAL-2"}', environ_base=ATTACKER).status_code == 202
    assert rows() == 2


def test_the_workflow_rate_limit_counts_only_signed_deliveries(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", WEBHOOK_RATE_LIMIT_PER_MINUTE=3, WEBHOOK_UNVERIFIED_PER_MINUTE=0)
    with app.app_context():
        client = app.test_client()
        _, endpoint = webhook_workflow(make_workspace("Limit Co").id)
        assert {post(client, endpoint, sign=False).status_code for _ in range(20)} == {401}
        signed = [post(client, endpoint, b'{"n": %d}' % n).status_code for n in range(4)]
        assert signed == [202, 202, 202, 429]
        db.session.remove()


def test_standard_webhooks_signatures_are_accepted_and_their_id_is_signed(hooks_app):
    client = hooks_app.test_client()
    _, endpoint = webhook_workflow(make_workspace("Standard Co").id)
    body = b'{"type": "invoice.paid", "id": "evt_1"}'
    url = f"/hooks/{endpoint.token}"
    headers = standard_headers(endpoint.secret, "msg_2Kx", body, extra_signatures=["v1,bm90IGl0"])
    accepted = client.post(url, data=body, headers=headers)
    assert accepted.status_code == 202, accepted.get_json()
    assert accepted.get_json()["delivery_id"] == "msg_2Kx"
    execution = db.session.get(WorkflowExecution, accepted.get_json()["execution_id"])
    assert execution.trigger_payload["body"] == {"type": "invoice.paid", "id": "evt_1"}
    again = client.post(url, data=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["execution_id"] == execution.id
    # the id is part of what is signed: another id with the same signature is refused
    assert client.post(url, data=body, headers={**headers, "webhook-id": "msg_other"}).status_code == 401
    stale = standard_headers(endpoint.secret, "msg_old", body, timestamp=int(time.time()) - 600)
    assert "Stale" in client.post(url, data=body, headers=stale).get_json()["message"]
    wrong = standard_headers("whsec_wrong", "msg_3", body)
    assert client.post(url, data=body, headers=wrong).status_code == 401
    missing = {key: value for key, value in headers.items() if key != "webhook-timestamp"}
    assert client.post(url, data=body, headers=missing).status_code == 401
    assert runs() == 1

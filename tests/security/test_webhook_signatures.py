"""Webhook signatures: known-answer vectors (computed with `openssl dgst -sha256 -hmac`), every tampering
rejected, and digests compared with hmac.compare_digest (constant time)."""
import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import func, select

from models import WorkflowExecution, db
from models.triggers import WebhookDelivery
from services import incoming_webhook_service, webhook_service
from services.incoming_webhook_service import WebhookRejected, check_signature
from tests.factories import make_workflow, make_workspace
from tests.security.conftest import table_counts

T = 1700000000
BODY = b'{"event":"test","n":1}'
SECRET = "whsec_known_answer"
# printf '%s' '1700000000.{"event":"test","n":1}' | openssl dgst -sha256 -hmac 'whsec_known_answer' -hex
KNOWN_V1 = "d7492c267e53cba430ecf5da08f2077871deaf054c056b84375dd25807c3546d"
# printf '%s' 'msg_1.1700000000.{"event":"test","n":1}' | openssl dgst -sha256 -hmac 'test-webhook-secret' -binary | base64
KNOWN_STANDARD = "v1,5EDMXVwRfjEtLwJmz3On4oVkIODUGWika617EIKDgNI="


def test_known_answer_vectors():
    assert incoming_webhook_service.sign(SECRET, BODY, T) == f"t={T},v1={KNOWN_V1}"
    assert webhook_service.workestra_signature(SECRET, BODY, T) == f"t={T},v1={KNOWN_V1}"
    assert webhook_service.standard_signature("test-webhook-secret", "msg_1", T, BODY) == KNOWN_STANDARD
    check_signature(SECRET, BODY, f"t={T},v1={KNOWN_V1}", now=T)  # accepted
    assert webhook_service.verify_workestra_signature(SECRET, BODY, f"t={T},v1={KNOWN_V1}", now=T)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


REJECTED = {
    "missing header": (BODY, None, T),
    "empty header": (BODY, "", T),
    "no v1": (BODY, f"t={T}", T),
    "no t": (BODY, f"v1={KNOWN_V1}", T),
    "timestamp 301 s old": (BODY, f"t={T},v1={KNOWN_V1}", T + 301),
    "timestamp 301 s ahead": (BODY, f"t={T},v1={KNOWN_V1}", T - 301),
    "body byte changed": (_flip(BODY, 3), f"t={T},v1={KNOWN_V1}", T),
    "body byte appended": (BODY + b" ", f"t={T},v1={KNOWN_V1}", T),
    "digest byte changed": (BODY, f"t={T},v1={KNOWN_V1[:-1]}{'0' if KNOWN_V1[-1] != '0' else '1'}", T),
    "digest truncated": (BODY, f"t={T},v1={KNOWN_V1[:32]}", T),
    "timestamp changed": (BODY, f"t={T + 1},v1={KNOWN_V1}", T),
    "wrong secret": (BODY, "t={},v1={}".format(T, hmac.new(b"whsec_other", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()), T),
    "negative timestamp": (BODY, f"t=-{T},v1={KNOWN_V1}", T),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_incoming_tampering_is_rejected(case):
    body, header, now = REJECTED[case]
    with pytest.raises(WebhookRejected) as rejected:
        check_signature(SECRET, body, header, now=now)
    assert rejected.value.status == 401


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_the_outgoing_receiver_check_rejects_the_same_tampering(case):
    body, header, now = REJECTED[case]
    assert not webhook_service.verify_workestra_signature(SECRET, body, header or "", now=now)


def test_300_seconds_either_way_is_still_accepted():
    for now in (T - 300, T + 300):
        check_signature(SECRET, BODY, f"t={T},v1={KNOWN_V1}", now=now)
        assert webhook_service.verify_workestra_signature(SECRET, BODY, f"t={T},v1={KNOWN_V1}", now=now)


def _spy_compare_digest(monkeypatch, module):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(module.hmac, "compare_digest", spy)
    return calls


def test_incoming_digests_are_compared_in_constant_time(monkeypatch):
    calls = _spy_compare_digest(monkeypatch, incoming_webhook_service)
    check_signature(SECRET, BODY, f"t={T},v1={KNOWN_V1}", now=T)
    with pytest.raises(WebhookRejected):
        check_signature(SECRET, _flip(BODY, 0), f"t={T},v1={KNOWN_V1}", now=T)
    assert len(calls) == 2


def test_the_outgoing_verifier_compares_in_constant_time(monkeypatch):
    calls = _spy_compare_digest(monkeypatch, webhook_service)
    assert webhook_service.verify_workestra_signature(SECRET, BODY, f"t={T},v1={KNOWN_V1}", now=T)
    assert not webhook_service.verify_workestra_signature(SECRET, _flip(BODY, 0), f"t={T},v1={KNOWN_V1}", now=T)
    assert len(calls) == 2


def test_no_equality_operator_compares_digests_in_the_signature_code():
    import inspect

    for function in (incoming_webhook_service.check_signature, webhook_service.verify_workestra_signature):
        source = inspect.getsource(function)
        assert "compare_digest" in source
        assert "expected ==" not in source and "== expected" not in source


def test_over_http_every_bad_signature_is_401_and_only_counted(app, client):
    ws = make_workspace("Hook Co")
    workflow = make_workflow(ws.id, trigger="webhook_received")
    endpoint = incoming_webhook_service.sync_endpoint(workflow)
    db.session.commit()
    url = f"/hooks/{endpoint.token}"
    now = int(time.time())
    good = incoming_webhook_service.sign(endpoint.secret, BODY, now)
    digest = good.split("v1=")[1]
    bad_headers = [
        {}, {"X-Workestra-Signature": ""},
        {"X-Workestra-Signature": incoming_webhook_service.sign(endpoint.secret, BODY, now - 301)},
        # Whole seconds: `now` was rounded down, so a future stamp needs one more second to stay 301 s ahead.
        {"X-Workestra-Signature": incoming_webhook_service.sign(endpoint.secret, BODY, now + 302)},
        {"X-Workestra-Signature": f"t={now},v1={digest[:-2]}{'00' if digest[-2:] != '00' else '11'}"},
        {"X-Workestra-Signature": incoming_webhook_service.sign("whsec_wrong", BODY, now)},
    ]
    counts = table_counts()
    for n, headers in enumerate(bad_headers):
        response = client.post(url, data=BODY, headers={**headers, "Content-Type": "application/json",
                                                       "X-Workestra-Webhook-Id": f"bad-{n}"}, csrf=False)
        assert response.status_code == 401, (headers, response.get_json())
    response = client.post(url, data=_flip(BODY, 2), headers={"X-Workestra-Signature": good, "Content-Type": "application/json"},
                           csrf=False)
    assert response.status_code == 401
    after = table_counts()
    assert after["workflow_executions"] == counts["workflow_executions"]
    assert after == counts  # no delivery row per rejection (issue #18): the endpoint counts them
    db.session.refresh(endpoint)
    assert endpoint.unverified_count == len(bad_headers) + 1
    ok = client.post(url, data=BODY, headers={"X-Workestra-Signature": good, "Content-Type": "application/json"}, csrf=False)
    assert ok.status_code == 202
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == counts["workflow_executions"] + 1


def test_outgoing_signatures_verify_with_the_documented_scheme(make_app, webhook_receiver):
    app = make_app(WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        webhook_service.post_signed(webhook_receiver.url + "/in", {"event": "test", "n": 1}, webhook_id="whk_1")
    [request] = webhook_receiver.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert webhook_service.verify_workestra_signature("test-webhook-secret", request["body"], headers["x-workestra-signature"])
    assert not webhook_service.verify_workestra_signature("wrong-secret", request["body"], headers["x-workestra-signature"])
    assert headers["x-workestra-webhook-id"] == headers["webhook-id"] == "whk_1"
    expected = webhook_service.standard_signature("test-webhook-secret", "whk_1", int(headers["webhook-timestamp"]), request["body"])
    assert headers["webhook-signature"] == expected
    assert json.loads(request["body"]) == {"event": "test", "n": 1}

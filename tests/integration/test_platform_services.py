"""Platform services: email (outbox, SMTP after commit, Resend), notifications, webhook signing and the SSRF guard."""
import base64
import hashlib
import hmac
import json

import pytest
from sqlalchemy import select

from models import OutboxEmail, db
from services import email_service, notification_service, webhook_service
from services.errors import NotFound, ValidationFailed
from tests import factories as f
from tests.conftest import owner_of
from webapp.config import ConfigError


def test_outbox_backend_records_the_email_and_fires_email_sent(app, workspace):
    ws = workspace()
    workflow = f.make_workflow(ws.id, "email_sent")
    email = email_service.send_email(ws.id, "jordan@acme.example", "Hello", "Body text", template="welcome")
    db.session.commit()
    assert (email.status, email.backend) == ("sent", "outbox") and email.sent_at is not None
    assert email.body.startswith("Welcome aboard!") and "Body text" in email.body and ws.name in email.body
    payload = f.only_payload(workflow)
    assert payload["email"] == {"id": email.id, "to": "jordan@acme.example", "subject": "Hello"}


def test_send_email_validates_and_is_idempotent_per_key(app, workspace):
    ws = workspace()
    with pytest.raises(ValidationFailed) as failure:
        email_service.send_email(ws.id, "not-an-address", "", "x")
    assert set(failure.value.errors) == {"to", "subject"}
    first = email_service.send_email(ws.id, "a@example.test", "S", "B", idempotency_key="exec-1-step-0")
    again = email_service.send_email(ws.id, "a@example.test", "S", "B", idempotency_key="exec-1-step-0")
    db.session.commit()
    assert first.id == again.id
    assert db.session.scalar(select(db.func.count()).select_from(OutboxEmail)) == 1


def test_smtp_delivery_happens_only_after_commit(app, workspace, smtp_server):
    app.config.update(EMAIL_BACKEND="smtp", SMTP_URL=smtp_server.url, ENGINE_HANDOFF="sweep")  # no queue: delivered at commit
    ws = workspace()
    email = email_service.send_email(ws.id, "jordan@acme.example", "Your invoice", "Thanks!")
    assert email.status == "queued" and smtp_server.messages == []  # nothing leaves before the commit
    db.session.commit()
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["to"] == ["jordan@acme.example"]
    assert "Subject: Your invoice" in message["data"] and "Thanks!" in message["data"]
    db.session.expire_all()
    stored = db.session.get(OutboxEmail, email.id)
    assert stored.status == "sent" and stored.sent_at is not None and stored.attempts == 1


def test_a_rolled_back_email_is_never_sent(app, workspace, smtp_server):
    app.config.update(EMAIL_BACKEND="smtp", SMTP_URL=smtp_server.url, ENGINE_HANDOFF="sweep")  # no queue: delivered at commit
    ws = workspace()
    email_service.send_email(ws.id, "jordan@acme.example", "Never", "x")
    db.session.rollback()
    db.session.commit()
    assert smtp_server.messages == []
    assert db.session.scalar(select(OutboxEmail)) is None


def test_an_smtp_failure_is_recorded_on_the_row_and_retried_until_the_last_attempt(app, workspace):
    app.config.update(EMAIL_BACKEND="smtp", SMTP_URL="smtp://127.0.0.1:1", ENGINE_HANDOFF="sweep", EMAIL_MAX_ATTEMPTS=2)
    ws = workspace()
    email = email_service.send_email(ws.id, "jordan@acme.example", "Hi", "x")
    db.session.commit()  # delivery fails; the commit does not
    db.session.expire_all()
    stored = db.session.get(OutboxEmail, email.id)
    assert stored.status == "queued" and "Error" in stored.error and stored.attempts == 1
    assert stored.next_attempt_at is not None  # 30 s later
    assert email_service.deliver_pending() == {"sent": 0, "failed": 0, "retrying": 0}  # not due yet
    stored.next_attempt_at = None
    db.session.commit()
    assert email_service.deliver_pending() == {"sent": 0, "failed": 1, "retrying": 0}
    db.session.expire_all()
    stored = db.session.get(OutboxEmail, email.id)
    assert (stored.status, stored.attempts) == ("failed", 2) and "Error" in stored.error


def test_deliver_pending_sends_rows_left_queued(app, workspace, smtp_server):
    ws = workspace()
    db.session.add(OutboxEmail(workspace_id=ws.id, to="late@example.test", subject="Late", body="b",
                               backend="smtp", status="queued"))
    db.session.commit()
    app.config.update(SMTP_URL=smtp_server.url)
    assert email_service.deliver_pending() == {"sent": 1, "failed": 0, "retrying": 0}
    assert smtp_server.messages[0]["to"] == ["late@example.test"]


class FakeResponse:
    def __init__(self, status, data):
        self.status_code, self._data, self.text = status, data, json.dumps(data)

    def json(self):
        return self._data


class FakeSession:
    def __init__(self, response):
        self.response, self.calls = response, []

    def post(self, url, **kwargs):
        self.calls.append((url, kwargs))
        return self.response


def test_resend_backend_posts_to_the_api(app, workspace, monkeypatch):
    session = FakeSession(FakeResponse(200, {"id": "re_123"}))
    monkeypatch.setattr(email_service, "_http", lambda: session)
    app.config.update(EMAIL_BACKEND="resend", RESEND_API_KEY="re_test_key", EMAIL_FROM="Acme <hi@acme.example>",
                      ENGINE_HANDOFF="sweep")
    ws = workspace()
    email = email_service.send_email(ws.id, "jordan@acme.example", "Hello", "Body")
    assert session.calls == []
    db.session.commit()
    (url, kwargs), = session.calls
    assert url == "https://api.resend.com/emails"
    assert kwargs["headers"]["Authorization"] == "Bearer re_test_key"
    assert kwargs["json"] == {"from": "Acme <hi@acme.example>", "to": ["jordan@acme.example"], "subject": "Hello",
                              "text": "Body"}
    assert kwargs["timeout"] == (5, 10)
    db.session.expire_all()
    stored = db.session.get(OutboxEmail, email.id)
    assert (stored.status, stored.provider_id) == ("sent", "re_123")


def test_resend_error_marks_the_email_failed(app, workspace, monkeypatch):
    monkeypatch.setattr(email_service, "_http", lambda: FakeSession(FakeResponse(422, {"message": "bad from"})))
    app.config.update(EMAIL_BACKEND="resend", RESEND_API_KEY="k", ENGINE_HANDOFF="sweep")
    ws = workspace()
    email = email_service.send_email(ws.id, "jordan@acme.example", "Hello", "Body")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(OutboxEmail, email.id)
    assert stored.status == "failed" and "422" in stored.error


@pytest.mark.parametrize("config, name", [
    ({"EMAIL_BACKEND": "carrier-pigeon"}, "EMAIL_BACKEND"),
    ({"EMAIL_BACKEND": "smtp"}, "SMTP_URL"),
    ({"EMAIL_BACKEND": "smtp", "SMTP_URL": "http://mail"}, "SMTP_URL"),
    ({"EMAIL_BACKEND": "resend"}, "RESEND_API_KEY"),
])
def test_email_settings_are_checked_at_start_up(make_app, config, name):
    with pytest.raises(ConfigError, match=name):
        make_app(**config)


def test_notifications_inbox(app, workspace, user):
    ws, other = workspace(), workspace()
    member, outsider = user(ws), owner_of(other)
    created = notification_service.notify(ws.id, [member.id, member.id, outsider.id], "Deal won", "Acme", "/crm")
    db.session.commit()
    assert [n.user_id for n in created] == [member.id]  # once, and never to a non-member
    assert notification_service.unread_count(ws.id, member.id) == 1
    with pytest.raises(NotFound):
        notification_service.mark_read(ws.id, owner_of(ws).id, created[0].id)  # not theirs
    notification_service.mark_read(ws.id, member.id, created[0].id)
    assert notification_service.unread_count(ws.id, member.id) == 0
    notification_service.notify(ws.id, [member.id], "Two")
    notification_service.notify(ws.id, [member.id], "Three", link="javascript:alert(1)")
    assert notification_service.mark_all_read(ws.id, member.id) == 2
    assert notification_service.inbox(ws.id, member.id)[0].link == ""


def test_signatures_follow_the_contract():
    body = b'{"a":1}'
    header = webhook_service.workestra_signature("s3cret", body, 1700000000)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhook_service.verify_workestra_signature("s3cret", body, header, now=1700000100)
    assert not webhook_service.verify_workestra_signature("s3cret", body, header, now=1700000000 + 301)
    assert not webhook_service.verify_workestra_signature("other", body, header, now=1700000000)
    standard = webhook_service.standard_signature("s3cret", "msg_1", 1700000000, body)
    digest = hmac.new(b"s3cret", b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert standard == "v1," + base64.b64encode(digest).decode()


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("240.0.0.1", False), ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.1.2.3", False), ("64:ff9b::a00:1", False), ("2002:7f00:1::", False),
])
def test_public_address_check(address, public):
    assert webhook_service.is_public_address(address) is public


def test_allow_list_lets_a_named_host_through(app):
    with pytest.raises(webhook_service.WebhookBlocked, match="private address"):
        webhook_service.checked_address("127.0.0.1", 80)
    app.config["WEBHOOK_ALLOWED_HOSTS"] = "example.internal, 127.0.0.1"
    assert webhook_service.checked_address("127.0.0.1", 80) == "127.0.0.1"


def test_https_requests_are_pinned_to_the_checked_address_with_the_right_sni():
    from urllib.parse import urlsplit

    parts = urlsplit("https://hooks.example.com:8443/x?y=1")
    assert webhook_service._pinned_url(parts, "93.184.216.34") == "https://93.184.216.34:8443/x?y=1"
    assert webhook_service._pinned_url(parts, "2606:4700::1") == "https://[2606:4700::1]:8443/x?y=1"
    session = webhook_service._session(parts)
    adapter = session.get_adapter("https://93.184.216.34:8443/x")
    assert isinstance(adapter, webhook_service.PinnedHostAdapter)
    assert adapter.poolmanager.connection_pool_kw["server_hostname"] == "hooks.example.com"
    assert adapter.poolmanager.connection_pool_kw["assert_hostname"] == "hooks.example.com"

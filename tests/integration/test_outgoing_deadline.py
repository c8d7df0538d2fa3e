"""Outgoing HTTP has a wall-clock deadline for the whole call and a bounded response (issue #17).

The receivers here are real loopback servers: one trickles a header byte at a time (each read is short,
so requests' per-read timeout never fires), one sends an endless body.
"""
import time
from http.server import BaseHTTPRequestHandler

import pytest

from models import OutboxEmail, db
from services import email_service, webhook_service
from tests.support.http_server import serving


class Trickle(BaseHTTPRequestHandler):
    """Answers the status line, then one header byte every 0.3 s for a long time."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            for _ in range(200):
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:
            pass

    def log_message(self, *args):
        pass


class Endless(BaseHTTPRequestHandler):
    """A 200 whose body never ends (chunks of 64 KB as fast as the client reads)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(10 ** 10))
            self.end_headers()
            while True:
                self.wfile.write(b"a" * 65536)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def short_deadline(app):
    app.config.update(OUTGOING_HTTP_DEADLINE_SECONDS=1.5, WEBHOOK_ALLOWED_HOSTS=("127.0.0.1",))
    return 1.5


def test_a_trickling_receiver_is_stopped_at_the_deadline(app, short_deadline):
    with serving(Trickle) as url:
        started = time.monotonic()
        with pytest.raises(webhook_service.WebhookError) as failure:
            webhook_service.post_signed(f"{url}/hook", {"a": 1}, webhook_id="w-1")
        elapsed = time.monotonic() - started
    assert "the receiver took longer than 1.5 s" in str(failure.value)
    assert failure.value.retryable
    assert 1.4 < elapsed < 3.0, elapsed


def test_an_endless_body_is_read_only_up_to_the_excerpt(app, short_deadline):
    with serving(Endless) as url:
        started = time.monotonic()
        output = webhook_service.post_signed(f"{url}/hook", {"a": 1}, webhook_id="w-2")
        elapsed = time.monotonic() - started
    assert output["status_code"] == 200
    assert len(output["response_excerpt"]) == webhook_service.EXCERPT_BYTES
    assert elapsed < 1.5


def test_a_trickling_resend_is_a_failed_email_within_the_deadline(app, workspace, short_deadline, monkeypatch):
    # the delivery itself, called directly: the hand-off that would run it (a job at scale) is not under test
    app.config.update(EMAIL_BACKEND="resend", RESEND_API_KEY="re_test_key", EMAIL_MAX_ATTEMPTS=1)
    ws = workspace()
    email = OutboxEmail(workspace_id=ws.id, to="jordan@acme.example", subject="Hello", body="Body",
                        backend="resend", status="queued")
    db.session.add(email)
    db.session.commit()
    with serving(Trickle) as url:
        monkeypatch.setattr(email_service, "RESEND_URL", f"{url}/emails")
        started = time.monotonic()
        counts = email_service.deliver([email.id])
        elapsed = time.monotonic() - started
    assert counts["failed"] == 1
    db.session.expire_all()
    stored = db.session.get(OutboxEmail, email.id)
    assert stored.status == "failed"
    assert "took longer than 1.5 s" in stored.error
    assert elapsed < 3.0

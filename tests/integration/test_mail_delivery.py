"""Mail that really leaves, safely (finding 8): verified TLS for SMTP (STARTTLS and SMTPS refuse a certificate for
another name before the login and the message), delivery as a background job with retries and backoff (the
embedded runner's threads, or RQ), and failed rows on the Outbox with their error and a Retry button."""
import socket
import ssl
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import fakeredis
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from engine.core.redis_client import EXTENSION_KEY as REDIS_EXTENSION_KEY
from engine.runtime.handoff import RQ_QUEUE_NAME
from engine.runtime.sweep import sweep_pending_executions
from engine.runtime.worker import AppSimpleWorker
from models import OutboxEmail, db
from services import email_service
from tests.conftest import Auth, owner_of
from tests.factories import make_workspace


def _make_cert(directory, name: str, san: str):
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={san}"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    directory = tmp_path_factory.mktemp("certs")
    return {"evil": _make_cert(directory, "evil.example", "DNS:evil.example"),
            "good": _make_cert(directory, "loopback", "IP:127.0.0.1")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    def __init__(self):
        self.messages, self.logins = [], []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"to": list(envelope.rcpt_tos), "data": envelope.content.decode("utf8", "replace")})
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append(getattr(auth_data, "login", auth_data))
        return AuthResult(success=True)


@contextmanager
def tls_smtp_server(cert_and_key, implicit: bool):
    """A real SMTP server on 127.0.0.1 offering STARTTLS (or SMTPS when `implicit`) with this certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, cert_and_key))
    recorder = Recorder()
    options = {"ssl_context": context} if implicit else {"tls_context": context}
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port(), authenticator=recorder.authenticate,
                            auth_require_tls=not implicit, **options)  # SMTPS is TLS from the first byte
    controller.start()
    try:
        scheme = "smtps" if implicit else "smtp"
        query = "" if implicit else "?starttls=true"
        recorder.url = f"{scheme}://mailer:s3cret-pass@127.0.0.1:{controller.port}{query}"
        yield recorder
    finally:
        controller.stop()


def _wait_for(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _invite(app, email="newbie@example.test"):
    """An admin invites someone through the page: the invitation email is the mail under test."""
    ws = make_workspace()
    client = app.test_client()
    Auth(client).login(owner_of(ws))
    started = time.perf_counter()
    response = client.post("/settings/members/invitations", data={"email": email, "role": "member"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 302
    return ws, client, elapsed


def _row(to="newbie@example.test"):
    return db.session.scalar(select(OutboxEmail).where(OutboxEmail.to == to))


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
@pytest.mark.parametrize("trust_it", [False, True], ids=["untrusted", "trusted-but-another-name"])
def test_a_certificate_for_another_name_is_refused_before_login_and_message(make_app, certificates, implicit, trust_it):
    with tls_smtp_server(certificates["evil"], implicit) as server:
        app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=server.url, REDIS_URL=None,
                       SMTP_CA_FILE=str(certificates["evil"][0]) if trust_it else None)
        with app.app_context():
            _invite(app)
            row = _wait_for(lambda: (r := _row()) is not None and r.status == "failed" and r)
            assert "TLS refused" in row.error and "certificate" in row.error
            assert row.attempts == 1  # no retry can fix a certificate
            assert server.messages == [] and server.logins == []  # neither the password nor the mail left


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
def test_a_certificate_that_names_the_host_and_chains_to_smtp_ca_file_is_accepted(make_app, certificates, implicit):
    with tls_smtp_server(certificates["good"], implicit) as server:
        app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=server.url, REDIS_URL=None, SMTP_CA_FILE=str(certificates["good"][0]))
        with app.app_context():
            _invite(app)
            row = _wait_for(lambda: (r := _row()) is not None and r.status == "sent" and r)
            assert row.attempts == 1 and row.error is None
            [message] = server.messages
            assert message["to"] == ["newbie@example.test"] and "invited you" in message["data"]
            assert server.logins == [b"mailer"]


def test_delivery_leaves_the_request_and_a_failure_is_retried_with_backoff(make_app):
    """The request that sends mail does not wait for the server: a job (embedded runner) delivers after the commit."""
    port = _free_port()  # nothing listens: every attempt fails
    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{port}", REDIS_URL=None, EMAIL_MAX_ATTEMPTS=3)
    with app.app_context():
        _invite(app)
        # the claim sets attempts and a lease first; the failure then writes the error and the retry time
        row = _wait_for(lambda: (r := _row()) is not None and r.attempts == 1 and r.error and r.next_attempt_at and r)
        assert row.status == "queued" and "Error" in row.error
        wait = (row.next_attempt_at - datetime.now(timezone.utc)).total_seconds()
        assert 25 < wait <= 30  # 30 s, then 2 min, then 8 min
        assert email_service.retry_delay(2) == 120 and email_service.retry_delay(3) == 480


def test_failed_rows_show_on_the_outbox_with_the_error_and_retry_sends_them(make_app, smtp_server):
    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{_free_port()}", REDIS_URL=None, EMAIL_MAX_ATTEMPTS=1)
    with app.app_context():
        ws, client, _ = _invite(app)
        row = _wait_for(lambda: (r := _row()) is not None and r.status == "failed" and r)
        page = client.get("/settings/outbox").get_data(as_text=True)
        assert "ConnectionRefusedError" in page and f'action="/settings/outbox/{row.id}/retry"' in page
        app.config["SMTP_URL"] = smtp_server.url  # the admin fixed the mail server
        assert client.post(f"/settings/outbox/{row.id}/retry").status_code == 302
        _wait_for(lambda: _row().status == "sent")
        assert smtp_server.messages[0]["to"] == ["newbie@example.test"]
        again = client.post(f"/settings/outbox/{row.id}/retry")  # only failed rows are retried
        assert again.status_code == 422


def test_members_see_the_error_but_only_admins_retry(make_app, user):
    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{_free_port()}", REDIS_URL=None, EMAIL_MAX_ATTEMPTS=1)
    with app.app_context():
        ws, _, _ = _invite(app)
        row = _wait_for(lambda: (r := _row()) is not None and r.status == "failed" and r)
        member = user(ws, "member")
        client = app.test_client()
        Auth(client).login(member)
        page = client.get("/settings/outbox").get_data(as_text=True)
        assert "ConnectionRefusedError" in page and "/retry" not in page
        assert client.post(f"/settings/outbox/{row.id}/retry").status_code == 403


def test_at_scale_delivery_and_its_retries_are_rq_jobs(make_app):
    """With REDIS_URL the delivery is an RQ job (run by a worker with the app context); a retry is scheduled."""
    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=f"smtp://127.0.0.1:{_free_port()}", REDIS_URL="redis://fake.invalid:6379/0")
    connection = fakeredis.FakeStrictRedis()
    app.extensions[REDIS_EXTENSION_KEY] = connection
    with app.app_context():
        _invite(app)
        queue = Queue(RQ_QUEUE_NAME, connection=connection)
        [job] = [j for j in queue.jobs if j.func_name == email_service.DELIVER_JOB]
        assert _row().attempts == 0  # nothing was tried in the request
        AppSimpleWorker([RQ_QUEUE_NAME], connection=connection, app=app).work(burst=True)
        db.session.expire_all()
        row = _row()
        assert (row.status, row.attempts) == ("queued", 1) and row.next_attempt_at is not None
        scheduled = ScheduledJobRegistry(queue=queue).get_job_ids()
        assert len(scheduled) == 1
        retry_job = queue.fetch_job(scheduled[0])
        assert retry_job.func_name == email_service.DELIVER_JOB and retry_job.args == ([row.id],)


def test_two_deliverers_meeting_on_one_row_send_it_once(make_app, smtp_server):
    """A job, a scheduled retry and `flask emails deliver` may run at once: each attempt is claimed first."""
    import threading

    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=smtp_server.url, ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace()
        for n in range(5):
            db.session.add(OutboxEmail(workspace_id=ws.id, to=f"r{n}@example.test", subject="Once", body="b",
                                       backend="smtp", status="queued"))
        db.session.commit()
    start = threading.Barrier(3)
    counts = []

    def deliverer():
        with app.app_context():
            start.wait()
            counts.append(email_service.deliver_pending())

    threads = [threading.Thread(target=deliverer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(m["to"][0] for m in smtp_server.messages) == [f"r{n}@example.test" for n in range(5)]
    assert sum(c["sent"] for c in counts) == 5
    with app.app_context():
        assert {row.attempts for row in db.session.scalars(select(OutboxEmail))} == {1}


@pytest.mark.parametrize("handoff", ["queue", "sweep"])
def test_the_sweep_delivers_due_retries_and_stranded_emails(make_app, smtp_server, handoff):
    """After a restart nothing remembers a retry's timer: the sweep finds due rows and delivers them (a job in the
    embedded runner, itself with ENGINE_HANDOFF=sweep)."""
    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=smtp_server.url, REDIS_URL=None, ENGINE_HANDOFF=handoff)
    with app.app_context():
        ws = make_workspace()
        now = datetime.now(timezone.utc)
        rows = [
            OutboxEmail(workspace_id=ws.id, to="retry-due@example.test", subject="s", body="b", backend="smtp",
                        status="queued", attempts=1, next_attempt_at=now - timedelta(seconds=5)),
            OutboxEmail(workspace_id=ws.id, to="stranded@example.test", subject="s", body="b", backend="smtp",
                        status="queued", created_at=now - timedelta(minutes=10)),
            OutboxEmail(workspace_id=ws.id, to="retry-later@example.test", subject="s", body="b", backend="smtp",
                        status="queued", attempts=1, next_attempt_at=now + timedelta(minutes=5)),
        ]
        db.session.add_all(rows)
        db.session.commit()
        counts = sweep_pending_executions()
        assert counts["emails_due"] == 2
        _wait_for(lambda: len(smtp_server.messages) == 2)
        assert sorted(m["to"][0] for m in smtp_server.messages) == ["retry-due@example.test", "stranded@example.test"]
        db.session.expire_all()
        assert {r.to: r.status for r in db.session.scalars(select(OutboxEmail))} == {
            "retry-due@example.test": "sent", "stranded@example.test": "sent", "retry-later@example.test": "queued"}

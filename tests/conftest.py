"""Fixtures that return factories (from tests/factories.py): app, client, auth, workspace, user, live_server.

The database comes from DATABASE_URL (PostgreSQL in CI's second run) or a fresh SQLite file.
The schema is built once per test session by running the Alembic migrations, and every test
starts from empty tables (seeded system rows excepted).
"""
import os
import re
import socket
import threading
import time

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy import create_engine, false, text
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from models import Role, db
from tests.factories import PASSWORD, make_user, make_workspace

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def pytest_collection_modifyitems(items):
    for item in items:
        if f"{os.sep}tests{os.sep}browser{os.sep}" in str(item.path):
            item.add_marker(pytest.mark.browser)


class CSRFClient(FlaskClient):
    """A test client that sends a fresh CSRF token with every state-changing request,
    like a browser would. Pass csrf=False to send none."""

    def open(self, *args, **kwargs):
        send_csrf = kwargs.pop("csrf", True)
        method = (kwargs.get("method") or "GET").upper()
        if send_csrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        # Each request gets its own app context (its own `g` and database session), as in
        # production, even though the test itself holds one open.
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response

    def csrf_token(self) -> str:
        page = self.open("/login", method="GET", follow_redirects=True)
        match = CSRF_META.search(page.get_data(as_text=True))
        assert match, "no csrf-token meta tag on the page"
        return match.group(1)


def _reset_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    _reset_database(url)
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


# Rows the migrations seed survive between tests: system templates (usage counts reset) and Quick Rules.
SEEDED_TABLES = {
    "workflow_templates": lambda table: table.c.workspace_id.isnot(None),
    "automation_rules": lambda table: false(),
}


def _truncate_all(app, attempts: int = 3) -> None:
    # The background rq worker of the PostgreSQL run may still be finishing a test's job (a run, a mail
    # delivery) while we delete: a deadlock with it is retried, not a failed teardown.
    with app.app_context():
        db.session.remove()
        for attempt in range(attempts):
            try:
                with db.engine.begin() as connection:
                    for table in reversed(db.metadata.sorted_tables):
                        keep = SEEDED_TABLES.get(table.name)
                        connection.execute(table.delete().where(keep(table)) if keep else table.delete())
                    templates = db.metadata.tables.get("workflow_templates")
                    if templates is not None:
                        connection.execute(templates.update().values(usage_count=0))
                return
            except OperationalError as error:
                if "deadlock" not in str(error).lower() or attempt == attempts - 1:
                    raise
                time.sleep(0.2)


@pytest.fixture
def make_app(database_url):
    """make_app(**config) builds an app on the test database; tables are emptied after the test."""
    created = []

    def factory(**overrides):
        config = {
            "APP_ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret-key-0123456789",
            "CRON_SECRET": "test-cron-secret",
            "WEBHOOK_SIGNING_SECRET": "test-webhook-secret",
            "AUTOMATIONS_ENABLED": True,
            "REDIS_URL": os.environ.get("REDIS_URL") or None,
            "SERVER_NAME": None,
            "SWEEP_INTERVAL_SECONDS": 0,  # tests sweep explicitly
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast hashing: tests create hundreds of users
            "SEED_ONBOARDING_WORKFLOW": False,  # tests start from empty workspaces; one test turns it on
            # Tests sign in and sign up from 127.0.0.1 all day (and share Redis's counters in CI's second run):
            # the throttling tests set realistic limits themselves.
            "AUTH_RATE_LIMIT_PER_ACCOUNT": "10000 per minute",
            "AUTH_RATE_LIMIT_PER_ADDRESS": "10000 per minute",
            "WEBHOOK_UNVERIFIED_PER_MINUTE": 0,  # every test client is 127.0.0.1; the hooks tests turn it on
            "EVENT_SAMPLE_EVERY_SECONDS": 0,  # every event is a sample (workspace ids repeat from test to test)
        }
        config.update(overrides)
        from webapp import create_app

        app = create_app(config)
        app.test_client_class = CSRFClient
        created.append(app)
        return app

    yield factory
    from engine.runtime.handoff import shutdown

    for app in created:
        shutdown(app)
    for app in created:
        if app.config["SQLALCHEMY_DATABASE_URI"] == database_url:
            _truncate_all(app)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def workspace(app):
    """workspace(name=None, owner_email=None) -> Workspace, with an owner who has PASSWORD."""
    return make_workspace


@pytest.fixture
def user(app):
    """user(workspace, role="member", email=None) -> User with PASSWORD."""
    return make_user


def owner_of(ws):
    return next(m.user for m in ws.memberships if m.role == Role.OWNER.value)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, user_or_email, password=PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        response = self.client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def logged_in(client, auth, workspace, user):
    """logged_in(role="owner", ws=None) -> (client, workspace, user): a signed-in client."""

    def factory(role="owner", ws=None):
        ws = ws or workspace()
        member = owner_of(ws) if role == "owner" else user(ws, role)
        auth.login(member)
        return client, ws, member

    return factory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(make_app):
    """A real HTTP server on loopback serving a fresh app; yields its base URL."""
    app = make_app(WTF_CSRF_SSL_STRICT=False)
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.app = app
    try:
        yield type("LiveServer", (), {"url": f"http://127.0.0.1:{port}", "app": app})()
    finally:
        server.shutdown()
        thread.join(timeout=5)


# --- Loopback servers for the platform services (email over SMTP, outgoing webhooks) -------------

@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback; `.messages` holds what it received, `.url` is SMTP_URL."""
    from aiosmtpd.controller import Controller

    class Collector:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "data": envelope.content.decode("utf8", errors="replace")})
            return "250 Message accepted for delivery"

    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield type("SMTPServer", (), {"messages": handler.messages,
                                      "url": f"smtp://127.0.0.1:{controller.port}"})()
    finally:
        controller.stop()


@pytest.fixture
def webhook_receiver():
    """An HTTP server on loopback recording every request. Set `.status`, `.body` or `.headers` to answer differently."""
    from http.server import BaseHTTPRequestHandler

    from tests.support.http_server import serving

    state = type("WebhookReceiver", (), {})()
    state.requests, state.status, state.body, state.headers = [], 200, b'{"ok": true}', {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)})
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args):
            pass

    with serving(Handler) as url:
        state.url = url
        yield state

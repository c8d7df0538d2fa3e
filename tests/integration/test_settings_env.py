"""Every setting of the table is read from the environment (not only from create_app's test_config),
and the email settings set there make a workflow's mail reach a real SMTP server."""
import email

import pytest
from sqlalchemy import select

from engine.runtime.sweep import sweep_pending_executions
from models import OutboxEmail, db
from services import workspace_service
from tests import factories
from tests.factories import make_workflow
from webapp import create_app
from webapp.config import SETTINGS, ConfigError

# For every variable of the table: a valid value that is not the default, and what app.config then holds.
NON_DEFAULT = {
    "APP_ENV": ("production", "production"),
    "SECRET_KEY": ("k" * 32, "k" * 32),
    "DATABASE_URL": ("sqlite:///elsewhere.db", "sqlite:///elsewhere.db"),
    "REDIS_URL": ("redis://127.0.0.1:6399/3", "redis://127.0.0.1:6399/3"),
    "AUTOMATIONS_ENABLED": ("yes", True),
    "CRON_SECRET": ("c" * 32, "c" * 32),
    "WEBHOOK_SIGNING_SECRET": ("w" * 32, "w" * 32),
    "WEBHOOK_ALLOWED_HOSTS": ("hooks.internal, 10.0.0.7", ("hooks.internal", "10.0.0.7")),
    "EMBEDDED_WORKERS": ("5", 5),
    "SWEEP_INTERVAL_SECONDS": ("0", 0.0),
    "EXECUTION_LEASE_SECONDS": ("90.5", 90.5),
    "RETRY_BASE_SECONDS": ("7", 7.0),
    "SWEEP_PENDING_GRACE_SECONDS": ("11", 11.0),
    "ENGINE_HANDOFF": ("sweep", "sweep"),
    "ENGINE_CLAIM_BATCH": ("50", 50),
    "RQ_WAKE_SLOTS": ("9", 9),
    "RQ_JOB_TIMEOUT_SECONDS": ("300", 300),
    "ENGINE_JOB_BUDGET_SECONDS": ("45.5", 45.5),
    "EXECUTION_MAX_TAKEOVERS": ("7", 7),
    "WORKSPACE_MAX_RUNNING": ("25", 25),
    "WORKER_HEARTBEAT_SECONDS": ("2", 2.0),
    "WORKER_RUNNER_THREADS": ("6", 6),
    "ENGINE_WAKE_LINGER_SECONDS": ("1.5", 1.5),
    "EMBEDDED_MAX_BACKLOG": ("8", 8),
    "SQLITE_WRITER_QUEUE": ("off", False),
    "OUTGOING_HTTP_DEADLINE_SECONDS": ("30", 30.0),
    "LOG_FORMAT": ("JSON", "json"),
    "LOG_LEVEL": ("warning", "warning"),
    "METRICS_TOKEN": ("m" * 32, "m" * 32),
    "CHAIN_RUN_BUDGET": ("250", 250),
    "WORKSPACE_RUNS_PER_MINUTE": ("600", 600),
    "RUN_RETENTION_DAYS": ("30", 30),
    "TEST_RUN_SECONDS": ("12.5", 12.5),
    "EVENT_SAMPLE_MAX_BYTES": ("4096", 4096),
    "EVENT_SAMPLE_EVERY_SECONDS": ("0", 0.0),
    "RUN_PRUNE_BATCH": ("250", 250),
    "RUN_PRUNE_INTERVAL_SECONDS": ("600", 600.0),
    "EMAIL_BACKEND": ("resend", "resend"),
    "SMTP_URL": ("smtps://mail.example.test:465", "smtps://mail.example.test:465"),
    "EMAIL_FROM": ("Acme Ops <ops@acme.example>", "Acme Ops <ops@acme.example>"),
    "RESEND_API_KEY": ("re_test_key", "re_test_key"),
    "WEBHOOK_RATE_LIMIT_PER_MINUTE": ("0", 0),
    "WEBHOOK_UNVERIFIED_PER_MINUTE": ("5", 5),
    "PASSWORD_HASH_METHOD": ("pbkdf2:sha256:1000", "pbkdf2:sha256:1000"),
    "APP_BASE_URL": ("https://automations.example.test", "https://automations.example.test"),
    "SEED_ONBOARDING_WORKFLOW": ("off", False),
    "SMTP_CA_FILE": (__file__, __file__),
    "EMAIL_MAX_ATTEMPTS": ("2", 2),
    "AUTH_RATE_LIMIT_PER_ACCOUNT": ("3 per minute", "3 per minute"),
    "AUTH_RATE_LIMIT_PER_ADDRESS": ("50 per hour", "50 per hour"),
    "TRUSTED_PROXIES": ("1", 1),
}
# Values that are only valid with another variable set beside them.
NEEDS = {"APP_ENV": ("SECRET_KEY", "CRON_SECRET", "WEBHOOK_SIGNING_SECRET"), "EMAIL_BACKEND": ("RESEND_API_KEY",)}


@pytest.fixture
def environment(monkeypatch):
    """No variable of the table is set, and no .env file is read: the test sets what it needs."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setattr("webapp.load_dotenv", lambda *args, **kwargs: False)
    return monkeypatch


def test_every_setting_has_a_non_default_example():
    assert set(NON_DEFAULT) == {setting.name for setting in SETTINGS}
    for setting in SETTINGS:
        assert setting.parse(None) != NON_DEFAULT[setting.name][1], setting.name


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_each_setting_is_read_from_the_environment(environment, setting):
    for name in (setting.name, *NEEDS.get(setting.name, ())):
        environment.setenv(name, NON_DEFAULT[name][0])
    app = create_app()
    assert app.config[setting.key] == NON_DEFAULT[setting.name][1]


def test_unset_and_empty_variables_take_the_defaults(environment):
    environment.setenv("EMBEDDED_WORKERS", "")
    app = create_app()
    for setting in SETTINGS:
        if setting.dev_default is None:
            assert app.config[setting.key] == setting.parse(None), setting.name
    assert app.config["EMBEDDED_WORKERS"] == 4 and app.config["WEBHOOK_SIGNING_SECRET"] == "dev-webhook-secret"


@pytest.mark.parametrize("name, value", [
    ("EMBEDDED_WORKERS", "abc"),
    ("EMBEDDED_WORKERS", "2.5"),
    ("RQ_WAKE_SLOTS", "-1"),
    ("EXECUTION_LEASE_SECONDS", "soon"),
    ("RETRY_BASE_SECONDS", "nan"),
    ("EMAIL_BACKEND", "pigeon"),
    ("ENGINE_HANDOFF", "later"),
    ("APP_ENV", "staging"),
    ("AUTOMATIONS_ENABLED", "maybe"),
    ("REDIS_URL", "http://127.0.0.1:6379"),
    ("SMTP_URL", "http://mail.example.test"),
    ("DATABASE_URL", "not a url"),
    ("AUTH_RATE_LIMIT_PER_ACCOUNT", "lots"),
    ("AUTH_RATE_LIMIT_PER_ADDRESS", "5 per fortnight"),
    ("SMTP_CA_FILE", "/no/such/ca.pem"),
    ("TRUSTED_PROXIES", "-1"),
    ("RUN_RETENTION_DAYS", "3651"),
    ("RUN_PRUNE_BATCH", "1000000"),
])
def test_an_invalid_variable_stops_start_up_with_an_error_naming_it(environment, name, value):
    environment.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{name} "):
        create_app()


def test_email_settings_in_the_environment_send_a_workflows_mail_over_smtp(environment, make_app, smtp_server):
    environment.setenv("EMAIL_BACKEND", "smtp")
    environment.setenv("SMTP_URL", smtp_server.url)
    environment.setenv("EMAIL_FROM", "Acme Ops <ops@acme.example>")
    app = make_app(ENGINE_HANDOFF="sweep", SWEEP_PENDING_GRACE_SECONDS=0)  # no email keys in test_config
    with app.app_context():
        ws, owner = workspace_service.create_workspace("Mail Co", "owner@mail.test", "test-pass-2718", "Olga Owner")
        db.session.commit()
        make_workflow(ws.id, trigger="contact_created", actions=[{"type": "send_template_email", "config": {
            "to": "{{ trigger.contact.email }}", "subject": "Welcome, {{ trigger.contact.name }}", "body": "Hello"}}])
        factories.contact(ws, owner, name="Ada Lovelace", email="ada@acme.example")
        assert sweep_pending_executions()["completed"] == 1

        [message] = smtp_server.messages
        received = email.message_from_string(message["data"])
        assert message["to"] == ["ada@acme.example"]
        assert received["Subject"] == "Welcome, Ada Lovelace"
        assert received["From"] == "Acme Ops <ops@acme.example>"
        outbox = db.session.scalars(select(OutboxEmail).where(OutboxEmail.workspace_id == ws.id)).one()
        assert (outbox.backend, outbox.status) == ("smtp", "sent")
        db.session.remove()

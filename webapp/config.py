"""Configuration: one settings table drives parsing from the environment (and a .env file),
the defaults, the checks at start-up and README's Configuration table.

Code reads `app.config[KEY]`; every default is written here, once.
`flask --app webapp config table [--write-readme]` prints README's table (or rewrites it).
"""
from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from models.vocabulary import FALSE_WORDS, TRUE_WORDS
from services.email_service import BACKENDS as EMAIL_BACKENDS

SECRET_MIN_LENGTH = 16
README = Path(__file__).resolve().parent.parent / "README.md"
README_HEADING = "## Configuration"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names its environment variable."""


@dataclass(frozen=True)
class Setting:
    """One row of the settings table.

    kind: `bool`, `int` or `float` (never negative), `str`, `list` (comma-separated) or
    `choice` (one of `choices`). An unset or empty variable, or None in create_app's
    test_config, takes the default.
    """
    name: str                       # the environment variable
    kind: str
    default: Any
    meaning: str                    # README's Meaning column
    key: str = ""                   # the app.config key, when it is not `name`
    choices: tuple[str, ...] = ()
    check: Callable[[str, str], None] | None = None  # more checks on a value that is set
    secret: bool = False            # required in production, SECRET_MIN_LENGTH+ characters
    dev_default: Any = None         # outside production, the value when unset (a callable makes it)
    note: str = ""                  # said after the default in README (for a callable dev_default: instead of it)

    def __post_init__(self):
        object.__setattr__(self, "key", self.key or self.name)

    def parse(self, raw):
        """The typed value of `raw` (a string from the environment or a value from test_config)."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raw = self.default
            if raw is None:
                return None
        value = PARSERS[self.kind](self, raw)
        if self.check and value:
            self.check(self.name, value)
        return value


# --- One parser per kind: (setting, raw) -> value, or ConfigError naming the variable ----------

def _bool(setting: Setting, raw) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{setting.name} must be true or false (got {raw!r}).")


def _int(setting: Setting, raw) -> int:
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        value = int(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{setting.name} must be a whole number (got {raw!r}).") from None
    return _not_negative(setting, value)


def _float(setting: Setting, raw) -> float:
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{setting.name} must be a number (got {raw!r}).")
    return _not_negative(setting, value)


def _not_negative(setting: Setting, value):
    if value < 0:
        raise ConfigError(f"{setting.name} must not be negative.")
    return value


def _str(setting: Setting, raw) -> str:
    return str(raw)


def _list(setting: Setting, raw) -> tuple[str, ...]:
    items = str(raw).split(",") if isinstance(raw, str) else raw
    return tuple(str(item).strip() for item in items if str(item).strip())


def _choice(setting: Setting, raw) -> str:
    word = str(raw).strip().lower()
    if word not in setting.choices:
        raise ConfigError(f"{setting.name} must be one of {_listed(setting.choices)} (got {raw!r}).")
    return word


PARSERS = {"bool": _bool, "int": _int, "float": _float, "str": _str, "list": _list, "choice": _choice}


def _listed(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _url_with(*schemes: str) -> Callable[[str, str], None]:
    def check(name: str, value: str) -> None:
        if not value.startswith(schemes):
            raise ConfigError(f"{name} must start with {_listed(schemes)}.")
    return check


def _database_url(name: str, value: str) -> None:
    try:
        make_url(value)
    except ArgumentError:
        raise ConfigError(f"{name} is not a valid database URL.") from None


def _rate_limits(name: str, value: str) -> None:
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be rate limits such as `5 per minute; 30 per hour` (got {value!r}).") from None


def _readable_file(name: str, value: str) -> None:
    if not os.path.isfile(value):
        raise ConfigError(f"{name} must name a readable file (got {value!r}).")


MAX_RETENTION_DAYS = 3650


def _at_most(limit: int) -> Callable[[str, int], None]:
    def check(name: str, value: int) -> None:
        if value > limit:
            raise ConfigError(f"{name} must be at most {limit:,} (got {value}).")
    return check


def _random_secret_key() -> str:
    return "dev-" + secrets.token_hex(16)


# --- The table: README's Configuration section is generated from it ----------------------------

SETTINGS: tuple[Setting, ...] = (
    Setting("APP_ENV", "choice", "development",
            "`production` requires the three secrets below (16+ characters) and secure cookies",
            choices=("development", "production", "testing")),
    Setting("SECRET_KEY", "str", None, "signs sessions and CSRF tokens",
            secret=True, dev_default=_random_secret_key, note="random per start"),
    Setting("DATABASE_URL", "str", "sqlite:///workestra.db",  # Flask-SQLAlchemy puts it in instance/
            "SQLAlchemy URL, e.g. `postgresql+psycopg://postgres@127.0.0.1:5432/test`",
            key="SQLALCHEMY_DATABASE_URI", check=_database_url, note="in `instance/`"),
    Setting("REDIS_URL", "str", None, "unset: in-process runner; set: RQ on that Redis",
            check=_url_with("redis://", "rediss://", "unix://")),
    Setting("AUTOMATIONS_ENABLED", "bool", False,
            "the feature flag: off hides the module (404) and dispatches nothing"),
    Setting("CRON_SECRET", "str", None, "Bearer token of `POST /api/cron/workflow-runner`", secret=True),
    Setting("WEBHOOK_SIGNING_SECRET", "str", None, "HMAC-SHA256 key of outgoing webhooks",
            secret=True, dev_default="dev-webhook-secret"),
    Setting("WEBHOOK_ALLOWED_HOSTS", "list", (),
            "comma-separated hosts that outgoing webhooks may reach even when private"),
    Setting("EMBEDDED_WORKERS", "int", 4,
            "runner threads of the in-process runner, per web process: as many as the request threads, so the "
            "runner keeps up with its own front door in a burst"),
    Setting("EMBEDDED_MAX_BACKLOG", "int", 4,
            "runs waiting for a web process's in-process runner beyond which a request that hands over more waits "
            "(up to 5 s) for it: a burst slows at the front door instead of queueing runs for seconds; `0` = never wait"),
    Setting("SQLITE_WRITER_QUEUE", "bool", True,
            "SQLite only: writers take the one write lock in turn (first come first served within a process, a "
            "lock file `<database>-writer` between processes) instead of retrying in SQLite's busy handler (sleeps "
            "of up to 100 ms): a burst's slowest runs wait less"),
    Setting("SWEEP_INTERVAL_SECONDS", "float", 30,
            "how often the embedded runner (or one of the RQ workers) sweeps; `0` turns the periodic sweep off"),
    Setting("EXECUTION_LEASE_SECONDS", "float", 60,
            "how long a worker's claim on a run lasts before another worker may take it over"),
    Setting("TEST_RUN_SECONDS", "float", 20,
            "a test run (the editor's Test, `POST /api/v1/workflows/test`) is stopped after this long"),
    Setting("EVENT_SAMPLE_MAX_BYTES", "int", 16384,
            "a recent event kept as sample data for test runs is trimmed to this many bytes of JSON"),
    Setting("EVENT_SAMPLE_EVERY_SECONDS", "float", 1,
            "each process keeps at most one recent event per workspace and trigger this often (`0`: every event)"),
    Setting("RETRY_BASE_SECONDS", "float", 2, "first wait of the Retry on error strategy (then ×2, ×4)"),
    Setting("SWEEP_PENDING_GRACE_SECONDS", "float", 5, "the sweep leaves fresh pending runs this long to the queue"),
    Setting("RUN_RETENTION_DAYS", "int", 90,
            "days finished runs, webhook deliveries, sent emails and read notifications are kept, for workspaces "
            "that did not choose their own (Settings → Workspace); the daily totals behind stats and charts stay; "
            "`0` = keep everything", check=_at_most(MAX_RETENTION_DAYS)),
    Setting("RUN_PRUNE_BATCH", "int", 1000,
            "rows the prune deletes per transaction (short transactions, no long locks)", check=_at_most(100_000)),
    Setting("RUN_PRUNE_INTERVAL_SECONDS", "float", 3600,
            "how often the periodic sweep prunes each workspace; `0` = only `flask automations prune` prunes"),
    Setting("ENGINE_HANDOFF", "choice", "queue", "`sweep`: never hand runs to the queue; only the sweep runs them",
            choices=("queue", "sweep")),
    Setting("ENGINE_CLAIM_BATCH", "int", 20, "runs a worker (or an embedded runner thread) claims in one statement"),
    Setting("RQ_WAKE_SLOTS", "int", 4,
            "at most this many wake-up jobs wait in the RQ queue, however many events arrive"),
    Setting("RQ_JOB_TIMEOUT_SECONDS", "int", 120,
            "RQ's `job_timeout` of every job the engine enqueues; keep it above ENGINE_JOB_BUDGET_SECONDS plus the "
            "longest step (OUTGOING_HTTP_DEADLINE_SECONDS)"),
    Setting("ENGINE_JOB_BUDGET_SECONDS", "float", 20,
            "a wake or sweep job takes no new run after this long and re-enqueues itself for the rest"),
    Setting("WORKSPACE_MAX_RUNNING", "int", 0,
            "a workspace holds at most this many running runs (the others wait as pending, and claims take the oldest "
            "due runs across workspaces in turn); `0` = no limit"),
    Setting("EXECUTION_MAX_TAKEOVERS", "int", 3,
            "a run taken over (its worker stopped renewing the lease) more often than this fails with a clear error"),
    Setting("WORKER_RUNNER_THREADS", "int", 4,
            "runner threads per RQ worker process: one slow step (a webhook up to its deadline) holds one thread, "
            "never the whole worker"),
    Setting("ENGINE_WAKE_LINGER_SECONDS", "float", 5,
            "an RQ worker stays awake this long after its last run, popping new runs itself (no wake job per "
            "event); it leaves sooner when other jobs wait in the queue"),
    Setting("WORKER_HEARTBEAT_SECONDS", "float", 5,
            "how often an RQ worker writes its heartbeat to Redis (the wake-up fan-out counts live workers by it)"),
    Setting("OUTGOING_HTTP_DEADLINE_SECONDS", "float", 15,
            "wall-clock limit of one outgoing webhook or Resend call: connect, headers and body together"),
    Setting("LOG_FORMAT", "choice", "text", "`text` lines or `json` lines (one object per event), web and worker alike",
            choices=("text", "json")),
    Setting("LOG_LEVEL", "choice", "info", "the root logger's level", choices=("debug", "info", "warning", "error")),
    Setting("METRICS_TOKEN", "str", None,
            "Bearer token that opens `GET /metrics` from other addresses than loopback; unset: loopback only"),
    Setting("CHAIN_RUN_BUDGET", "int", 100,
            "the fan-out budget: runs one run's chain may count in all (itself and every run its actions' events "
            "cause, at any depth); beyond it no run is created and the causing step's output says why; `0` = no budget"),
    Setting("WORKSPACE_RUNS_PER_MINUTE", "int", 0,
            "runs a workspace may start per minute; beyond it new runs wait for a later minute (delayed, never "
            "dropped); `0` = no ceiling"),
    Setting("EMAIL_BACKEND", "choice", "outbox",
            "`outbox` (mail is only recorded, shown on Settings → Outbox), `smtp` or `resend`",
            choices=EMAIL_BACKENDS),
    Setting("SMTP_URL", "str", None,
            "`smtp://user:pass@host:587?starttls=true` or `smtps://host:465`; required with `EMAIL_BACKEND=smtp`",
            check=_url_with("smtp://", "smtps://")),
    Setting("SMTP_CA_FILE", "str", None,
            "a PEM file of the certificate authorities SMTP servers are checked against (unset: the system's); "
            "the server's certificate must match its host name either way",
            check=_readable_file),
    Setting("EMAIL_MAX_ATTEMPTS", "int", 5,
            "delivery attempts of one email (backend errors are retried after 30 s, then ×4) before it stays failed"),
    Setting("EMAIL_FROM", "str", "Workestra <no-reply@workestra.test>", "sender of every email"),
    Setting("RESEND_API_KEY", "str", None, "API key for `EMAIL_BACKEND=resend` (POST https://api.resend.com/emails)"),
    Setting("WEBHOOK_RATE_LIMIT_PER_MINUTE", "int", 60,
            "signed incoming deliveries per minute per Webhook Received workflow (429 + `Retry-After` beyond); "
            "counted in Redis when `REDIS_URL` is set, else in the database; `0` = no limit"),
    Setting("WEBHOOK_UNVERIFIED_PER_MINUTE", "int", 30,
            "incoming webhook requests with a missing or bad signature accepted per minute from one address (401, "
            "counted on the workflow, no delivery row); beyond it 429 without any write; counted in Redis when "
            "`REDIS_URL` is set, else per process; `0` = no limit"),
    Setting("PASSWORD_HASH_METHOD", "str", "scrypt",
            "how new passwords are hashed: a method of Werkzeug's `generate_password_hash`, "
            "e.g. `pbkdf2:sha256:600000`"),
    Setting("AUTH_RATE_LIMIT_PER_ACCOUNT", "str", "5 per minute; 20 per hour",
            "failed sign-ins and password changes allowed per account, and sign-ups and invitation "
            "acceptances per email (429 beyond); counted in Redis when `REDIS_URL` is set, else in memory",
            check=_rate_limits),
    Setting("AUTH_RATE_LIMIT_PER_ADDRESS", "str", "20 per minute; 100 per hour",
            "the same, per client address (see `TRUSTED_PROXIES`)", check=_rate_limits),
    Setting("TRUSTED_PROXIES", "int", 0,
            "how many reverse proxies in front of the app set `X-Forwarded-For`/`-Proto`/`-Host` "
            "(Werkzeug's ProxyFix); `1` behind one TLS proxy, so links and webhook URLs come out `https://`"),
    Setting("APP_BASE_URL", "str", "http://127.0.0.1:5000",
            "the address people open the app at, e.g. `https://automations.example.com`; links in emails sent "
            "without a web request (failure alerts, auto-pause) start with it",
            check=_url_with("http://", "https://")),
    Setting("SEED_ONBOARDING_WORKFLOW", "bool", True,
            "a new workspace starts with the onboarding workflow (a draft, from the system templates)"),
)


def config_from_environment(environ=os.environ) -> dict:
    """The raw value of every variable of the table that is set, under its config key."""
    return {setting.key: environ[setting.name] for setting in SETTINGS if environ.get(setting.name, "").strip()}


def finalize_config(config: dict) -> dict:
    """Parse, default and check every setting; raise ConfigError naming the first bad one."""
    for setting in SETTINGS:
        config[setting.key] = setting.parse(config.get(setting.key))
    production = config["APP_ENV"] == "production"

    backend = config["EMAIL_BACKEND"]
    if backend == "smtp" and not config["SMTP_URL"]:
        raise ConfigError("SMTP_URL must be set when EMAIL_BACKEND=smtp.")
    if backend == "resend" and not config["RESEND_API_KEY"]:
        raise ConfigError("RESEND_API_KEY must be set when EMAIL_BACKEND=resend.")

    for setting in SETTINGS:
        if not setting.secret:
            continue
        value = config[setting.key]
        if production and not value:
            raise ConfigError(f"{setting.name} must be set in production (APP_ENV=production).")
        if production and len(value) < SECRET_MIN_LENGTH:
            raise ConfigError(f"{setting.name} must be at least {SECRET_MIN_LENGTH} characters long.")
        if not production and not value:
            # Development and tests: ephemeral secrets are fine, but never empty (CRON_SECRET may stay unset).
            dev_default = setting.dev_default
            config[setting.key] = dev_default() if callable(dev_default) else dev_default

    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_SECURE"] = production
    config["REMEMBER_COOKIE_HTTPONLY"] = True
    config["REMEMBER_COOKIE_SECURE"] = production
    config["WTF_CSRF_TIME_LIMIT"] = None
    config["WTF_CSRF_SSL_STRICT"] = production
    config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"] or "memory://"
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    return config


# --- README's table --------------------------------------------------------------------------

def readme_default(setting: Setting) -> str:
    """README's Default column of one setting."""
    if setting.dev_default is not None:
        shown = setting.note if callable(setting.dev_default) else f"`{setting.dev_default}`"
        return f"{shown} (dev)"
    default = setting.default
    if default is None:
        shown = "unset"
    elif default in ("", ()):
        shown = "empty"
    else:
        shown = f"`{str(default).lower() if isinstance(default, bool) else default}`"
    return f"{shown} {setting.note}" if setting.note else shown


def markdown_table() -> str:
    """README's Configuration table, generated from SETTINGS."""
    rows = ["| Setting | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {readme_default(s)} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def _table_span(text: str) -> tuple[int, int]:
    """Start and end offsets of the first table after README_HEADING."""
    lines = text.splitlines(keepends=True)
    heading = next(i for i, line in enumerate(lines) if line.rstrip() == README_HEADING)
    start = next(i for i in range(heading + 1, len(lines)) if lines[i].startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    offset = sum(map(len, lines[:start]))
    return offset, offset + sum(map(len, lines[start:end]))


def readme_table(text: str) -> str:
    start, end = _table_span(text)
    return text[start:end]


def with_table(text: str) -> str:
    """README's text with its Configuration table regenerated."""
    start, end = _table_span(text)
    return text[:start] + markdown_table() + text[end:]


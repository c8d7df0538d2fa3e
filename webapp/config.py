"""Configuration from the environment (and a .env file), validated at start-up."""
import os
import secrets

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
ENVIRONMENTS = {"development", "production", "testing"}
EMAIL_BACKENDS = ("outbox", "smtp", "resend")
DEFAULT_DATABASE_URL = "sqlite:///workestra.db"  # Flask-SQLAlchemy puts it in instance/


NUMERIC_SETTINGS = (
    ("EMBEDDED_WORKERS", int, 2),
    ("SWEEP_INTERVAL_SECONDS", float, 30),
    ("EXECUTION_LEASE_SECONDS", float, 60),
    ("RETRY_BASE_SECONDS", float, 2),
    ("SWEEP_PENDING_GRACE_SECONDS", float, 5),
    ("WEBHOOK_RATE_LIMIT_PER_MINUTE", int, 60),
    ("ENGINE_CLAIM_BATCH", int, 20),
    ("RQ_WAKE_SLOTS", int, 4),
)


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names it."""


def parse_flag(name: str, raw) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false (got {raw!r}).")


def config_from_environment(environ=os.environ) -> dict:
    env = environ.get("APP_ENV", "development").strip().lower()
    return {
        "APP_ENV": env,
        "SECRET_KEY": environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        "REDIS_URL": environ.get("REDIS_URL") or None,
        "AUTOMATIONS_ENABLED": environ.get("AUTOMATIONS_ENABLED", "false"),
        "CRON_SECRET": environ.get("CRON_SECRET") or None,
        "WEBHOOK_SIGNING_SECRET": environ.get("WEBHOOK_SIGNING_SECRET") or None,
        "WEBHOOK_ALLOWED_HOSTS": environ.get("WEBHOOK_ALLOWED_HOSTS", ""),
        "EMBEDDED_WORKERS": environ.get("EMBEDDED_WORKERS", "2"),
        "SWEEP_INTERVAL_SECONDS": environ.get("SWEEP_INTERVAL_SECONDS", "30"),
        "EXECUTION_LEASE_SECONDS": environ.get("EXECUTION_LEASE_SECONDS", "60"),
        "RETRY_BASE_SECONDS": environ.get("RETRY_BASE_SECONDS", "2"),
        "SWEEP_PENDING_GRACE_SECONDS": environ.get("SWEEP_PENDING_GRACE_SECONDS", "5"),
        "WEBHOOK_RATE_LIMIT_PER_MINUTE": environ.get("WEBHOOK_RATE_LIMIT_PER_MINUTE", "60"),
        "ENGINE_HANDOFF": environ.get("ENGINE_HANDOFF", "queue"),
        "ENGINE_CLAIM_BATCH": environ.get("ENGINE_CLAIM_BATCH", "20"),
        "RQ_WAKE_SLOTS": environ.get("RQ_WAKE_SLOTS", "4"),
    }


def finalize_config(config: dict) -> dict:
    """Check and normalise every setting; raise ConfigError naming the first bad one."""
    env = config.get("APP_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(sorted(ENVIRONMENTS))} (got {env!r}).")
    production = env == "production"

    try:
        make_url(config["SQLALCHEMY_DATABASE_URI"])
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a valid database URL.") from None
    config["AUTOMATIONS_ENABLED"] = parse_flag("AUTOMATIONS_ENABLED", config.get("AUTOMATIONS_ENABLED", False))
    redis_url = config.get("REDIS_URL")
    if redis_url and not str(redis_url).startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://.")
    for name, kind, default in NUMERIC_SETTINGS:
        try:
            config[name] = kind(config.get(name, default))
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a {'whole ' if kind is int else ''}number.") from None
        if config[name] < 0:
            raise ConfigError(f"{name} must not be negative.")
    if config.get("ENGINE_HANDOFF", "queue") not in ("queue", "sweep"):
        raise ConfigError("ENGINE_HANDOFF must be 'queue' or 'sweep'.")

    backend = str(config.get("EMAIL_BACKEND") or "outbox").strip().lower()
    if backend not in EMAIL_BACKENDS:
        raise ConfigError(f"EMAIL_BACKEND must be one of {', '.join(EMAIL_BACKENDS)} (got {backend!r}).")
    config["EMAIL_BACKEND"] = backend
    smtp_url = config.get("SMTP_URL")
    if smtp_url and not str(smtp_url).startswith(("smtp://", "smtps://")):
        raise ConfigError("SMTP_URL must start with smtp:// or smtps://.")
    if backend == "smtp" and not smtp_url:
        raise ConfigError("SMTP_URL must be set when EMAIL_BACKEND=smtp.")
    if backend == "resend" and not config.get("RESEND_API_KEY"):
        raise ConfigError("RESEND_API_KEY must be set when EMAIL_BACKEND=resend.")
    config.setdefault("EMAIL_FROM", "Workestra <no-reply@workestra.test>")

    if production:
        for name in ("SECRET_KEY", "CRON_SECRET", "WEBHOOK_SIGNING_SECRET"):
            value = config.get(name)
            if not value:
                raise ConfigError(f"{name} must be set in production (APP_ENV=production).")
            if len(value) < 16:
                raise ConfigError(f"{name} must be at least 16 characters long.")
    else:
        # Development and tests: ephemeral secrets are fine, but never empty.
        config["SECRET_KEY"] = config.get("SECRET_KEY") or "dev-" + secrets.token_hex(16)
        config["WEBHOOK_SIGNING_SECRET"] = config.get("WEBHOOK_SIGNING_SECRET") or "dev-webhook-secret"

    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_SECURE"] = production
    config["REMEMBER_COOKIE_HTTPONLY"] = True
    config["REMEMBER_COOKIE_SECURE"] = production
    config["WTF_CSRF_TIME_LIMIT"] = None
    config["WTF_CSRF_SSL_STRICT"] = production
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    return config

"""Configuration from the environment (and a .env file), validated at start-up."""
import os
import secrets

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
ENVIRONMENTS = {"development", "production", "testing"}
DEFAULT_DATABASE_URL = "sqlite:///workestra.db"  # Flask-SQLAlchemy puts it in instance/


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
    for name in ("EMBEDDED_WORKERS", "SWEEP_INTERVAL_SECONDS"):
        try:
            config[name] = int(config.get(name, 1))
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number.") from None
        if config[name] < 0:
            raise ConfigError(f"{name} must not be negative.")

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

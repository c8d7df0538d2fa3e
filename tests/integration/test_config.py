"""Start-up configuration: clear errors naming the setting."""
import pytest

from webapp import create_app
from webapp.config import README, ConfigError, config_from_environment, finalize_config, markdown_table, readme_table

GOOD_PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 32,
    "CRON_SECRET": "c" * 32,
    "WEBHOOK_SIGNING_SECRET": "w" * 32,
    "SQLALCHEMY_DATABASE_URI": "sqlite:///prod.db",
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CRON_SECRET", "WEBHOOK_SIGNING_SECRET"])
def test_production_needs_each_secret(missing):
    config = dict(GOOD_PRODUCTION, **{missing: None})
    with pytest.raises(ConfigError, match=missing):
        create_app(config)


@pytest.mark.parametrize(
    "override, name",
    [
        ({"AUTOMATIONS_ENABLED": "maybe"}, "AUTOMATIONS_ENABLED"),
        ({"SQLALCHEMY_DATABASE_URI": "not a url"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"EMBEDDED_WORKERS": "many"}, "EMBEDDED_WORKERS"),
    ],
)
def test_invalid_settings_name_themselves(override, name):
    with pytest.raises(ConfigError, match=name):
        finalize_config(dict(GOOD_PRODUCTION, **override))


def test_production_cookies_are_secure():
    config = finalize_config(dict(GOOD_PRODUCTION))
    assert config["SESSION_COOKIE_SECURE"] and config["SESSION_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_environment_is_read():
    config = config_from_environment(
        {"DATABASE_URL": "postgresql+psycopg://u@h/db", "AUTOMATIONS_ENABLED": "true", "REDIS_URL": "redis://r:6379/2"}
    )
    config = finalize_config(config)
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert config["AUTOMATIONS_ENABLED"] is True
    assert config["REDIS_URL"] == "redis://r:6379/2"


def test_defaults_are_the_embedded_mode():
    config = finalize_config(config_from_environment({}))
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["REDIS_URL"] is None
    assert config["AUTOMATIONS_ENABLED"] is False


def test_readme_configuration_table_is_the_settings_table():
    assert readme_table(README.read_text(encoding="utf-8")) == markdown_table(), (
        "README's Configuration table differs from webapp/config.py's SETTINGS: "
        "run `flask --app webapp config table --write-readme`")


def test_config_table_command_prints_the_table(app):
    result = app.test_cli_runner().invoke(args=["config", "table"])
    assert result.exit_code == 0 and result.output == markdown_table()

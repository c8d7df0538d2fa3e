"""The Flask application factory."""
import os
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask

from engine.runtime import handoff, logs
from engine.runtime.embedded import embedded_runner
from engine.executors import missing_executors
from webapp import database, errors, headers, input_hygiene, layout, security, viewhelpers
from webapp.blueprints import BLUEPRINTS
from webapp.cli import register_cli
from webapp.config import ConfigError, config_from_environment, finalize_config
from webapp.extensions import csrf, db, htmx, limiter, login_manager, migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    settings = config_from_environment()
    settings.update(test_config or {})
    app.config.update(finalize_config(settings))
    os.makedirs(app.instance_path, exist_ok=True)
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])  # the same in the web app and every worker

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    headers.register(app)

    database.configure_engine(app)
    check_executor_registry()
    handoff.install(app)
    if not app.config["REDIS_URL"] and app.config["ENGINE_HANDOFF"] == "queue":
        app.before_request(lambda: start_embedded_runner(app))
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    app.before_request(security.enforce_login_and_load_workspace)
    app.before_request(input_hygiene.refuse_hostile_input)
    layout.register(app)
    viewhelpers.register(app)
    errors.register(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_cli(app)
    return app


def check_executor_registry() -> None:
    """Start-up check: every action of the catalog has its executor."""
    missing = missing_executors()
    if missing:
        raise ConfigError(f"No executor for the catalog's actions: {', '.join(missing)}")


def start_embedded_runner(app) -> None:
    """The in-process runner (and its periodic sweep) starts with the first request it serves."""
    embedded_runner(app)  # returns at once once started; a before_request hook must return None

"""Fixtures the engine's integration tests share."""
import pytest

from models import db


@pytest.fixture
def engine_app(make_app):
    """An app whose runs only the test's own sweeps run, with one-second retries."""
    app = make_app(ENGINE_HANDOFF="sweep", RETRY_BASE_SECONDS=1, EXECUTION_LEASE_SECONDS=30)
    with app.app_context():
        yield app
        db.session.remove()

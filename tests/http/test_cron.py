"""The sweep's entry points: the cron route and the CLI."""
import json
import pytest

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from models import db
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution


@pytest.fixture
def sweep_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", SWEEP_PENDING_GRACE_SECONDS=0)
    with app.app_context():
        yield app
        db.session.remove()


def _pending_execution():
    ws = make_workspace("Cron Co")
    make_workflow(ws.id)
    [execution_id] = fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    return execution_id


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic test-cron-secret", "Bearer ", "test-cron-secret"])
def test_cron_route_needs_the_bearer_secret(sweep_app, header):
    execution_id = _pending_execution()
    headers = {"Authorization": header} if header is not None else {}
    response = sweep_app.test_client().post("/api/cron/workflow-runner", headers=headers)
    assert response.status_code == 401
    assert response.is_json and "CRON_SECRET" in response.get_json()["message"]
    assert load_execution(execution_id).status == "pending"


def test_cron_route_sweeps_and_returns_counts(sweep_app):
    execution_id = _pending_execution()
    response = sweep_app.test_client().post("/api/cron/workflow-runner", headers={"Authorization": "Bearer test-cron-secret"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["claimed"] == 1 and body["completed"] == 1
    assert load_execution(execution_id).status == "completed"


def test_cron_route_refuses_everyone_when_no_secret_is_configured(make_app):
    app = make_app(CRON_SECRET=None)
    assert app.test_client().post("/api/cron/workflow-runner", headers={"Authorization": "Bearer None"}).status_code == 401


def test_cron_route_runs_even_with_the_flag_off(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", SWEEP_PENDING_GRACE_SECONDS=0)
    with app.app_context():
        execution_id = _pending_execution()
    app.config["AUTOMATIONS_ENABLED"] = False
    response = app.test_client().post("/api/cron/workflow-runner", headers={"Authorization": "Bearer test-cron-secret"})
    assert response.get_json()["completed"] == 1
    with app.app_context():
        assert load_execution(execution_id).status == "completed"


def test_cli_sweep_prints_json_counts(sweep_app):
    execution_id = _pending_execution()
    result = sweep_app.test_cli_runner().invoke(args=["automations", "sweep"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["completed"] == 1
    assert load_execution(execution_id).status == "completed"


def test_cli_worker_needs_redis(make_app):
    app = make_app(REDIS_URL=None)
    result = app.test_cli_runner().invoke(args=["automations", "worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL is not set" in result.output

"""GET /metrics (DESIGN.md "Observability"): Prometheus text that prometheus_client's own parser reads,
the backlog gauges equal to the database's counts, and access from loopback or with METRICS_TOKEN."""
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.runner import run_execution
from models import WorkflowExecution, db
from tests.factories import make_workflow, make_workspace


@pytest.fixture
def metrics_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", METRICS_TOKEN="metrics-token-0123456789")
    with app.app_context():
        yield app
        db.session.remove()


def scrape(client, **kwargs) -> dict:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_parse_and_the_pending_gauge_is_the_database_count(metrics_app):
    ws = make_workspace()
    make_workflow(ws.id, actions=[{"type": "log_event", "config": {"event": "e", "message": "m"}}])
    ids = []
    for _ in range(5):
        ids += fire_workflow_event(ws.id, "deal_created", sample_payload("deal_created"))
    db.session.commit()
    client = metrics_app.test_client()
    before = scrape(client)
    assert run_execution(ids[0]) == "completed"
    after = scrape(client)
    pending = db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(WorkflowExecution.status == "pending"))
    assert pending >= 4
    assert after[("workestra_runs_pending", ())] == pending
    assert after[("workestra_runs_running", ())] == 0
    assert after[("workestra_oldest_pending_age_seconds", ())] >= 0
    finished = ("workestra_runs_finished_total", (("status", "completed"),))
    assert after[finished] == before.get(finished, 0) + 1
    steps = ("workestra_step_duration_seconds_count", (("action", "log_event"),))
    assert after[steps] == before.get(steps, 0) + 1
    assert ("workestra_lease_takeovers_total", ()) in after


def test_metrics_are_for_loopback_or_the_token_holder(metrics_app):
    client = metrics_app.test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=remote).status_code == 403
    assert client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer wrong"}).status_code == 403
    scrape(client, environ_base=remote, headers={"Authorization": "Bearer metrics-token-0123456789"})
    metrics_app.config["METRICS_TOKEN"] = None
    assert client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer "}).status_code == 403
    scrape(client, environ_base={"REMOTE_ADDR": "::1"})


def test_counters_of_every_process_add_up_in_multiprocess_mode(tmp_path, database_url):
    """Under gunicorn (PROMETHEUS_MULTIPROC_DIR) each process writes its counters to files; /metrics adds them."""
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), DATABASE_URL=database_url, REDIS_URL="",
               SECRET_KEY="test-secret-key-0123456789", APP_ENV="development")
    count = "from engine.runtime.metrics import RUNS_FINISHED; RUNS_FINISHED.labels(status='failed').inc({})"
    for n in (2, 3):  # two worker processes
        subprocess.run([sys.executable, "-c", count.format(n)], env=env, check=True, timeout=60)
    scrape_in_web = (
        "from webapp import create_app\n"
        "from prometheus_client.parser import text_string_to_metric_families\n"
        "app = create_app()\n"
        "text = app.test_client().get('/metrics').get_data(as_text=True)\n"
        "print([s.value for f in text_string_to_metric_families(text) for s in f.samples\n"
        "       if s.name == 'workestra_runs_finished_total' and s.labels == {'status': 'failed'}])\n")
    result = subprocess.run([sys.executable, "-c", scrape_in_web], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[5.0]"

"""The RQ worker classes push the app context around every job, so nothing under engine/ imports the web app."""
import os
import subprocess
import sys

import fakeredis
import pytest
from redis import Redis
from rq import Queue

from engine.runtime.handoff import RQ_QUEUE_NAME
from engine.runtime.worker import AppSimpleWorker
from tests.reliability.conftest import RELIABILITY_REDIS, redis_available


def _has_app_context_in_a_job(worker, connection) -> bool:
    job = Queue(RQ_QUEUE_NAME, connection=connection).enqueue("flask.has_app_context")
    worker.work(burst=True)
    return job.return_value()


def test_the_worker_runs_each_job_in_the_app_it_was_given(app):
    connection = fakeredis.FakeStrictRedis()
    worker = AppSimpleWorker([RQ_QUEUE_NAME], connection=connection, app=app)
    assert _has_app_context_in_a_job(worker, connection) is True
    assert worker.flask_app() is app


def test_a_plain_rq_worker_builds_the_app_the_way_flask_does(monkeypatch, tmp_path):
    """`rq worker --worker-class engine.runtime.worker.AppSimpleWorker` has no app: it loads FLASK_APP once."""
    monkeypatch.setenv("FLASK_APP", "webapp")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'plain-worker.db'}")
    connection = fakeredis.FakeStrictRedis()
    worker = AppSimpleWorker([RQ_QUEUE_NAME], connection=connection)
    assert _has_app_context_in_a_job(worker, connection) is True
    app = worker.flask_app()
    assert app.import_name == "webapp" and worker.flask_app() is app


def test_rq_worker_command_builds_the_app_once_not_per_job(tmp_path):
    """RQ's own `rq worker --worker-class ...` (both classes): every job runs in the app context, and a job takes
    milliseconds, not the seconds of building the app (the forking class builds it once, in the parent)."""
    if not redis_available(RELIABILITY_REDIS):
        pytest.skip(f"needs Redis at {RELIABILITY_REDIS}")
    connection = Redis.from_url(RELIABILITY_REDIS)
    env = dict(os.environ, FLASK_APP="webapp", DATABASE_URL=f"sqlite:///{tmp_path / 'rq-worker.db'}",
               REDIS_URL=RELIABILITY_REDIS, SECRET_KEY="test-secret-key-0123456789", APP_ENV="development")
    rq = os.path.join(os.path.dirname(sys.executable), "rq")
    for worker_class in ("AppSimpleWorker", "AppForkWorker"):
        connection.flushdb()
        queue = Queue(RQ_QUEUE_NAME, connection=connection)
        jobs = [queue.enqueue("flask.has_app_context") for _ in range(3)]
        subprocess.run([rq, "worker", "--burst", "--url", RELIABILITY_REDIS, "--worker-class",
                        f"engine.runtime.worker.{worker_class}", RQ_QUEUE_NAME],
                       env=env, check=True, timeout=120, capture_output=True)
        for job in jobs:
            job.refresh()
            assert job.return_value() is True, (worker_class, job.get_status())
            assert (job.ended_at - job.started_at).total_seconds() < 1.0, (worker_class, job.ended_at - job.started_at)
    connection.flushdb()

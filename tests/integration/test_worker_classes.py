"""The RQ worker classes push the app context around every job, so nothing under engine/ imports the web app."""
import fakeredis
from rq import Queue

from engine.runtime.handoff import RQ_QUEUE_NAME
from engine.runtime.worker import AppSimpleWorker


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

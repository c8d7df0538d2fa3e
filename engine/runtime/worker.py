"""RQ worker classes that run every job inside the app's context.

`flask --app webapp automations worker` passes its app. A plain `rq worker --worker-class
engine.runtime.worker.AppSimpleWorker` builds the app the way the `flask` command does (FLASK_APP),
once per worker, so nothing under engine/ imports the web app.
"""
import os

from flask import Flask
from flask.cli import ScriptInfo
from rq import SimpleWorker, Worker

from models import db


class AppContextWorker:
    """Mixin: push the app context around each job (the jobs take ids and use the app's session)."""

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app

    def flask_app(self) -> Flask:
        if self.app is None:
            self.app = ScriptInfo(app_import_path=os.environ.get("FLASK_APP")).load_app()
        return self.app

    def perform_job(self, job, queue, *args, **kwargs):
        with self.flask_app().app_context():
            return super().perform_job(job, queue, *args, **kwargs)


class AppSimpleWorker(AppContextWorker, SimpleWorker):
    """Runs jobs in this process: the fast choice (one per core)."""


class AppForkWorker(AppContextWorker, Worker):
    """Forks per job; the child drops the parent's pooled connections (they must not cross fork())."""

    def main_work_horse(self, job, queue):
        with self.flask_app().app_context():
            db.engine.dispose(close=False)
        super().main_work_horse(job, queue)


WORKER_CLASSES = {"simple": AppSimpleWorker, "fork": AppForkWorker}

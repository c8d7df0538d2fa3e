"""RQ worker classes that run every job inside the app's context.

`flask --app webapp automations worker` passes its app. A plain RQ command works too, with one of these
classes (rq's default class knows nothing of the app context the jobs need):

    FLASK_APP=webapp rq worker --worker-class engine.runtime.worker.AppSimpleWorker --with-scheduler workestra

The class builds the app the way the `flask` command does (FLASK_APP), once per worker process, before the
first job; nothing under engine/ imports the web app, and no job builds it. AppSimpleWorker (the default and
the recommended class) runs jobs in its own process: no fork and no app build per job. AppForkWorker forks
per job (isolation) from the app built once in the parent; the child drops the inherited connection pool, and
a SIGTERM to the parent reaches the job in the child (SIGUSR1).

Both also: write a heartbeat to Redis every WORKER_HEARTBEAT_SECONDS (the wake-up fan-out and /healthz read
it), configure logging like the web app (LOG_FORMAT, LOG_LEVEL), and on SIGTERM (warm shutdown) tell the job
under way to stop at the next step boundary and hand the rest back (engine.runtime.budget.STOP_REQUESTED).
"""
import logging
import os
import signal
import threading
import time

from flask import Flask
from flask.cli import ScriptInfo
from rq import SimpleWorker, Worker
from sqlalchemy import event, exc

from engine.runtime import budget, handoff, logs
from models import db

log = logging.getLogger(__name__)


class AppContextWorker:
    """Mixin: push the app context around each job (the jobs take ids and use the app's session)."""

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self._beating = threading.Event()

    def flask_app(self) -> Flask:
        if self.app is None:
            self.app = ScriptInfo(app_import_path=os.environ.get("FLASK_APP")).load_app()
        return self.app

    def work(self, *args, **kwargs):
        app = self.flask_app()  # once, before the first job (a forking worker's children inherit it)
        logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
        with app.app_context():
            ping_only_idle_connections(db.engine)
        budget.STOP_REQUESTED.clear()
        self._start_heartbeat(app)
        try:
            return super().work(*args, **kwargs)
        finally:
            self._beating.set()
            try:
                handoff.forget_worker(self.connection, self.name)
            except Exception:
                pass

    def _start_heartbeat(self, app) -> None:
        interval = max(0.5, app.config["WORKER_HEARTBEAT_SECONDS"])

        def loop():
            while True:
                try:
                    handoff.beat(self.connection, self.name)
                except Exception as error:  # Redis down: the worker's own loop reports it
                    log.debug("Heartbeat not written: %s", error)
                if self._beating.wait(interval):
                    return

        threading.Thread(target=loop, name="workestra-worker-heartbeat", daemon=True).start()

    def request_stop(self, signum, frame):
        """Warm shutdown (SIGTERM/SIGINT): the job under way finishes its step, hands back the rest, and ends."""
        budget.STOP_REQUESTED.set()
        return super().request_stop(signum, frame)

    def perform_job(self, job, queue, *args, **kwargs):
        with self.flask_app().app_context():
            return super().perform_job(job, queue, *args, **kwargs)


class AppSimpleWorker(AppContextWorker, SimpleWorker):
    """Runs jobs in this process: the fast choice (one per core)."""


class AppForkWorker(AppContextWorker, Worker):
    """Forks per job; the child drops the parent's pooled connections (they must not cross fork()).
    A warm shutdown reaches the job in the child as SIGUSR1 (the child ignores SIGINT and sits in its own session)."""

    def setup_work_horse_signals(self):
        super().setup_work_horse_signals()
        signal.signal(signal.SIGUSR1, lambda signum, frame: budget.STOP_REQUESTED.set())

    def request_stop(self, signum, frame):
        if self.horse_pid:
            try:
                os.kill(self.horse_pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
        return super().request_stop(signum, frame)

    def main_work_horse(self, job, queue):
        with self.flask_app().app_context():
            db.engine.dispose(close=False)
        super().main_work_horse(job, queue)


IDLE_PING_SECONDS = 2.0


def ping_only_idle_connections(engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """The app's engine pings every connection it checks out (pool_pre_ping): a round trip per transaction, two
    per run. A worker runs short transactions back to back on connections it used a moment ago: ping only
    one idle for longer than `idle_seconds` (a dead one is replaced, as pre-ping does). A connection that died
    in between fails its statement; the runner treats that as the connection's failure, never the step's."""
    if not engine.pool._pre_ping:  # off already (or done before: a forked child's parent did it)
        return
    engine.pool._pre_ping = False

    @event.listens_for(engine, "checkin")
    def checked_in(dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection, record, proxy):
        if time.monotonic() - record.info.get("checked_in_at", 0.0) <= idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"connection dead after idling: {error}") from error
        if not alive:
            raise exc.DisconnectionError("connection dead after idling")


WORKER_CLASSES = {"simple": AppSimpleWorker, "fork": AppForkWorker}

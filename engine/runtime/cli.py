"""`flask --app webapp automations ...`: the sweep and the RQ worker (with the app context the engine needs)."""
import json
import logging
import threading
import uuid

import click
from flask import current_app
from flask.cli import AppGroup

from engine.core.redis_client import redis_connection
from engine.runtime.handoff import RQ_QUEUE_NAME, SWEEP_JOB, job_options, rq_queue
from engine.runtime.sweep import sweep_pending_executions
from engine.runtime.worker import WORKER_CLASSES

automations_cli = AppGroup("automations", help="The workflow engine: sweep and worker.")
log = logging.getLogger(__name__)

SWEEP_LOCK_KEY = "workestra:periodic-sweep"


@automations_cli.command("sweep", help="Run every due execution now and print the counts as JSON.")
def sweep_command():
    click.echo(json.dumps(sweep_pending_executions()))


@automations_cli.command("worker", help="Run an RQ worker for the engine's queue inside the app context.")
@click.option("--with-scheduler", is_flag=True, help="Also run RQ's scheduler (needed for waits and retries).")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--worker-class", type=click.Choice(["simple", "fork"]), default="simple", show_default=True,
              help="simple runs jobs in this process (fast); fork isolates each job in a child process.")
@click.option("--name", default=None, help="Worker name (default: random).")
def worker_command(with_scheduler, burst, worker_class, name):
    app = current_app._get_current_object()
    if not app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is not set. Without Redis the in-process runner of the web app runs executions.")
    connection = redis_connection(app)
    worker = WORKER_CLASSES[worker_class]([RQ_QUEUE_NAME], connection=connection, name=name, app=app)
    if not burst:
        _start_periodic_sweep(app)
    worker.work(burst=burst, with_scheduler=with_scheduler)


def _start_periodic_sweep(app) -> None:
    """Every SWEEP_INTERVAL_SECONDS one worker (whoever takes the Redis lock) enqueues the sweep job."""
    interval = app.config["SWEEP_INTERVAL_SECONDS"]
    if interval <= 0:
        return

    def loop():
        stop = threading.Event()
        while not stop.wait(interval):
            try:
                if redis_connection(app).set(SWEEP_LOCK_KEY, uuid.uuid4().hex, nx=True, ex=max(1, int(interval))):
                    rq_queue(app).enqueue(SWEEP_JOB, **job_options(app, job_id=f"sweep-{uuid.uuid4().hex[:12]}",
                                                                  result_ttl=60))
            except Exception:
                log.exception("Could not enqueue the periodic sweep")

    threading.Thread(target=loop, name="workestra-periodic-sweep", daemon=True).start()

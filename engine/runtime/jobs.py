"""RQ job functions, enqueued by dotted path with ids only. They run inside the app context that the
worker class (engine.runtime.worker) pushes around every job, and leave the session clean."""
from flask import current_app

from engine.runtime.handoff import take_due_ids
from engine.runtime.runner import default_worker_id, run_claimed_batch, run_execution
from engine.runtime.sweep import sweep_pending_executions
from models import db


def run_execution_job(execution_id: int):
    """Run one execution again at its time (a wait, a delay or a retry)."""
    try:
        return run_execution(execution_id)
    finally:
        db.session.remove()


def wake_job(slot: int | None = None):
    """A wake-up: pop batches of handed-over execution ids, claim each batch at once and run it, until none is left."""
    app = current_app._get_current_object()
    batch = max(1, app.config["ENGINE_CLAIM_BATCH"])
    owner = default_worker_id()
    totals: dict = {}
    try:
        ids = take_due_ids(app, slot, batch)
        while ids:
            for key, value in run_claimed_batch(ids, owner).items():
                totals[key] = totals.get(key, 0) + value
            db.session.remove()
            ids = take_due_ids(app, None, batch)
        return totals
    finally:
        db.session.remove()


def sweep_job():
    try:
        return sweep_pending_executions()
    finally:
        db.session.remove()

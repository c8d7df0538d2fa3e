"""RQ job functions, enqueued by dotted path with ids only. They run inside an app context:
the `flask automations worker` command provides one; under a plain `rq worker` one is built once."""
from flask import has_app_context

_app = None


def _ensure_app_context():
    global _app
    if has_app_context():
        return None
    if _app is None:
        from webapp import create_app

        _app = create_app()
    context = _app.app_context()
    context.push()
    return context


def run_execution_job(execution_id: int):
    from engine.runtime.runner import run_execution
    from models import db

    context = _ensure_app_context()
    try:
        return run_execution(execution_id)
    finally:
        db.session.remove()
        if context is not None:
            context.pop()


def wake_job(slot: int | None = None):
    """A wake-up: pop batches of handed-over execution ids, claim each batch at once and run it, until none is left."""
    from flask import current_app

    from engine.runtime.handoff import take_due_ids
    from engine.runtime.runner import default_worker_id, run_claimed_batch
    from models import db

    context = _ensure_app_context()
    try:
        app = current_app._get_current_object()
        batch = max(1, int(app.config.get("ENGINE_CLAIM_BATCH", 20)))
        owner = default_worker_id()
        totals: dict = {}
        ids = take_due_ids(app, slot, batch)
        while ids:
            for key, value in run_claimed_batch(ids, owner).items():
                totals[key] = totals.get(key, 0) + value
            db.session.remove()
            ids = take_due_ids(app, None, batch)
        return totals
    finally:
        db.session.remove()
        if context is not None:
            context.pop()


def sweep_job():
    from engine.runtime.runner import sweep_pending_executions
    from models import db

    context = _ensure_app_context()
    try:
        return sweep_pending_executions()
    finally:
        db.session.remove()
        if context is not None:
            context.pop()

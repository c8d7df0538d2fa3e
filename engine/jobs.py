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
    from engine.runner import run_execution
    from models import db

    context = _ensure_app_context()
    try:
        return run_execution(execution_id)
    finally:
        db.session.remove()
        if context is not None:
            context.pop()


def sweep_job():
    from engine.runner import sweep_pending_executions
    from models import db

    context = _ensure_app_context()
    try:
        return sweep_pending_executions()
    finally:
        db.session.remove()
        if context is not None:
            context.pop()

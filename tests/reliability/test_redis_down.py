"""Redis down while 100 events fire: every business change commits, every run finishes after the sweep.

Runs on both databases (the queue hand-off is the same code): the app points at a dead Redis port.
"""
from datetime import timedelta

from sqlalchemy import func, select

from engine.runtime.sweep import sweep_pending_executions
from models import Deal, WorkflowExecution, db
from models.base import utcnow
from services import deal_service, workspace_service
from tests.factories import make_workflow
from tests.reliability.conftest import record
from tests.reliability.scale import size
from tests.support.engine import log_step

DEAD_REDIS = "redis://127.0.0.1:1/0"


def test_redis_down_every_change_commits_and_every_run_finishes_after_the_sweep(make_app):
    events = size("redis_down_events")
    app = make_app(REDIS_URL=DEAD_REDIS)
    with app.app_context():
        ws, owner = workspace_service.create_workspace("Redis Down Co", "redisdown@example.test", "test-pass-2718")
        db.session.commit()
        make_workflow(ws.id, actions=[log_step("one"), log_step("two")])
        for n in range(events):
            deal_service.create_deal(ws.id, {"title": f"Deal {n}", "value": "100", "currency": "USD"}, owner)
            db.session.commit()  # the hand-off to the dead queue fails after this commit: logged, nothing lost
        assert db.session.scalar(select(func.count()).select_from(Deal)) == events
        statuses = dict(db.session.execute(select(WorkflowExecution.status, func.count()).group_by(WorkflowExecution.status)).all())
        assert statuses == {"pending": events}

        counts = sweep_pending_executions(now=utcnow() + timedelta(seconds=30))
        assert counts["completed"] == events
        statuses = dict(db.session.execute(select(WorkflowExecution.status, func.count()).group_by(WorkflowExecution.status)).all())
        assert statuses == {"completed": events}
        record("redis_down", events=events, business_changes=events, runs_completed=counts["completed"], lost=0)
        db.session.remove()

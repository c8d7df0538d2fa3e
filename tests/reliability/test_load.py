"""Load: 50 events/s (business changes through the contact service) for the scale's duration against 2
worker processes, each run calling a loopback webhook. 0 lost; the backlog drains within 60 s after the
last event. Sizes: ci 20 s, full 600 s (RELIABILITY_SCALE=full)."""
import time

import pytest
from sqlalchemy import func, select

from models import Contact, Workspace, WorkflowExecution, db
from services import contact_service
from tests.factories import make_workflow
from tests.reliability.conftest import record, wait_until, worker_env
from tests.reliability.scale import size

DRAIN_LIMIT_SECONDS = 60


@pytest.mark.slow
def test_fifty_events_a_second_lose_nothing_and_the_backlog_drains(make_app, database_url, pg_and_redis, worker_pool,
                                                                  slow_receiver):
    seconds, rate = size("load_seconds"), size("load_rate")
    slow_receiver.delay = 0
    app = make_app(REDIS_URL=pg_and_redis, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        ws = Workspace(name="Load Co")
        db.session.add(ws)
        db.session.commit()
        make_workflow(ws.id, trigger="contact_created", actions=[
            {"type": "log_event", "config": {"event": "load_seen", "message": "{{ trigger.contact.name }}"}},
            {"type": "call_webhook", "config": {"url": slow_receiver.url}},
        ])
        workers = worker_pool(worker_env(database_url, pg_and_redis, EXECUTION_LEASE_SECONDS=60, SWEEP_INTERVAL_SECONDS=5))
        workers.start(2)
        time.sleep(1.5)

        fired, started = 0, time.monotonic()
        backlog_peak = 0
        while time.monotonic() - started < seconds:
            due = int((time.monotonic() - started) * rate) + 1
            while fired < due:
                contact_service.create_contact(ws.id, {"name": f"Load {fired}", "email": f"load{fired}@example.test"}, None)
                db.session.commit()
                fired += 1
            if fired % rate == 0:
                backlog_peak = max(backlog_peak, _unfinished(ws.id))
            time.sleep(0.005)
        firing_seconds = time.monotonic() - started
        drain_started = time.monotonic()
        wait_until(lambda: _unfinished(ws.id) == 0, timeout=DRAIN_LIMIT_SECONDS, interval=0.25,
                   message=f"the backlog of {_unfinished(ws.id)} runs to drain")
        drained_in = time.monotonic() - drain_started

        contacts = db.session.scalar(select(func.count()).select_from(Contact).where(Contact.workspace_id == ws.id))
        statuses = dict(db.session.execute(select(WorkflowExecution.status, func.count())
                                           .where(WorkflowExecution.workspace_id == ws.id)
                                           .group_by(WorkflowExecution.status)).all())
        delivered = {r["headers"]["x-workestra-webhook-id"] for r in slow_receiver.requests}
        record("load", events=fired, rate_per_s=round(fired / firing_seconds, 1), seconds=round(firing_seconds, 1),
               statuses=statuses, webhooks_delivered=len(delivered), backlog_peak=backlog_peak,
               drained_in_s=round(drained_in, 1))
        assert contacts == fired
        assert statuses == {"completed": fired}, "lost or failed runs"
        assert len(delivered) == fired
        db.session.remove()


def _unfinished(workspace_id: int) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(
        WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.status.not_in(("completed", "failed", "cancelled"))))

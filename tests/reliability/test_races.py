"""Races: 4 worker processes and 2 sweeper processes over N executions: 0 claimed twice. Two sweepers
firing the same due schedule slots at once: 0 slots fired twice.

Sizes: ci 1,000 executions / 20 schedules; full 10,000 / 200 (RELIABILITY_SCALE=full).
"""
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from engine.runtime.handoff import enqueue_executions
from engine.runtime.schedules import fire_due_schedules
from models import AuditEvent, WorkflowExecution, db
from models.base import utcnow
from models.triggers import WorkflowSchedule
from tests.factories import make_workflow, make_workspace
from tests.reliability.conftest import PROJECT_ROOT, record, wait_until, worker_env
from tests.reliability.scale import size


@pytest.mark.slow
def test_four_workers_and_two_sweepers_never_claim_an_execution_twice(make_app, database_url, pg_and_redis, worker_pool):
    total = size("race_executions")
    # Lease long enough that no lease expires during the test: then claim_count must be exactly 1 for every run.
    app = make_app(REDIS_URL=pg_and_redis, ENGINE_HANDOFF="sweep", EXECUTION_LEASE_SECONDS=300)
    with app.app_context():
        ws = make_workspace("Race Co")
        workflow = make_workflow(ws.id, actions=[{"type": "log_event", "config": {"event": "raced", "message": "x"}}])
        definition = workflow.definition()
        rows = [{"workspace_id": ws.id, "workflow_id": workflow.id, "workflow_name": workflow.name,
                 "trigger_type": "deal_created", "source": "event", "definition": definition,
                 "trigger_payload": {"n": n}, "status": "pending", "completed_actions": [], "event_depth": 0,
                 "created_at": utcnow() - timedelta(minutes=1)} for n in range(total)]
        db.session.execute(WorkflowExecution.__table__.insert(), rows)
        db.session.commit()
        ids = list(db.session.scalars(select(WorkflowExecution.id).where(WorkflowExecution.workspace_id == ws.id)))

        env = worker_env(database_url, pg_and_redis, EXECUTION_LEASE_SECONDS=300, SWEEP_INTERVAL_SECONDS=0,
                         SWEEP_PENDING_GRACE_SECONDS=0)
        workers = worker_pool(env)
        workers.start(4)
        started = time.monotonic()
        # ENGINE_HANDOFF=sweep: the sweepers claim and run rows themselves (with Redis a sweep hands them to workers)
        sweeper_env = dict(env, ENGINE_HANDOFF="sweep")
        sweepers = [subprocess.Popen([sys.executable, "-m", "tests.reliability.sweeper", "300"], cwd=PROJECT_ROOT,
                                     env=sweeper_env)
                    for _ in range(2)]
        try:
            app.config["ENGINE_HANDOFF"] = "queue"
            enqueue_executions(app, ids)  # every id to the workers too: they and the sweepers go for the same rows

            def all_done():
                db.session.commit()
                return not db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(
                    WorkflowExecution.workspace_id == ws.id, WorkflowExecution.status != "completed"))

            wait_until(all_done, timeout=60 + total / 20, interval=0.5, message=f"{total} executions to complete")
            elapsed = time.monotonic() - started
        finally:
            for sweeper in sweepers:
                sweeper.terminate()
                sweeper.wait(timeout=10)
        claims = dict(db.session.execute(select(WorkflowExecution.claim_count, func.count())
                                         .where(WorkflowExecution.workspace_id == ws.id)
                                         .group_by(WorkflowExecution.claim_count)).all())
        effects = dict(db.session.execute(select(AuditEvent.execution_id, func.count())
                                          .where(AuditEvent.workspace_id == ws.id, AuditEvent.event == "raced")
                                          .group_by(AuditEvent.execution_id)).all())
        record("races", executions=total, workers=4, sweepers=2, seconds=round(elapsed, 1),
               claim_counts=claims, executions_with_effect=len(effects), duplicated_effects=sum(1 for n in effects.values() if n != 1))
        assert claims == {1: total}, f"claimed twice: {claims}"
        assert len(effects) == total and set(effects.values()) == {1}
        db.session.remove()


def test_two_sweepers_never_fire_a_scheduled_slot_twice(make_app):
    count = size("race_schedules")
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = make_workspace("Schedule Race Co")
        for n in range(count):
            make_workflow(ws.id, trigger="scheduled", trigger_config={"cron": "*/5 * * * *", "timezone": "UTC"},
                          name=f"Every five minutes {n}")
        slot = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
        db.session.execute(update(WorkflowSchedule).values(next_run_at=slot))
        db.session.commit()
        now = slot + timedelta(seconds=30)
        fired, errors = [], []
        barrier = threading.Barrier(2)

        def sweeper():
            try:
                with app.app_context():
                    barrier.wait()
                    fired.append(fire_due_schedules(now))
                    db.session.remove()
            except Exception as error:  # surfaced below
                errors.append(error)

        threads = [threading.Thread(target=sweeper) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        db.session.commit()
        per_workflow = dict(db.session.execute(select(WorkflowExecution.workflow_id, func.count())
                                               .where(WorkflowExecution.workspace_id == ws.id)
                                               .group_by(WorkflowExecution.workflow_id)).all())
        record("schedule_race", schedules=count, sweepers=2, fired_per_sweeper=fired,
               slots_fired_twice=sum(1 for n in per_workflow.values() if n > 1))
        assert sum(fired) == count
        assert len(per_workflow) == count and set(per_workflow.values()) == {1}
        # A second pass at the same moment fires nothing more: the slots moved on.
        assert fire_due_schedules(now) == 0
        db.session.remove()

"""The daily run rollups (workflow_run_daily, workspace_run_daily) are kept by database triggers:
after every change the engine and the product make, they equal a GROUP BY over workflow_executions
computed here in Python. Runs are driven by hand (ENGINE_HANDOFF=sweep). Both databases."""
import importlib.util
import pathlib
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, text, update

from engine import executors
from tests.factories import new_execution
from engine.executors import StepError
from engine.runtime.runner import claim_execution, run_execution
from engine.runtime.sweep import sweep_pending_executions
from models import WorkflowExecution, WorkflowRunDaily, WorkspaceRunDaily, db
from models.run_rollups import ROLLUP_SHARDS
from models.base import utcnow
from services import execution_service, replay_service, run_history_service, workflow_service
from services.replay_service import ReplayOptions
from services.run_history_service import RunFilter
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution, log_step

TERMINAL = ("completed", "failed", "cancelled")
MIGRATION = next(pathlib.Path(__file__).parents[2].glob("migrations/versions/*-f4a1c0de0001_*.py"))


@pytest.fixture
def sweep_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep", RETRY_BASE_SECONDS=1)
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def new_workspace(sweep_app):
    """new_workspace() -> a workspace made in the sweep app's context (nothing runs by itself)."""
    return make_workspace


# -- the oracle --------------------------------------------------------------------------------------
def expected_rollups() -> tuple[Counter, Counter]:
    """(per workflow, per workspace): {key: (runs, total_duration_ms, timed_runs)} from the runs themselves."""
    db.session.commit()  # see every other connection's commits
    per_workflow, per_workspace = {}, {}
    for run in db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.status.in_(TERMINAL))):
        day = run.created_at.astimezone(timezone.utc).date()
        figures = (1, run.duration_ms or 0, 1 if run.duration_ms is not None else 0)
        shard = run.id % ROLLUP_SHARDS
        keys = [(per_workspace, (run.workspace_id, day, run.status, shard))]
        if run.workflow_id is not None:
            keys.append((per_workflow, (run.workspace_id, run.workflow_id, day, run.status, shard)))
        for into, key in keys:
            into[key] = tuple(a + b for a, b in zip(into.get(key, (0, 0, 0)), figures))
    return per_workflow, per_workspace


def actual_rollups() -> tuple[dict, dict]:
    db.session.commit()
    per_workflow = {(r.workspace_id, r.workflow_id, r.day, r.status, r.shard): (r.runs, r.total_duration_ms, r.timed_runs)
                    for r in db.session.scalars(select(WorkflowRunDaily))}
    per_workspace = {(r.workspace_id, r.day, r.status, r.shard): (r.runs, r.total_duration_ms, r.timed_runs)
                     for r in db.session.scalars(select(WorkspaceRunDaily))}
    return per_workflow, per_workspace


def assert_rollups_match(when: str) -> None:
    expected, actual = expected_rollups(), actual_rollups()
    assert actual[0] == expected[0], f"workflow_run_daily after {when}"
    assert actual[1] == expected[1], f"workspace_run_daily after {when}"


def start(workflow, **fields) -> int:
    execution = new_execution(workflow, {"deal": {"title": "Acme", "id": 1}})
    for key, value in fields.items():
        setattr(execution, key, value)
    db.session.add(execution)
    db.session.commit()
    return execution.id


@pytest.fixture
def flaky(monkeypatch):
    """log_event with config event "flaky" fails this many times (retryable), then works."""
    real = executors.load_executors()["log_event"]
    calls = {"failures": 0}

    def install(failures):
        def executor(step):
            if step.config["event"] == "flaky" and calls["failures"] < failures:
                calls["failures"] += 1
                raise StepError(f"boom {calls['failures']}", retryable=True)
            return real(step)

        monkeypatch.setitem(executors.EXECUTORS, "log_event", executor)

    return install


# -- every transition the engine makes -------------------------------------------------------------
def test_the_rollups_follow_every_transition_of_real_runs(new_workspace, flaky):
    ws, other = new_workspace(), new_workspace()
    flaky(1)
    happy = make_workflow(ws.id, name="Happy", actions=[log_step("a"), log_step("b")])
    broken = make_workflow(ws.id, name="Broken", error_strategy="stop", actions=[
        log_step("before"), {"type": "update_deal", "config": {"deal_id": 987654321, "changes": {"notes": "x"}}}])
    waiting = make_workflow(ws.id, name="Waits", actions=[log_step("a"), {"type": "wait_delay", "config": {"seconds": 5}},
                                                           log_step("after")])
    retrying = make_workflow(ws.id, name="Retries", error_strategy="retry", actions=[log_step("flaky")])
    elsewhere = make_workflow(other.id, name="Other workspace")

    pending = start(happy)
    assert actual_rollups() == ({}, {})  # a pending run is not in the rollups
    assert run_execution(pending) == "completed"
    assert_rollups_match("a completed run")
    assert run_execution(start(elsewhere)) == "completed"
    assert run_execution(start(broken)) == "failed"
    assert_rollups_match("a failed run")

    paused = start(waiting)
    assert run_execution(paused) == "paused"
    assert_rollups_match("a paused run")
    resumed = sweep_pending_executions(now=utcnow() + timedelta(seconds=6))
    assert resumed["completed"] == 1
    assert_rollups_match("a resumed run")

    for_cancel = [start(waiting), start(happy)]
    run_execution(for_cancel[0])  # paused, then cancelled
    claim_execution(for_cancel[1], "w1")  # running, then cancelled
    for execution_id in for_cancel:
        assert execution_service.cancel_execution(load_execution(execution_id))
        db.session.commit()
    assert_rollups_match("cancelled runs")

    retried = start(retrying)
    assert run_execution(retried) == "pending"  # the step failed once: back to pending with a resume time
    assert_rollups_match("a retry")
    sweep_pending_executions(now=load_execution(retried).resume_at + timedelta(seconds=0.1))
    assert load_execution(retried).status == "completed"
    assert_rollups_match("a retried run")

    failed = db.session.scalar(select(WorkflowExecution.id).where(WorkflowExecution.status == "failed"))
    replay = replay_service.replay_execution(load_execution(failed), ReplayOptions(mode="failed_step"))
    db.session.commit()
    assert_rollups_match("a replay queued")
    assert run_execution(replay.id) == "failed"
    from_start = replay_service.replay_execution(load_execution(failed), ReplayOptions(mode="start"))
    db.session.commit()
    assert run_execution(from_start.id) == "failed"
    assert_rollups_match("replays")

    for _ in range(3):
        assert run_execution(start(happy)) == "completed"
    workspace_before = actual_rollups()[1]
    workflow_service.delete_workflow(db.session.get(type(happy), happy.id))
    db.session.commit()
    assert_rollups_match("deleting a workflow with runs")
    assert actual_rollups()[1] == workspace_before  # its runs still count for the workspace
    assert not [key for key in actual_rollups()[0] if key[1] == happy.id]
    assert run_history_service.status_counts(ws.id)["completed"] == db.session.scalar(
        select(func.count()).where(WorkflowExecution.workspace_id == ws.id, WorkflowExecution.status == "completed"))

    assert {key[0] for key in actual_rollups()[1]} == {ws.id, other.id}


def test_edits_and_deletes_of_finished_runs_move_their_counts(new_workspace):
    ws = new_workspace()
    first, second = make_workflow(ws.id, name="First"), make_workflow(ws.id, name="Second")
    noon = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    ids = [start(first, status=status, created_at=noon - timedelta(days=n % 3), duration_ms=n * 10 if n % 2 else None)
           for n, status in enumerate(["completed", "failed", "cancelled", "completed", "pending", "completed"])]
    assert_rollups_match("inserting finished runs")

    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == ids[0])
                       .values(created_at=noon - timedelta(days=9), duration_ms=1234))
    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == ids[1]).values(workflow_id=second.id))
    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == ids[2]).values(status="pending"))
    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == ids[4]).values(status="failed"))
    db.session.commit()
    assert_rollups_match("moving runs between days, workflows and statuses")

    db.session.execute(delete(WorkflowExecution).where(WorkflowExecution.id.in_(ids[3:])))
    db.session.commit()
    assert_rollups_match("deleting runs")
    assert all(figures[0] > 0 for table in actual_rollups() for figures in table.values())  # no zero rows left

    db.session.execute(text("DELETE FROM workspaces WHERE id = :id"), {"id": ws.id})
    db.session.commit()
    assert actual_rollups() == ({}, {})  # the cascade removed everything and inserted nothing


def test_runs_finishing_at_once_on_several_connections_keep_exact_counts(new_workspace):
    ws = new_workspace()
    workflow = make_workflow(ws.id, actions=[log_step("once")])
    ids = [start(workflow) for _ in range(40)]
    from flask import current_app

    app = current_app._get_current_object()
    errors = []

    def worker(mine):
        try:
            with app.app_context():
                for execution_id in mine:
                    run_execution(execution_id)
                db.session.remove()
        except Exception as error:  # pragma: no cover - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(ids[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_rollups_match("40 runs finished by 4 threads")
    assert sum(figures[0] for figures in actual_rollups()[1].values()) == 40


# -- claims and step updates do not touch the rollups -------------------------------------------------
@pytest.fixture
def rollup_writes(sweep_app):
    """rollup_writes() -> how many rows of the rollups were inserted, updated or deleted so far."""
    postgresql = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE test_rollup_writes (tbl varchar(40))"))
        for table in ("workflow_run_daily", "workspace_run_daily"):
            if postgresql:
                connection.execute(text(f"""
                    CREATE FUNCTION test_log_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN INSERT INTO test_rollup_writes VALUES ('{table}'); RETURN NULL; END $$"""))
                connection.execute(text(f"""CREATE TRIGGER test_log_{table} AFTER INSERT OR UPDATE OR DELETE ON {table}
                                            FOR EACH ROW EXECUTE FUNCTION test_log_{table}()"""))
            else:
                for verb in ("INSERT", "UPDATE", "DELETE"):
                    connection.execute(text(f"""CREATE TRIGGER test_log_{table}_{verb} AFTER {verb} ON {table}
                        BEGIN INSERT INTO test_rollup_writes VALUES ('{table}'); END"""))
    try:
        yield lambda: db.session.scalar(text("SELECT count(*) FROM test_rollup_writes"))
    finally:
        db.session.rollback()
        with db.engine.begin() as connection:
            for table in ("workflow_run_daily", "workspace_run_daily"):
                if postgresql:
                    connection.execute(text(f"DROP TRIGGER test_log_{table} ON {table}"))
                    connection.execute(text(f"DROP FUNCTION test_log_{table}()"))
                else:
                    for verb in ("INSERT", "UPDATE", "DELETE"):
                        connection.execute(text(f"DROP TRIGGER test_log_{table}_{verb}"))
            connection.execute(text("DROP TABLE test_rollup_writes"))


def test_claims_steps_and_other_columns_never_write_the_rollups(new_workspace, rollup_writes):
    ws = new_workspace()
    workflow = make_workflow(ws.id, actions=[log_step("a"), log_step("b"), log_step("c")])
    execution_id = start(workflow)
    assert claim_execution(execution_id, "w1")
    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == execution_id)
                       .values(current_step=1, completed_actions=[], lease_expires_at=utcnow() + timedelta(minutes=1)))
    db.session.commit()
    assert rollup_writes() == 0
    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == execution_id)
                       .values(status="pending", lease_owner=None, lease_expires_at=None, current_step=0))
    db.session.commit()
    assert rollup_writes() == 0  # status changes between unfinished states are not counted

    assert run_execution(execution_id) == "completed"
    assert rollup_writes() == 2  # the finishing UPDATE: one workflow row and one workspace row

    db.session.execute(update(WorkflowExecution).where(WorkflowExecution.id == execution_id)
                       .values(error="noted", completed_actions=[], lease_owner="x", finished_at=utcnow()))
    db.session.commit()
    assert rollup_writes() == 2  # columns the rollups do not read: the trigger does not fire


# -- the numbers on the page ----------------------------------------------------------------------------
def test_status_counts_agree_with_the_list_for_every_filter(new_workspace):
    ws, other = new_workspace(), new_workspace()
    first, second = make_workflow(ws.id, name="First"), make_workflow(ws.id, name="Second")
    today = utcnow().date()
    midnight = datetime.combine(today, datetime.min.time(), timezone.utc)
    moments = [midnight - timedelta(days=2), midnight - timedelta(days=1, microseconds=1),
               midnight - timedelta(microseconds=1), midnight, midnight + timedelta(hours=1)]
    statuses = ["completed", "failed", "cancelled", "pending", "running", "paused"]
    for n in range(36):  # ids grow with created_at, as the engine writes them (see run_history_service.id_range)
        start(first if n % 3 else second, status=statuses[n % 6], created_at=moments[n * 5 // 36], duration_ms=n,
              error="boom" if n % 12 in (0, 1) else None,  # completed with errors; failed and ...
              resolved_by_id=1 if n % 12 == 1 else None)  # ... resolved by a replay (the Runs tab's triage counts)
    start(make_workflow(other.id), status="completed", created_at=midnight)

    days = [None, today - timedelta(days=2), today - timedelta(days=1), today]
    for workflow_id in (None, first.id, second.id):
        for date_from in days:
            for date_to in days:
                if date_from and date_to and date_to < date_from:
                    continue
                run_filter = RunFilter(None, workflow_id, date_from, date_to)
                runs = run_history_service.list_runs(ws.id, run_filter, page_size=run_history_service.MAX_PAGE_SIZE).runs
                listed = Counter(run.status for run in runs)
                counts = run_history_service.status_counts(ws.id, run_filter)
                assert counts == {**dict.fromkeys(run_history_service.STATUSES, 0), **listed,
                                  "all": sum(listed.values()),
                                  "completed_with_errors": sum(run.status == "completed" and bool(run.error) for run in runs),
                                  "resolved": sum(run.status == "failed" and bool(run.resolved_by_id) for run in runs),
                                  }, run_filter


def test_the_migrations_backfill_equals_what_the_triggers_keep(new_workspace):
    ws = new_workspace()
    workflow = make_workflow(ws.id)
    for n, status in enumerate(["completed", "failed", "cancelled", "paused", "completed"]):
        start(workflow, status=status, created_at=utcnow() - timedelta(days=n), duration_ms=n or None)
    spec = importlib.util.spec_from_file_location("run_rollups_migration", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    day = migration.PG_DAY if db.engine.dialect.name == "postgresql" else migration.SQLITE_DAY
    assert migration.SHARDS == ROLLUP_SHARDS
    for table, select_sql in migration.backfill_selects(day).items():
        backfilled = db.session.execute(text(select_sql)).all()
        kept = db.session.execute(text(f"SELECT {migration.KEYS[table]}, runs, total_duration_ms, timed_runs FROM {table}")).all()
        assert backfilled and sorted(map(tuple, backfilled)) == sorted(map(tuple, kept)), table


def test_the_workflow_lists_last_run_and_runs_of_the_last_7_days(new_workspace):
    from services import workflow_listing

    ws, other = new_workspace(), new_workspace()
    busy, quiet = make_workflow(ws.id, name="Busy"), make_workflow(ws.id, name="Quiet")
    first_day = datetime.combine(utcnow().date() - timedelta(days=6), datetime.min.time(), timezone.utc)
    start(quiet, status="completed", created_at=first_day - timedelta(days=30))
    start(busy, status="completed", created_at=first_day - timedelta(microseconds=1))  # the day before: not counted
    start(busy, status="completed", created_at=first_day)
    start(busy, status="failed", created_at=utcnow())
    start(busy, status="paused", created_at=first_day + timedelta(days=2))
    start(busy, status="pending", created_at=first_day - timedelta(days=1))  # unfinished but too old
    newest = start(busy, status="running", created_at=utcnow())
    start(make_workflow(other.id, name="Busy elsewhere"), status="completed")

    rows = {row.workflow.name: row for row in workflow_listing.list_workflows(ws.id).rows}
    assert rows["Busy"].runs_7d == 4
    assert rows["Busy"].last_run_status == "running" and load_execution(newest).created_at == rows["Busy"].last_run_at
    assert rows["Quiet"].runs_7d == 0 and rows["Quiet"].last_run_status == "completed"
    by_last_run = [row.workflow.name for row in workflow_listing.list_workflows(ws.id, sort="last_run").rows]
    assert by_last_run == ["Busy", "Quiet"]


def test_a_date_filter_keeps_runs_whose_ids_are_slightly_out_of_time_order(new_workspace):
    """The list bounds ids by the runs created ID_RANGE_MARGIN outside the range; a run whose time was
    taken a little before a neighbour's id (concurrent inserts) still shows under its own day."""
    ws = new_workspace()
    workflow = make_workflow(ws.id)
    midnight = datetime.combine(utcnow().date(), datetime.min.time(), timezone.utc)
    at = {name: start(workflow, status="completed", created_at=moment) for name, moment in (
        ("three_days_ago", midnight - timedelta(days=3)),
        ("yesterday", midnight - timedelta(days=1)),
        ("today", midnight + timedelta(minutes=1)),
        ("yesterday_late_id", midnight - timedelta(seconds=30)),  # its id came after today's first run
        ("tomorrow", midnight + timedelta(days=1, minutes=20)),
    )}
    today = RunFilter(None, None, midnight.date(), midnight.date())
    assert [run.id for run in run_history_service.list_runs(ws.id, today).runs] == [at["today"]]
    day_before = midnight.date() - timedelta(days=1)
    yesterday = RunFilter(None, None, day_before, day_before)
    assert len(run_history_service.id_range(ws.id, yesterday)) == 2  # bounded below and above
    assert [run.id for run in run_history_service.list_runs(ws.id, yesterday).runs] == [
        at["yesterday_late_id"], at["yesterday"]]

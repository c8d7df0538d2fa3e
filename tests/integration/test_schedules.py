"""Scheduled (Cron) triggers with an injected clock: DST in two time zones, missed slots, two sweepers."""
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.runtime.sweep import sweep_pending_executions
from engine.core.cron import next_fire_after, next_fire_times
from engine.runtime.schedules import fire_due_schedules
from models import Deal, WorkflowExecution, db
from models.triggers import WorkflowSchedule
from services import schedule_service, workflow_service
from tests.factories import make_workflow
from tests.support.engine import load_execution

UTC = timezone.utc


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def app(make_app):
    """This module's app (the `workspace` fixture uses it too): runs wait for an explicit sweep."""
    app = make_app(ENGINE_HANDOFF="sweep", SWEEP_PENDING_GRACE_SECONDS=0)
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def sweep_app(app):
    return app


def scheduled_workflow(workspace_id, cron, tz, start, name="Nightly"):
    """An active scheduled workflow whose schedule is computed from the injected time `start`."""
    workflow = make_workflow(workspace_id, trigger="scheduled", name=name,
                             trigger_config={"cron": cron, "timezone": tz},
                             actions=[{"type": "log_event", "config": {"event": "tick", "message": "{{ trigger.scheduled_for }}"}}])
    schedule = schedule_service.schedule_of(workflow.id)
    schedule.next_run_at = None
    schedule_service.sync_schedule(workflow, now=start)
    db.session.commit()
    return workflow


def executions_of(workflow_id) -> list[WorkflowExecution]:
    db.session.expire_all()
    return list(db.session.scalars(select(WorkflowExecution).where(WorkflowExecution.workflow_id == workflow_id).order_by(WorkflowExecution.id)))


def sweep_every(start, end, step):
    moment = start
    while moment <= end:
        fire_due_schedules(moment)
        moment += step


# --- Pure cron maths ------------------------------------------------------------------------

def test_berlin_spring_forward_fires_the_skipped_slot_once_when_the_clocks_jump():
    # 29 March 2026: 02:00 CET becomes 03:00 CEST, so 02:30 never happens that night.
    assert next_fire_times("30 2 * * *", "Europe/Berlin", at(2026, 3, 28, 12), 3) == [
        at(2026, 3, 29, 1, 0),    # 03:00 CEST, the first valid time after the skipped 02:30
        at(2026, 3, 30, 0, 30),   # 02:30 CEST
        at(2026, 3, 31, 0, 30),
    ]


def test_berlin_hourly_schedule_over_the_gap_fires_once_at_the_jump():
    assert next_fire_times("0 * * * *", "Europe/Berlin", at(2026, 3, 28, 23, 30), 4) == [
        at(2026, 3, 29, 0, 0),   # 01:00 CET
        at(2026, 3, 29, 1, 0),   # 02:00 does not exist → 03:00 CEST; 03:00 itself is the same instant
        at(2026, 3, 29, 2, 0),   # 04:00 CEST
        at(2026, 3, 29, 3, 0),
    ]


def test_berlin_fall_back_fires_the_repeated_slot_once():
    # 25 October 2026: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice.
    assert next_fire_times("30 2 * * *", "Europe/Berlin", at(2026, 10, 24, 12), 2) == [
        at(2026, 10, 25, 0, 30),  # the first 02:30 (CEST)
        at(2026, 10, 26, 1, 30),  # the next day, 02:30 CET; the second 02:30 of the 25th is skipped
    ]
    assert next_fire_after("30 2 * * *", "Europe/Berlin", at(2026, 10, 25, 0, 45)) == at(2026, 10, 26, 1, 30)


def test_berlin_half_hourly_does_not_repeat_the_repeated_hour():
    assert next_fire_times("*/30 * * * *", "Europe/Berlin", at(2026, 10, 24, 23, 45), 5) == [
        at(2026, 10, 25, 0, 0),   # 02:00 CEST
        at(2026, 10, 25, 0, 30),  # 02:30 CEST
        at(2026, 10, 25, 2, 0),   # 03:00 CET (02:00 and 02:30 CET are not fired again)
        at(2026, 10, 25, 2, 30),
        at(2026, 10, 25, 3, 0),
    ]


def test_new_york_both_dst_changes():
    # 8 March 2026: 02:00 EST → 03:00 EDT. 1 November 2026: 02:00 EDT → 01:00 EST.
    assert next_fire_times("30 2 * * *", "America/New_York", at(2026, 3, 7, 12), 2) == [
        at(2026, 3, 8, 7, 0),    # 03:00 EDT: the skipped 02:30 fires at the jump
        at(2026, 3, 9, 6, 30),   # 02:30 EDT
    ]
    assert next_fire_times("30 1 * * *", "America/New_York", at(2026, 10, 31, 12), 2) == [
        at(2026, 11, 1, 5, 30),  # 01:30 EDT, the first of the two
        at(2026, 11, 2, 6, 30),  # 01:30 EST the next day
    ]


def test_an_expression_that_never_matches_has_no_next_time():
    assert next_fire_after("0 0 30 2 *", "UTC", at(2026, 1, 1)) is None


# --- Firing -----------------------------------------------------------------------------------

def test_activating_computes_next_run_and_pausing_clears_it(sweep_app, workspace):
    ws = workspace()
    workflow = make_workflow(ws.id, trigger="scheduled", status="draft", trigger_config={"cron": "0 9 * * *", "timezone": "UTC"})
    assert schedule_service.schedule_of(workflow.id).next_run_at is None
    workflow_service.set_status(workflow, "active")
    db.session.commit()
    next_run = schedule_service.schedule_of(workflow.id).next_run_at
    assert next_run is not None and next_run > datetime.now(UTC) and (next_run.hour, next_run.minute) == (9, 0)
    workflow_service.set_status(workflow, "paused")
    db.session.commit()
    assert schedule_service.schedule_of(workflow.id).next_run_at is None


def test_berlin_skipped_slot_runs_once_through_the_sweep(sweep_app, workspace):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, "30 2 * * *", "Europe/Berlin", at(2026, 3, 28, 12))
    sweep_every(at(2026, 3, 28, 23, 0), at(2026, 3, 29, 4, 0), timedelta(minutes=10))
    [execution] = executions_of(workflow.id)
    assert execution.source == "schedule"
    assert execution.trigger_payload["scheduled_for"] == "2026-03-29T01:00:00+00:00"
    assert execution.trigger_payload["late"] is False
    assert schedule_service.schedule_of(workflow.id).next_run_at == at(2026, 3, 30, 0, 30)


@pytest.mark.parametrize("tz, cron, night", [
    ("Europe/Berlin", "30 2 * * *", (2026, 10, 25)),
    ("America/New_York", "30 1 * * *", (2026, 11, 1)),
])
def test_repeated_hour_runs_once_through_the_sweep(sweep_app, workspace, tz, cron, night):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, cron, tz, at(*night) - timedelta(hours=12))
    sweep_every(at(*night), at(*night) + timedelta(hours=10), timedelta(minutes=5))
    assert len(executions_of(workflow.id)) == 1


def test_new_york_skipped_slot_runs_once_through_the_sweep(sweep_app, workspace):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, "30 2 * * *", "America/New_York", at(2026, 3, 7, 12))
    sweep_every(at(2026, 3, 8, 5), at(2026, 3, 8, 10), timedelta(minutes=5))
    [execution] = executions_of(workflow.id)
    assert execution.trigger_payload["scheduled_for"] == "2026-03-08T07:00:00+00:00"


def test_missed_slots_fire_once_and_the_run_says_late(sweep_app, workspace):
    ws = workspace()
    start = at(2026, 5, 4, 8, 0)
    workflow = scheduled_workflow(ws.id, "*/15 * * * *", "UTC", start)
    back_up = at(2026, 5, 4, 11, 7)  # down for three hours: eleven more slots were missed
    counts = sweep_pending_executions(now=back_up)
    assert counts["scheduled_fired"] == 1
    assert sweep_pending_executions(now=back_up)["scheduled_fired"] == 0
    [execution] = executions_of(workflow.id)
    payload = execution.trigger_payload
    assert payload["scheduled_for"] == "2026-05-04T08:15:00+00:00"
    assert payload["fired_at"].startswith("2026-05-04T11:07")
    assert payload["late"] is True and payload["missed_slots"] == 11
    assert schedule_service.schedule_of(workflow.id).next_run_at == at(2026, 5, 4, 11, 15)
    # The next sweep runs it (the handoff is "sweep"): the steps see the scheduled time.
    sweep_pending_executions(now=back_up + timedelta(seconds=30))
    done = load_execution(execution.id)
    assert done.status == "completed"
    assert done.completed_actions[0]["input"]["message"] == "2026-05-04T08:15:00+00:00"


def test_a_slot_fired_on_time_is_not_late(sweep_app, workspace):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, "0 9 * * *", "UTC", at(2026, 5, 4, 8))
    assert fire_due_schedules(at(2026, 5, 4, 8, 59, 59)) == 0
    assert fire_due_schedules(at(2026, 5, 4, 9, 0, 20)) == 1
    [execution] = executions_of(workflow.id)
    assert execution.trigger_payload["late"] is False


def test_two_concurrent_sweeps_fire_each_slot_once(sweep_app, workspace):
    ws = workspace()
    start = at(2026, 5, 4, 8, 0)
    workflows = [scheduled_workflow(ws.id, "*/5 * * * *", "UTC", start, name=f"Every 5 min #{n}") for n in range(4)]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweeper(now):
        try:
            with sweep_app.app_context():
                barrier.wait(timeout=10)
                results.append(fire_due_schedules(now))
                db.session.remove()
        except Exception as failure:  # surfaced below
            errors.append(failure)

    for slot in range(3):
        now = start + timedelta(minutes=5 * (slot + 1), seconds=1)
        threads = [threading.Thread(target=sweeper, args=(now,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors
    assert sum(results) == len(workflows) * 3
    for workflow in workflows:
        slots = [e.trigger_payload["scheduled_for"] for e in executions_of(workflow.id)]
        assert slots == ["2026-05-04T08:05:00+00:00", "2026-05-04T08:10:00+00:00", "2026-05-04T08:15:00+00:00"]


def test_nothing_fires_with_the_flag_off_and_the_slot_fires_late_once_it_is_on(sweep_app, workspace):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, "0 * * * *", "UTC", at(2026, 5, 4, 8, 30))
    sweep_app.config["AUTOMATIONS_ENABLED"] = False
    assert fire_due_schedules(at(2026, 5, 4, 12, 0, 5)) == 0
    sweep_app.config["AUTOMATIONS_ENABLED"] = True
    assert fire_due_schedules(at(2026, 5, 4, 12, 10)) == 1
    [execution] = executions_of(workflow.id)
    assert execution.trigger_payload["late"] is True


def test_paused_and_non_scheduled_workflows_never_fire(sweep_app, workspace):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, "0 * * * *", "UTC", at(2026, 5, 4, 8, 30))
    workflow_service.set_status(workflow, "paused")
    db.session.commit()
    assert fire_due_schedules(at(2026, 5, 4, 12)) == 0
    other = make_workflow(ws.id)  # deal_created: no schedule row at all
    assert schedule_service.schedule_of(other.id) is None
    assert db.session.scalar(select(func.count()).select_from(WorkflowSchedule)) == 1


def test_changing_the_trigger_away_from_scheduled_drops_the_schedule(sweep_app, workspace):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, "0 * * * *", "UTC", at(2026, 5, 4, 8, 30))
    definition = dict(workflow.definition(), trigger={"type": "deal_created", "config": {}})
    workflow_service.update_workflow(workflow, definition)
    db.session.commit()
    assert schedule_service.schedule_of(workflow.id) is None


def test_timezone_defaults_to_the_workspace(sweep_app, workspace):
    ws = workspace()
    ws.timezone = "Asia/Tokyo"
    db.session.commit()
    workflow = make_workflow(ws.id, trigger="scheduled", status="draft", trigger_config={"cron": "0 9 * * *", "timezone": "UTC"})
    workflow.trigger = {"type": "scheduled", "config": {"cron": "0 9 * * *"}}  # a stored trigger without a time zone
    assert schedule_service.workflow_timezone(workflow) == "Asia/Tokyo"


def test_scheduled_payload_lists_stale_deals(sweep_app, workspace):
    ws = workspace()
    fresh = Deal(workspace_id=ws.id, title="Fresh deal")
    stale = Deal(workspace_id=ws.id, title="Forgotten deal")
    won = Deal(workspace_id=ws.id, title="Old but won", status="won")
    db.session.add_all([fresh, stale, won])
    db.session.flush()
    now = datetime.now(UTC)
    stale.updated_at = won.updated_at = now - timedelta(days=30)
    db.session.commit()
    workflow = scheduled_workflow(ws.id, "*/5 * * * *", "UTC", now - timedelta(minutes=6))
    assert fire_due_schedules(now) == 1
    [execution] = executions_of(workflow.id)
    stale_deals = execution.trigger_payload["stale_deals"]
    assert stale_deals["count"] == 1 and stale_deals["ids"] == [stale.id]
    assert stale_deals["items"][0]["days_inactive"] >= 29


def test_schedule_panel_context_shows_the_next_five_times_in_the_zone(sweep_app, workspace):
    ws = workspace()
    workflow = scheduled_workflow(ws.id, "0 9 * * 1-5", "Europe/Paris", at(2026, 5, 4))
    panel = schedule_service.schedule_panel_context(workflow, now=at(2026, 5, 1, 12))  # a Friday
    assert panel["timezone"] == "Europe/Paris" and panel["error"] is None
    assert [t["local"].strftime("%a %H:%M") for t in panel["times"]] == ["Mon 09:00", "Tue 09:00", "Wed 09:00", "Thu 09:00", "Fri 09:00"]
    assert panel["times"][0]["utc"] == at(2026, 5, 4, 7)
    assert schedule_service.preview("61 * * * *", "UTC")["error"]
    assert schedule_service.preview("0 9 * * *", "Mars/Base")["error"] == "Unknown time zone 'Mars/Base'."

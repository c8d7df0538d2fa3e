"""Failure alerts, auto-pause and the workflow_failed trigger (issue #22), driven through real runs: a deal created
through the service fires the workflow, the sweep runs it on an injected clock, and its failing step fails it."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.runtime.sweep import sweep_pending_executions
from models import Notification, OutboxEmail, Workflow, WorkflowExecution, Workspace, db
from models.base import utcnow
from services import workflow_service, workflow_settings
from tests.conftest import owner_of
from tests.factories import deal, executions_of, make_user, make_workflow, make_workspace
from tests.support.engine import log_step

FAILING_STEP = {"type": "update_deal", "config": {"deal_id": 999999, "changes": {"notes": "never"}}}
GOOD_STEP = log_step("fine")


@pytest.fixture
def team(engine_app):
    """A workspace with its owner, an admin and a member; a workflow on deal_created whose step fails."""
    ws = make_workspace("Alerts Ltd")
    admin, member = make_user(ws, "admin"), make_user(ws, "member")
    workflow = make_workflow(ws.id, name="Sync deals", error_strategy="stop", actions=[FAILING_STEP])
    return ws, owner_of(ws), admin, member, workflow


class Clock:
    """The sweep's injected time: starts a minute from now, moved on by the tests."""

    def __init__(self):
        self.now = utcnow() + timedelta(minutes=1)

    def advance(self, **delta):
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock():
    return Clock()


def run_once(ws, clock, **advance) -> None:
    """One event, one run, run by the sweep at the clock's time (moved on by `advance`)."""
    deal(ws)
    if advance:
        clock.advance(**advance)
    sweep_pending_executions(now=clock.now)


def statuses(workflow) -> list[str]:
    return [run.status for run in executions_of(workflow)]


def unread(user, workflow) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.group_key == f"workflow_failed:{workflow.id}",
        Notification.read_at.is_(None))))


def alert_emails(ws) -> list[OutboxEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEmail).where(
        OutboxEmail.workspace_id == ws.id, OutboxEmail.subject.contains("failed run")).order_by(OutboxEmail.id)))


def reload(workflow) -> Workflow:
    db.session.expire_all()
    return db.session.get(Workflow, workflow.id)


def set_settings(workflow, **settings):
    workflow_settings.update_settings(reload(workflow), settings, None, workflow_settings.CHANGE_ROLE)
    db.session.commit()


# -- notifications, grouped ----------------------------------------------------------------------------

def test_failures_notify_owners_and_admins_in_one_grouped_notification(team, clock):
    ws, owner, admin, member, workflow = team
    run_once(ws, clock)
    assert statuses(workflow) == ["failed"]
    [first] = unread(owner, workflow)
    assert first.title == "Sync deals failed" and first.link == f"/automations/runs/{executions_of(workflow)[0].id}"

    run_once(ws, clock, minutes=1)
    run_once(ws, clock, minutes=1)
    for person in (owner, admin):
        [grouped] = unread(person, workflow)
        assert grouped.title == "3 new failures of Sync deals" and grouped.group_count == 3
        assert grouped.link == f"/automations/runs?status=failed&workflow={workflow.id}"
    assert unread(member, workflow) == []  # members are not alerted

    # Once read, the next failure starts a new group; the admin's unread one keeps counting.
    unread(owner, workflow)[0].read_at = utcnow()
    db.session.commit()
    run_once(ws, clock, minutes=1)
    assert [n.title for n in unread(owner, workflow)] == ["Sync deals failed"]
    assert [n.title for n in unread(admin, workflow)] == ["4 new failures of Sync deals"]


def test_a_successful_run_alerts_nobody(engine_app, clock):
    ws = make_workspace()
    workflow = make_workflow(ws.id, name="Fine", actions=[GOOD_STEP])
    run_once(ws, clock)
    assert statuses(workflow) == ["completed"]
    assert unread(owner_of(ws), workflow) == [] and alert_emails(ws) == []


# -- emails, at most one per workflow per hour ----------------------------------------------------------

def test_at_most_one_email_per_workflow_per_hour_summing_the_failures(team, clock):
    ws, owner, admin, member, workflow = team
    run_once(ws, clock)
    emails = alert_emails(ws)
    assert sorted(e.to for e in emails) == sorted([owner.email, admin.email])
    assert all(e.subject == "1 failed run of Sync deals" for e in emails)
    first_run = executions_of(workflow)[0]
    assert f"/automations/runs/{first_run.id}" in emails[0].body

    run_once(ws, clock, minutes=10)
    run_once(ws, clock, minutes=10)
    sweep_pending_executions(now=clock.advance(minutes=39))  # 59 minutes after the first email
    assert len(alert_emails(ws)) == 2  # nothing more within the hour

    sweep_pending_executions(now=clock.advance(minutes=2))  # the hour is over: the failures that waited
    digests = alert_emails(ws)[2:]
    assert sorted(e.to for e in digests) == sorted([owner.email, admin.email])
    assert all(e.subject == "2 failed runs of Sync deals" for e in digests)
    later_runs = executions_of(workflow)[1:]
    assert all(f"/automations/runs/{run.id}" in digests[0].body for run in later_runs)
    assert f"/automations/runs/{first_run.id}" not in digests[0].body

    sweep_pending_executions(now=clock.advance(hours=3))
    assert len(alert_emails(ws)) == 4  # nothing waits: no empty email
    run_once(ws, clock, minutes=1)  # over an hour since the last email: this failure is emailed at once
    assert [e.subject for e in alert_emails(ws)[4:]] == ["1 failed run of Sync deals"] * 2


def test_each_workflow_has_its_own_hour(team, clock):
    ws, owner, admin, member, workflow = team
    other = make_workflow(ws.id, name="Other sync", error_strategy="stop", actions=[FAILING_STEP])
    run_once(ws, clock)  # both fail
    subjects = [e.subject for e in alert_emails(ws)]
    assert sorted(subjects) == sorted(["1 failed run of Sync deals", "1 failed run of Other sync"] * 2)
    assert statuses(other) == ["failed"]


def test_alerts_off_means_no_notification_and_no_email(team, clock):
    ws, owner, admin, member, workflow = team
    set_settings(workflow, alert_on_failure=False)
    run_once(ws, clock)
    run_once(ws, clock, hours=2)
    assert unread(owner, workflow) == [] and alert_emails(ws) == []
    sweep_pending_executions(now=clock.advance(hours=2))
    assert alert_emails(ws) == []


# -- auto-pause ----------------------------------------------------------------------------------------

def test_auto_pause_at_exactly_the_workspace_default_of_five(team, clock):
    ws, owner, admin, member, workflow = team
    assert db.session.get(Workspace, ws.id).auto_pause_after_failures == 5
    for _ in range(4):
        run_once(ws, clock, minutes=1)
    assert reload(workflow).status == "active" and reload(workflow).paused_reason is None

    run_once(ws, clock, minutes=1)
    paused = reload(workflow)
    assert paused.status == "paused"
    assert paused.paused_reason.startswith("Paused automatically after 5 failed runs in a row")
    told = db.session.scalars(select(Notification).where(
        Notification.title == "Sync deals was paused after failing repeatedly")).all()
    assert sorted(n.user_id for n in told) == sorted([owner.id, admin.id])
    assert all(n.link == f"/automations/{workflow.id}" for n in told)

    deal(ws)  # a paused workflow runs on no new events
    sweep_pending_executions(now=clock.advance(minutes=1))
    assert len(executions_of(workflow)) == 5


def test_a_successful_run_resets_the_count(team, clock):
    ws, owner, admin, member, workflow = team

    def steps(actions):  # a run snapshots the definition when its event fires
        db.session.query(Workflow).filter_by(id=workflow.id).update({"actions": actions})
        db.session.commit()

    for _ in range(4):
        run_once(ws, clock, minutes=1)
    steps([GOOD_STEP])
    run_once(ws, clock, minutes=1)
    steps([FAILING_STEP])
    assert statuses(workflow) == ["failed"] * 4 + ["completed"]
    for _ in range(4):
        run_once(ws, clock, minutes=1)
    assert reload(workflow).status == "active"  # 4 in a row since the success, not 8
    run_once(ws, clock, minutes=1)
    assert reload(workflow).status == "paused"


def test_the_workflow_setting_overrides_the_workspace_default(team, clock):
    ws, owner, admin, member, workflow = team
    set_settings(workflow, auto_pause_after_failures=2)
    run_once(ws, clock)
    assert reload(workflow).status == "active"
    run_once(ws, clock, minutes=1)
    assert reload(workflow).status == "paused"
    assert "after 2 failed runs in a row" in reload(workflow).paused_reason


@pytest.mark.parametrize("where", ["workflow", "workspace"])
def test_zero_never_pauses(team, clock, where):
    ws, owner, admin, member, workflow = team
    if where == "workflow":
        set_settings(workflow, auto_pause_after_failures=0)
    else:
        workflow_settings.set_workspace_auto_pause(db.session.get(Workspace, ws.id), "0", owner)
        db.session.commit()
    for _ in range(7):
        run_once(ws, clock, minutes=1)
    assert statuses(workflow) == ["failed"] * 7
    assert reload(workflow).status == "active"


def test_activating_again_starts_the_count_anew(team, clock):
    ws, owner, admin, member, workflow = team
    set_settings(workflow, auto_pause_after_failures=2)
    run_once(ws, clock)
    run_once(ws, clock, minutes=1)
    workflow_service.set_status(reload(workflow), "active", owner)
    db.session.commit()
    assert reload(workflow).paused_reason is None
    run_once(ws, clock, minutes=1)
    assert reload(workflow).status == "active"  # one failure since the activation, not three
    run_once(ws, clock, minutes=1)
    assert reload(workflow).status == "paused"


# -- the workflow_failed trigger -------------------------------------------------------------------------

def test_workflow_failed_fires_with_the_failed_run(team, clock):
    ws, owner, admin, member, workflow = team
    alert_flow = make_workflow(ws.id, trigger="workflow_failed", name="My alert flow", actions=[log_step("saw_it")],
                               conditions=[{"field": "workflow.name", "op": "eq", "value": "Sync deals"}])
    run_once(ws, clock)
    sweep_pending_executions(now=clock.advance(minutes=1))
    [alert_run] = executions_of(alert_flow)
    failed = executions_of(workflow)[0]
    assert alert_run.status == "completed"
    payload = alert_run.trigger_payload
    assert payload["workflow"]["id"] == workflow.id and payload["workflow"]["name"] == "Sync deals"
    assert payload["run"]["id"] == failed.id and payload["run"]["url"] == f"/automations/runs/{failed.id}"
    assert "999999" in payload["run"]["error"] or payload["run"]["error"] == failed.error
    assert payload["consecutive_failures"] == 1 and payload["auto_paused"] is False
    assert alert_run.event_depth == failed.event_depth + 1  # caused by the failed run


def test_workflow_failed_never_fires_for_a_workflow_on_workflow_failed(team, clock):
    ws, owner, admin, member, workflow = team
    broken_alert_flow = make_workflow(ws.id, trigger="workflow_failed", name="Broken alert flow", error_strategy="stop",
                                      actions=[FAILING_STEP])
    run_once(ws, clock)  # Sync deals fails → the alert flow runs once
    for _ in range(3):
        sweep_pending_executions(now=clock.advance(minutes=1))
    assert statuses(broken_alert_flow) == ["failed"]  # its own failure fired nothing: no second run
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(
        WorkflowExecution.workspace_id == ws.id)) == 2
    # Its failure is still alerted like any other.
    assert [n.title for n in unread(owner_of(ws), broken_alert_flow)] == ["Broken alert flow failed"]

"""Test runs (issue #20): through the API, a test run of every action (and a branch) sends no email, calls no
URL, delivers no notification and leaves every business table as it was; each step says what would happen."""
import hashlib
import json
import time

import pytest
from sqlalchemy import func, select, text

from models import EventSample, Notification, OutboxEmail, WorkflowExecution, db
from models.vocabulary import RunMode
from services import webhook_service
from tests import factories
from tests.api.conftest import ApiClient, issue_token
from tests.conftest import Auth, owner_of
from engine.executors import EXECUTORS
from engine.runtime.leases import database_now
from engine.runtime.runner import claimable, run_execution

# The engine's own row of the test run, and the API's token bookkeeping (last used), change by design.
NOT_BUSINESS = {"workflow_executions", "api_tokens", "alembic_version"}


def table_fingerprints() -> dict:
    """Row count and a checksum of every row, per table (engine/API bookkeeping excepted)."""
    prints = {}
    for table in db.metadata.sorted_tables:
        if table.name in NOT_BUSINESS:
            continue
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
        prints[table.name] = (len(rows), digest)
    return prints


@pytest.fixture
def effects_app(make_app, smtp_server, webhook_receiver):
    """SMTP delivery to a local sink, webhooks allowed to the local listener: a real run would reach both."""
    app = make_app(EMAIL_BACKEND="smtp", SMTP_URL=smtp_server.url, WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
                   EMAIL_FROM="robot@example.test", ENGINE_HANDOFF="sweep")  # live runs wait for run_execution
    with app.app_context():
        yield app, smtp_server, webhook_receiver
        db.session.remove()


@pytest.fixture
def scene(effects_app):
    """A workspace with one of each record the actions act on, an API client, and a workflow using all 17
    actions and a branch."""
    app, smtp, receiver = effects_app
    ws = factories.make_workspace()
    owner = owner_of(ws)
    member = factories.make_user(ws, "admin")
    deal = factories.deal(ws, owner, owner_id=owner.id)
    contact = factories.contact(ws, owner)
    project = factories.project(ws, owner)
    factories.sprint(ws, project, owner)
    candidate = factories.application(ws, owner)
    candidate_id = getattr(candidate, "candidate_id", None) or getattr(candidate, "id")
    api = ApiClient(app.test_client(), issue_token(ws, owner), ws, owner)
    actions = [
        {"id": "email", "type": "send_template_email",
         "config": {"to": "{{ trigger.contact.email }}", "subject": "Hello {{ trigger.deal.title }}", "body": "Thanks!"}},
        {"id": "notify", "type": "send_in_app_notification",
         "config": {"recipient": "user", "user_id": str(member.id), "title": "Deal {{ trigger.deal.title }}"}},
        {"id": "hook", "type": "call_webhook", "config": {"url": receiver.url + "/hook"}},
        {"id": "log", "type": "log_event", "config": {"event": "tested", "message": "{{ trigger.deal.title }}"}},
        {"id": "wait", "type": "wait_delay", "config": {"seconds": 3600}},
        {"id": "newdeal", "type": "create_deal", "config": {"title": "Follow-up {{ trigger.deal.title }}", "value": 50}},
        {"id": "upd", "type": "update_deal", "config": {"deal_id": "{{ trigger.deal.id }}", "changes": {"stage": "qualified"}}},
        {"id": "prob", "type": "update_win_probability", "config": {"deal_id": "{{ trigger.deal.id }}", "probability": 80}},
        {"id": "assign", "type": "assign_owner",
         "config": {"record_type": "deal", "record_id": "{{ trigger.deal.id }}", "user_id": str(member.id)}},
        {"id": "stale", "type": "flag_as_stale", "config": {"deal_id": "{{ trigger.deal.id }}"}},
        {"id": "br", "type": "branch",
         "config": {"match": "all", "conditions": [{"field": "deal.value", "op": "gte", "value": 10}]},
         "then": [{"id": "ticket", "type": "create_ticket", "config": {"subject": "Onboard {{ trigger.deal.title }}"}}],
         "else": [{"id": "ticket2", "type": "create_ticket", "config": {"subject": "Small"}}]},
        {"id": "proj", "type": "create_project", "config": {"name": "Project for {{ trigger.deal.title }}"}},
        {"id": "sprint", "type": "close_sprint_cycle", "config": {"project_id": str(project.id)}},
        {"id": "inv", "type": "create_invoice", "config": {"customer_name": "Acme", "amount": 100}},
        {"id": "quote", "type": "create_quotation", "config": {"customer_name": "Acme", "amount": 100}},
        {"id": "ats", "type": "notify_ats", "config": {"title": "New hire", "candidate_id": str(candidate_id)}},
        {"id": "doc", "type": "generate_document", "config": {"title": "Doc", "template": "Deal {{ trigger.deal.title }}"}},
    ]
    definition = {"name": "Everything", "trigger": {"type": "deal_created", "config": {}}, "conditions": [],
                  "actions": actions, "error_strategy": "continue"}
    payload = {"deal": {"id": deal.id, "title": deal.title, "value": 1000, "owner_id": owner.id},
               "contact": {"id": contact.id, "email": contact.email, "name": contact.name}}
    return type("Scene", (), dict(app=app, smtp=smtp, receiver=receiver, ws=ws, api=api, definition=definition,
                                  payload=payload, deal=deal, member=member))


def _outputs(body) -> dict:
    return {record["id"]: record for record in body["completed_actions"]}


def test_a_test_run_of_every_action_changes_sends_and_calls_nothing(scene):
    before = table_fingerprints()
    response = scene.api.post("/workflows/test", json={"definition": scene.definition, "payload": scene.payload})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["mode"] == "test" and body["status"] == "completed", body
    steps = _outputs(body)
    assert {record["status"] for record in steps.values()} <= {"completed", "skipped"}, \
        {key: record["error"] for key, record in steps.items() if record["error"]}
    # What would have happened, with the values
    assert steps["email"]["output"]["would_send"]["to"] == scene.payload["contact"]["email"]
    assert steps["email"]["output"]["would_send"]["subject"] == f"Hello {scene.deal.title}"
    assert steps["email"]["output"]["sent"] is False
    hook = steps["hook"]["output"]["would_call"]
    assert hook["url"] == scene.receiver.url + "/hook" and hook["called"] is False
    assert hook["headers"]["X-Workestra-Signature"].startswith("t=") and hook["body"] == scene.payload
    assert steps["notify"]["output"]["would_notify"]["user_ids"] == [scene.member.id]
    assert steps["wait"]["output"]["would_wait"] == "1 h"
    created = steps["newdeal"]["output"]["would_create"]
    assert any(entry["record"] == "deals" and entry["values"]["title"] == f"Follow-up {scene.deal.title}"
               for entry in created)
    changed = steps["upd"]["output"]["would_change"]
    assert any(entry["record"] == "deals" and entry["changes"]["stage"]["to"] == "qualified" for entry in changed)
    assert steps["ticket"]["status"] == "completed" and steps["ticket2"]["status"] == "skipped"
    assert steps["ats"]["output"]["delivered"] is False
    # ... and none of it happened
    assert table_fingerprints() == before
    assert db.session.scalar(select(db.func.count()).select_from(OutboxEmail)) == 0
    assert db.session.scalar(select(db.func.count()).select_from(Notification)) == 0
    assert scene.smtp.messages == []
    assert scene.receiver.requests == []
    # The test run is kept, as a test
    kept = db.session.get(WorkflowExecution, body["id"])
    assert kept.mode == RunMode.TEST and kept.workflow_id is None


def test_a_live_run_of_the_same_definition_does_have_effects(scene):
    """The control: the same steps, run for real, send, call and write (so the test above can fail)."""
    created = scene.api.post("/workflows", json={**scene.definition, "status": "draft"})
    assert created.status_code == 201, created.get_json()
    before = table_fingerprints()
    run = scene.api.post(f"/workflows/{created.get_json()['id']}/run", json={"payload": scene.payload})
    assert run_execution(run.get_json()["id"]) == "paused"  # at the 1 h wait, after email, notification, webhook
    assert table_fingerprints() != before
    assert db.session.scalar(select(db.func.count()).select_from(OutboxEmail)) == 1
    assert db.session.scalar(select(db.func.count()).select_from(Notification)) == 1
    assert len(scene.receiver.requests) == 1
    assert len(scene.smtp.messages) == 1


def test_really_calling_webhooks_in_a_test_goes_through_the_guard(scene):
    definition = {**scene.definition, "actions": [{"id": "hook", "type": "call_webhook",
                                                   "config": {"url": scene.receiver.url + "/hook"}}]}
    body = scene.api.post("/workflows/test", json={"definition": definition, "payload": scene.payload,
                                                   "call_webhooks": True}).get_json()
    assert body["completed_actions"][0]["output"]["status_code"] == 200
    assert len(scene.receiver.requests) == 1
    scene.app.config["WEBHOOK_ALLOWED_HOSTS"] = ""  # the SSRF guard still applies
    refused = scene.api.post("/workflows/test", json={"definition": definition, "payload": scene.payload,
                                                      "call_webhooks": True})
    assert refused.status_code == 422, refused.get_json()
    assert len(scene.receiver.requests) == 1
    # A private address reached only at run time (a step output) is refused by the guard when called
    definition["actions"] = [{"id": "hook", "type": "call_webhook", "config": {"url": "{{ trigger.hook }}"}}]
    body = scene.api.post("/workflows/test", json={"definition": definition, "call_webhooks": True,
                                                   "payload": {**scene.payload, "hook": scene.receiver.url}}).get_json()
    assert "private address" in body["completed_actions"][0]["error"], body
    assert len(scene.receiver.requests) == 1


def test_testing_a_saved_workflow_and_one_of_its_steps(scene):
    workflow = scene.api.post("/workflows", json=scene.definition).get_json()
    before = table_fingerprints()
    response = scene.api.post(f"/workflows/{workflow['id']}/test", json={"payload": scene.payload, "step": "upd"})
    body = response.get_json()
    assert response.status_code == 200, body
    assert [record["id"] for record in body["completed_actions"]][-1] == "upd"
    assert body["completed_actions"][-1]["input"]["changes"] == {"stage": "qualified"}
    assert body["workflow_id"] == workflow["id"]
    assert table_fingerprints() == before
    missing = scene.api.post(f"/workflows/{workflow['id']}/test", json={"payload": scene.payload, "step": "nope"})
    assert missing.status_code == 422


def test_an_invalid_definition_is_refused_before_anything_runs(scene):
    response = scene.api.post("/workflows/test", json={"definition": {"name": "x", "trigger": {"type": "nope"},
                                                                      "actions": []}})
    assert response.status_code == 422
    assert db.session.scalar(select(db.func.count()).select_from(WorkflowExecution)) == 0


def test_only_the_last_20_test_runs_of_a_workflow_are_kept(scene):
    definition = {**scene.definition, "actions": [{"id": "log", "type": "log_event", "config": {"event": "x"}}]}
    workflow = scene.api.post("/workflows", json=definition).get_json()
    ids = [scene.api.post(f"/workflows/{workflow['id']}/test", json={}).get_json()["id"] for _ in range(22)]
    kept = db.session.scalars(select(WorkflowExecution.id).where(WorkflowExecution.workflow_id == workflow["id"])).all()
    assert sorted(kept) == sorted(ids[-20:])


def test_a_crash_in_the_middle_of_a_test_run_leaves_nothing_behind(scene, monkeypatch):
    """The worker dies after a step created a deal and before the run ends: the test's transaction never
    commits, so nothing stays; a later sweep finishes the test run, as a test, with no effect either."""
    from engine.executors import EXECUTORS

    class Crash(BaseException):
        pass

    def crash(step):
        raise Crash()

    before = table_fingerprints()
    monkeypatch.setitem(EXECUTORS, "generate_document", crash)
    with pytest.raises(Crash):
        scene.api.post("/workflows/test", json={"definition": scene.definition, "payload": scene.payload})
    db.session.rollback()
    assert table_fingerprints() == before
    assert scene.smtp.messages == [] and scene.receiver.requests == []
    [execution] = db.session.scalars(select(WorkflowExecution)).all()
    assert execution.mode == RunMode.TEST and execution.status == "running"
    monkeypatch.undo()
    from engine.runtime.sweep import sweep_pending_executions
    from datetime import timedelta
    from models.base import utcnow
    sweep_pending_executions(now=utcnow() + timedelta(minutes=10))
    db.session.expire_all()
    assert db.session.get(WorkflowExecution, execution.id).status == "completed"
    assert table_fingerprints() == before
    assert scene.smtp.messages == [] and scene.receiver.requests == []


def test_json_errors_in_a_sample_say_line_and_column():
    from services.errors import ValidationFailed
    from services.test_run_service import parse_payload_text
    with pytest.raises(ValidationFailed) as failure:
        parse_payload_text('{\n  "deal": {"title": "x",}\n}')
    assert "line 2, column" in failure.value.errors["payload"][0]


def test_recent_events_are_kept_per_workspace_and_trigger_without_secrets(scene):
    """The last 5 real events of a trigger are kept, trimmed, with secrets removed; each workspace sees its own."""
    ws, other = scene.ws, factories.make_workspace()
    for n in range(7):
        factories.deal(ws, title=f"Acme — {n} seats")
    factories.deal(other, title="Other workspace's deal")
    samples = scene.api.get("/workflows/samples/deal_created").get_json()["data"]
    assert [sample["summary"] for sample in samples] == [f"Deal 'Acme — {n} seats'" for n in (6, 5, 4, 3, 2)]
    assert all("Other workspace" not in json.dumps(sample) for sample in samples)
    other_api = ApiClient(scene.app.test_client(), issue_token(other, owner_of(other)), other, owner_of(other))
    [theirs] = other_api.get("/workflows/samples/deal_created").get_json()["data"]
    assert theirs["summary"] == "Deal 'Other workspace's deal'"
    # "recent" tests with the newest of the workspace's own events
    definition = {**scene.definition, "actions": [{"id": "log", "type": "log_event",
                                                   "config": {"event": "x", "message": "{{ trigger.deal.title }}"}}]}
    body = scene.api.post("/workflows/test", json={"definition": definition, "sample": "recent"}).get_json()
    assert body["trigger_payload"]["deal"]["title"] == "Acme — 6 seats"
    body = other_api.post("/workflows/test", json={"definition": definition, "sample": "recent"}).get_json()
    assert body["trigger_payload"]["deal"]["title"] == "Other workspace's deal"


def test_a_kept_event_has_no_secrets_and_fits_the_size_limit(scene):
    from engine.core.runs import fire_workflow_event
    scene.app.config["EVENT_SAMPLE_MAX_BYTES"] = 2000
    payload = {"deal": {"id": 1, "title": "Big", "notes": "x" * 5000},
               "webhook": {"secret": "whsec_abcdef", "token": "tok_123", "url": "https://example.com"},
               "headers": {"Authorization": "Bearer abc.def", "X-Api-Key": "k"}, "note": "Bearer xyz",
               "rows": list(range(500))}
    fire_workflow_event(scene.ws.id, "webhook_received", payload)
    db.session.commit()
    sample = db.session.scalars(select(EventSample).where(EventSample.trigger_type == "webhook_received")).one()
    text_of = json.dumps(sample.payload)
    for secret in ("whsec_abcdef", "tok_123", "Bearer abc.def", "Bearer xyz"):
        assert secret not in text_of
    assert sample.payload["webhook"]["url"] == "https://example.com"
    assert len(text_of.encode()) <= 2000
    assert sample.workspace_id == scene.ws.id


def test_a_burst_of_events_keeps_one_sample_per_workspace_and_trigger_every_few_seconds(scene, monkeypatch):
    """EVENT_SAMPLE_EVERY_SECONDS: a process keeps at most one recent event per workspace and trigger that often
    (a burst is one sample, and the other events cost their request nothing); other triggers and workspaces keep
    theirs, and once the time has passed the next event is kept again."""
    from engine.core import samples
    from engine.core.runs import fire_workflow_event

    monkeypatch.setattr(samples, "_LAST_KEPT", {})
    clock = [1000.0]
    monkeypatch.setattr(samples.time, "monotonic", lambda: clock[0])
    scene.app.config["EVENT_SAMPLE_EVERY_SECONDS"] = 5
    other = factories.make_workspace("Other Samples Co")

    before = db.session.scalar(select(func.max(EventSample.id))) or 0  # the scene's own events

    def kept(workspace_id, trigger):
        return db.session.scalars(select(EventSample.summary).where(
            EventSample.workspace_id == workspace_id, EventSample.trigger_type == trigger, EventSample.id > before)
            .order_by(EventSample.id)).all()

    for n in range(3):
        fire_workflow_event(scene.ws.id, "deal_created", {"deal": {"id": n, "title": f"Burst {n}"}})
    fire_workflow_event(scene.ws.id, "deal_won", {"deal": {"id": 9, "title": "Won"}})
    fire_workflow_event(other.id, "deal_created", {"deal": {"id": 7, "title": "Elsewhere"}})
    db.session.commit()
    assert kept(scene.ws.id, "deal_created") == ["Deal 'Burst 0'"]
    assert kept(scene.ws.id, "deal_won") == ["Deal 'Won'"] and kept(other.id, "deal_created") == ["Deal 'Elsewhere'"]

    clock[0] += 5
    fire_workflow_event(scene.ws.id, "deal_created", {"deal": {"id": 3, "title": "Later"}})
    db.session.commit()
    assert kept(scene.ws.id, "deal_created") == ["Deal 'Burst 0'", "Deal 'Later'"]


def test_test_runs_are_kept_out_of_the_runs_tab_and_its_counts_unless_asked(scene):
    body = scene.api.post("/workflows/test", json={"definition": {**scene.definition, "actions": [
        {"id": "log", "type": "log_event", "config": {"event": "x"}}]}}).get_json()
    listed = scene.api.get("/executions").get_json()["data"]
    assert body["id"] not in [run["id"] for run in listed]
    web = scene.app.test_client()
    Auth(web).login(owner_of(scene.ws))
    page = web.get("/automations/runs").get_data(as_text=True)
    assert 'data-tab="tests"' in page and f"/runs/{body['id']}\"" not in page
    tests_page = web.get("/automations/runs?mode=test").get_data(as_text=True)
    assert f"/runs/{body['id']}" in tests_page, tests_page[tests_page.find("run-tabs"):][:3000]


def test_a_test_run_cannot_be_replayed_for_real(scene):
    definition = {**scene.definition, "actions": [{"id": "log", "type": "log_event", "config": {"event": "x"}}]}
    body = scene.api.post("/workflows/test", json={"definition": definition}).get_json()
    response = scene.api.post(f"/executions/{body['id']}/replay", json={})
    assert response.status_code == 422
    assert db.session.scalar(select(db.func.count()).select_from(WorkflowExecution)) == 1


def test_a_test_longer_than_the_lease_is_not_taken_over(scene, monkeypatch):
    """A test run's lease is not renewed while it runs (its steps are one transaction): it is made as long as the
    test's time limit plus one lease when the test starts, so a sweep looking after the ordinary lease has
    expired finds nothing to take over, and the test ends as the one run it was."""
    scene.app.config["EXECUTION_LEASE_SECONDS"] = 0.5
    original = EXECUTORS["log_event"]
    seen = {}

    def slow_step(step):
        time.sleep(1.0)  # twice the ordinary lease
        seen["takeable"] = db.session.scalar(select(db.func.count()).select_from(WorkflowExecution).where(
            WorkflowExecution.id == step.execution_id, claimable(database_now())))
        return original(step)

    monkeypatch.setitem(EXECUTORS, "log_event", slow_step)
    definition = {**scene.definition, "actions": [{"id": "log", "type": "log_event", "config": {"event": "x"}},
                                                  {"id": "log2", "type": "log_event", "config": {"event": "y"}}]}
    body = scene.api.post("/workflows/test", json={"definition": definition, "payload": scene.payload}).get_json()
    assert seen["takeable"] == 0
    assert body["status"] == "completed", body
    execution = db.session.get(WorkflowExecution, body["id"])
    assert (execution.claim_count, execution.takeover_count) == (1, 0)


def test_testing_a_step_on_a_path_the_sample_does_not_take_stops_there(scene):
    """"Test this step" on a step of the Else path when the sample takes Then: the test ends at that step, which is
    recorded as not run ("branch not taken"); the steps after it do not run."""
    body = scene.api.post("/workflows/test", json={"definition": scene.definition, "payload": scene.payload,
                                                   "step": "ticket2"})
    assert body.status_code == 200, body.get_json()
    records = body.get_json()["completed_actions"]
    assert [record["id"] for record in records][-3:] == ["br", "ticket", "ticket2"]
    assert records[-1]["status"] == "skipped" and records[-1]["output"] == {"reason": "branch not taken"}
    assert body.get_json()["status"] == "completed"

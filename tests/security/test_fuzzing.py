"""Fuzzing: hypothesis throws malformed workflow definitions (editor form and API), malformed action
configs and webhook bodies at the app: never a 5xx, and a rejected request writes no row.

Sizes: RELIABILITY_SCALE=ci (default) 1,000 examples per target, full 10,000.
"""
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.core.catalog import ACTIONS, TRIGGERS
from engine.runtime.runner import run_execution
from engine.core.schemas import validate_definition
from models import AuditEvent, Workflow, WorkflowExecution, db
from models.triggers import WebhookDelivery
from services import incoming_webhook_service
from tests.api.conftest import ApiClient, issue_token
from tests.conftest import Auth, owner_of
from tests.factories import make_workflow
from tests.reliability.scale import size
from tests.security.conftest import table_counts

EXAMPLES = size("fuzz_examples")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
nasty_text = st.one_of(text, st.sampled_from(["", " ", "\x00", "a\x00b", "{{ trigger.deal.title }}", "{{", "}}",
                                              "%s%s", "' OR 1=1 --", "😀" * 50, "x" * 5000, "-1", "1e309",
                                              "9" * 40, "NaN", "null", "[]", "{}"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), nasty_text)
junk = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(nasty_text, inner, max_size=4)), max_leaves=12)
trigger_keys = st.one_of(st.sampled_from(sorted(TRIGGERS)), nasty_text)
action_keys = st.one_of(st.sampled_from(sorted(ACTIONS)), nasty_text)
field_names = st.sampled_from(sorted({f.name for a in ACTIONS.values() for f in a.fields}))


def action_config():
    return st.dictionaries(st.one_of(field_names, nasty_text), junk, max_size=5)


actions = st.lists(st.one_of(
    st.fixed_dictionaries({"type": action_keys, "config": st.one_of(action_config(), junk)},
                          optional={"delay_seconds": junk}),
    junk), max_size=4)
definitions = st.fixed_dictionaries({}, optional={
    "name": st.one_of(nasty_text, junk), "description": st.one_of(nasty_text, junk),
    "trigger": st.one_of(st.fixed_dictionaries({"type": trigger_keys}, optional={"config": junk}), junk),
    "conditions": st.one_of(st.lists(st.fixed_dictionaries({}, optional={"field": junk, "op": junk, "value": junk}),
                                     max_size=3), junk),
    "actions": st.one_of(actions, junk),
    "error_strategy": st.one_of(st.sampled_from(["continue", "retry", "stop"]), junk),
    "status": st.one_of(st.sampled_from(["draft", "active", "paused", "archived"]), junk),
})
# Well-formed definitions except for one malformed action config: the shape most likely to slip through.
VALID_BASE = {"name": "Fuzz", "trigger": {"type": "deal_created", "config": {}}, "conditions": [],
              "error_strategy": "continue", "status": "draft"}
bad_configs = st.builds(lambda t, c: {**VALID_BASE, "actions": [{"type": t, "config": c}]},
                        st.sampled_from(sorted(ACTIONS)), action_config())

WATCHED = (Workflow, WorkflowExecution, AuditEvent)


def _watched_counts():
    return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in WATCHED)


class Tally:
    def __init__(self):
        self.statuses = {}

    def add(self, status):
        self.statuses[status] = self.statuses.get(status, 0) + 1


def _check(response, before, body_for_oracle=None, tally=None):
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    db.session.commit()
    after = _watched_counts()
    if response.status_code >= 400:
        assert after == before, f"a rejected request ({response.status_code}) wrote rows"
    elif body_for_oracle is not None:  # accepted: it must be a valid definition, and exactly one workflow
        assert validate_definition(body_for_oracle)[1] == {}
        assert after[0] == before[0] + 1
    if tally is not None:
        tally.add(response.status_code)


@pytest.fixture
def api_client(app, client, workspace):
    ws = workspace("Fuzz Co")
    return ApiClient(client, issue_token(ws, owner_of(ws)), ws, owner_of(ws))


def test_fuzz_api_workflow_definitions(app, api_client):
    tally, start = Tally(), table_counts()

    @FUZZ
    @given(body=st.one_of(definitions, junk))
    def probe(body):
        before = _watched_counts()
        response = api_client.client.open("/api/v1/workflows", method="POST", data=json.dumps(body, allow_nan=True),
                                          headers=api_client.headers({"Content-Type": "application/json"}), csrf=False)
        _check(response, before, body, tally)

    probe()
    print("API definitions:", tally.statuses)
    assert sum(tally.statuses.values()) >= EXAMPLES * 0.9
    _only_workflows_added(start, tally)


def test_fuzz_api_action_configs(app, api_client):
    tally, start = Tally(), table_counts()

    @FUZZ
    @given(body=bad_configs)
    def probe(body):
        before = _watched_counts()
        response = api_client.post("/workflows", json=body)
        _check(response, before, body, tally)

    probe()
    print("API action configs:", tally.statuses)
    _only_workflows_added(start, tally)


form_keys = st.one_of(
    st.sampled_from(["name", "description", "trigger_type", "error_strategy", "intent", "action_order",
                     "trigger_config-cron", "trigger_config-timezone", "workspace_id", "status"]),
    st.builds(lambda i, f: f"actions-{i}-{f}", st.integers(-1, 12),
              st.one_of(st.sampled_from(["type", "delay_seconds"]), field_names.map(lambda n: f"config-{n}"))),
    st.builds(lambda i, f: f"conditions-{i}-{f}", st.integers(-1, 5), st.sampled_from(["field", "op", "value"])),
    text,
)
form_values = st.one_of(nasty_text, st.sampled_from(sorted(ACTIONS)), st.sampled_from(sorted(TRIGGERS)),
                        st.integers(-10, 10**12).map(str))


def test_fuzz_the_editor_form(app, client, workspace):
    ws = workspace("Form Fuzz")
    Auth(client).login(owner_of(ws))
    token = client.csrf_token()
    tally, start = Tally(), table_counts()

    @FUZZ
    @given(form=st.dictionaries(form_keys, st.one_of(form_values, st.lists(form_values, max_size=3)), max_size=14))
    def probe(form):
        before = _watched_counts()
        response = client.open("/automations/new", method="POST", data=form, headers={"X-CSRFToken": token}, csrf=False)
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        db.session.commit()
        if response.status_code >= 400:
            assert _watched_counts() == before
        else:
            assert response.status_code == 302 and _watched_counts()[0] == before[0] + 1
        tally.add(response.status_code)

    probe()
    print("editor form:", tally.statuses)
    _only_workflows_added(start, tally)


def test_fuzz_webhook_bodies(make_app, workspace):
    app = make_app(WEBHOOK_RATE_LIMIT_PER_MINUTE=0, ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = workspace("Hook Fuzz")
        workflow = make_workflow(ws.id, trigger="webhook_received")
        endpoint = incoming_webhook_service.sync_endpoint(workflow)
        db.session.commit()
        client = app.test_client()
        tally = Tally()
        secret, token = endpoint.secret, endpoint.token

        @FUZZ
        @given(body=st.one_of(st.binary(max_size=300), junk.map(lambda j: json.dumps(j, allow_nan=True).encode()),
                              st.just(b"\xff\xfe"), st.just(b'{"a": 1e999}'), st.just(b"[" * 2000)),
               signed=st.sampled_from(["good", "none", "garbage", "stale"]),
               delivery=st.one_of(st.none(), nasty_text))
        def probe(body, signed, delivery):
            now = int(time.time())
            headers = {"Content-Type": "application/json"}
            if signed == "good":
                headers["X-Workestra-Signature"] = incoming_webhook_service.sign(secret, body, now)
            elif signed == "garbage":
                headers["X-Workestra-Signature"] = "t=abc,v1=" + body[:20].hex()
            elif signed == "stale":
                headers["X-Workestra-Signature"] = incoming_webhook_service.sign(secret, body, now - 400)
            if delivery is not None and all(0x20 <= ord(c) < 0x7f for c in delivery):
                headers["X-Workestra-Webhook-Id"] = delivery
            before = db.session.scalar(select(func.count()).select_from(WorkflowExecution))
            response = client.open(f"/hooks/{token}", method="POST", data=body, headers=headers, csrf=False)
            assert response.status_code < 500, response.get_data(as_text=True)[:500]
            db.session.commit()
            after = db.session.scalar(select(func.count()).select_from(WorkflowExecution))
            if response.status_code != 202:
                assert after == before, f"{response.status_code} created an execution"
            else:
                assert after == before + 1 and signed == "good"
            tally.add(response.status_code)

        probe()
        print("webhook bodies:", tally.statuses)
        assert set(tally.statuses) <= {200, 202, 400, 401, 413, 422}
        # Only the delivery log records signed rejections; unverified ones (401, 413) are only counted (issue #18).
        rejected = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status_code >= 400))
        assert rejected == sum(n for status, n in tally.statuses.items() if status >= 400 and status not in (401, 413))
        db.session.refresh(endpoint)
        assert endpoint.unverified_count == tally.statuses.get(401, 0) + tally.statuses.get(413, 0)
        db.session.remove()


def test_fuzz_the_runner_with_definitions_that_skipped_validation(make_app, workspace):
    """A snapshot whose steps never went through the schema (an old row, a hand edit) fails its steps, never
    the worker. Each step is an object with a whole-number delay (the shape every stored definition has; a
    non-object step or a non-numeric delay_seconds makes run_execution raise: see tests/RELIABILITY.md);
    JSON columns cannot hold NaN."""
    storable_text = nasty_text.filter(lambda t: "\x00" not in t)  # PostgreSQL's JSONB cannot hold \u0000
    finite_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                               st.floats(allow_nan=False, allow_infinity=False), storable_text)
    finite_junk = st.recursive(finite_scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(storable_text, inner, max_size=4)), max_leaves=12)
    finite_config = st.dictionaries(st.one_of(field_names, storable_text), finite_junk, max_size=5)
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        ws = workspace("Runner Fuzz")

        step_types = st.one_of(st.sampled_from(sorted(ACTIONS)), storable_text)

        @settings(max_examples=max(50, EXAMPLES // 10), deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
        @given(steps=st.lists(st.fixed_dictionaries({"type": step_types, "config": st.one_of(finite_config, finite_junk)},
                                                    optional={"delay_seconds": st.integers(0, 5)}), min_size=1, max_size=3),
               strategy=st.one_of(st.sampled_from(["continue", "retry", "stop"]), finite_junk))
        def probe(steps, strategy):
            execution = WorkflowExecution(workspace_id=ws.id, workflow_name="fuzz", trigger_type="deal_created",
                                          source="event", definition={"actions": steps, "error_strategy": strategy},
                                          trigger_payload={"deal": {"title": "x"}}, status="pending", completed_actions=[])
            db.session.add(execution)
            db.session.commit()
            status = run_execution(execution.id)
            assert status in ("completed", "failed", "paused", "pending"), status

        probe()
        db.session.remove()


def _only_workflows_added(start, tally):
    end = table_counts()
    accepted = sum(n for status, n in tally.statuses.items() if status < 400)
    changed = {name: end[name] - start[name] for name in end if end[name] != start[name]}
    assert changed.get("workflows", 0) == accepted
    assert changed.get("workflow_versions", 0) == accepted  # each new workflow has its version 1 (issue #21)
    assert set(changed) <= {"workflows", "workflow_versions", "audit_events", "webhook_endpoints",
                            "workflow_schedules"}, changed

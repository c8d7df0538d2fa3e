"""Field mapping: template-injection payloads in action configs (written by a workflow author) and in
trigger payloads (written by whoever creates a deal or sends a webhook) are inert text end to end."""
import pytest
from sqlalchemy import select

from engine.core.catalog import sample_payload
from engine.core.runs import fire_workflow_event
from engine.runtime.runner import run_execution
from models import AuditEvent, OutboxEmail, db
from tests.factories import make_workflow, make_workspace
from tests.support.engine import load_execution

LITERAL = [  # not a trigger/steps path: stays exactly as written
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in range(3) %}x{% endfor %}",
    "{% import os %}{{ os.popen('id').read() }}",
    "{{ 7*7 }}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "{{ request.application.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
]
EMPTY = [  # a path into the trigger that does not exist: a missing field, rendered as ""
    "{{ trigger.__class__.__mro__ }}",
    "{{ trigger.__init__.__globals__ }}",
    "{{ trigger.deal.__dict__ }}",
]
OTHER_NAMES = ["{{ config }}", "{{ self }}", "{{ config.SECRET_KEY }}", "{{ self._TemplateReference__context }}"]
LEAK_MARKERS = ["49", "<class", "Config", "test-secret-key", "uid=", "object", "__globals__':", "os.popen("]


@pytest.fixture
def sweep_app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


def _run(ws, message, payload=None):
    make_workflow(ws.id, trigger="contact_created", actions=[
        {"type": "log_event", "config": {"event": "probe", "message": message}},
        {"type": "send_template_email", "config": {"to": "probe@example.test", "subject": message, "body": message}},
    ], name=f"Probe {hash(message)}")
    [execution_id] = fire_workflow_event(ws.id, "contact_created", payload or sample_payload("contact_created"))
    db.session.commit()
    assert run_execution(execution_id) == "completed"
    execution = load_execution(execution_id)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.execution_id == execution_id, AuditEvent.event == "probe"))
    email = db.session.scalar(select(OutboxEmail).where(OutboxEmail.workspace_id == ws.id).order_by(OutboxEmail.id.desc()))
    return execution, audit, email


@pytest.mark.parametrize("payload", LITERAL + OTHER_NAMES)
def test_payloads_that_are_not_paths_stay_literal(sweep_app, payload):
    execution, audit, email = _run(make_workspace("Inject Co"), f"before {payload} after")
    assert audit.message == f"before {payload} after"
    assert email.subject == f"before {payload} after" and f"before {payload} after" in email.body
    assert execution.completed_actions[0]["input"]["message"] == f"before {payload} after"


@pytest.mark.parametrize("payload", EMPTY)
def test_dunder_paths_into_the_trigger_are_missing_fields_never_attributes(sweep_app, payload):
    execution, audit, _email = _run(make_workspace("Inject Co"), f"[{payload}]")
    assert audit.message == "[]"
    assert payload in execution.completed_actions[0].get("missing_fields", [])


def test_injection_text_inside_trigger_data_is_substituted_once_and_never_evaluated(sweep_app):
    payload = sample_payload("contact_created")
    nasty = "{{ config }} {% raw %} {{ trigger.contact.email }} {{ steps.0.output.audit_event_id }} {{ 7*7 }}"
    payload["contact"]["name"] = nasty
    execution, audit, email = _run(make_workspace("Inject Co"), "Hello {{ trigger.contact.name }}!", payload)
    assert audit.message == f"Hello {nasty}!"
    assert email.subject == f"Hello {nasty}!"


def test_no_probe_output_leaks_anything(sweep_app):
    for n, payload in enumerate(LITERAL + OTHER_NAMES + EMPTY):
        _execution, audit, _email = _run(make_workspace("Inject Co"), payload)
        rendered = audit.message.replace(payload, "")
        for marker in LEAK_MARKERS:
            assert marker not in rendered, (payload, audit.message)

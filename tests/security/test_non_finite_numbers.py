"""Regression tests for what the fuzzer found: JSON that Python reads but a JSON column cannot store
(NaN, Infinity, 1e999 read as inf; \u0000 on PostgreSQL) and absurd nesting were 500s on the API and on
/hooks/<token>. Since issue #18 they are a 422 naming the field (webapp.input_hygiene, services.input_hygiene)."""
import time

import pytest
from sqlalchemy import func, select

from models import Workflow, WorkflowExecution, db
from services import incoming_webhook_service
from tests.api.conftest import ApiClient, issue_token
from tests.conftest import owner_of
from tests.factories import make_workflow
from tests.http.test_workflows import editor_form
from tests.security.conftest import table_counts

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]


@pytest.fixture
def api(client, workspace):
    def factory():
        ws = workspace("Api Co")
        return ApiClient(client, issue_token(ws, owner_of(ws)), ws, owner_of(ws))

    return factory


@pytest.mark.parametrize("value", NON_FINITE)
def test_the_api_refuses_non_finite_numbers_with_422_naming_the_field(api, value):
    client = api()
    before = table_counts()
    body = ('{"name":"x","trigger":{"type":"deal_created","config":{}},"conditions":[{"field":"deal.value",'
            '"op":"gte","value":%s}],"actions":[{"type":"log_event","config":{"event":"e"}}]}' % value)
    response = client.request("POST", "/workflows", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert list(response.get_json()["errors"]) == ["conditions.0.value"]
    response = client.request("POST", "/deals", data='{"title": "x", "value": %s}' % value,
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["value"]
    assert table_counts() == before


def test_the_api_refuses_absurd_nesting_with_422(api):
    client = api()
    response = client.request("POST", "/workflows", data="[" * 5000, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e999}', b"[" * 5000, b'{"a":' * 3000])
def test_webhooks_refuse_non_finite_numbers_and_absurd_nesting_with_422(app, client, workspace, body):
    ws = workspace("Hook Co")
    endpoint = incoming_webhook_service.sync_endpoint(make_workflow(ws.id, trigger="webhook_received"))
    db.session.commit()
    headers = {"X-Workestra-Signature": incoming_webhook_service.sign(endpoint.secret, body, int(time.time())),
               "Content-Type": "application/json"}
    response = client.post(f"/hooks/{endpoint.token}", data=body, headers=headers, csrf=False)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 0


@pytest.mark.parametrize("body", [b'{"a": "x\\u0000y"}', b'{"\\u0000": 1}', b'{"a": [[{"b": "\\u0000"}]]}',
                                  b'{"a":' * 900 + b'"\\u0000"' + b"}" * 900])
def test_webhooks_refuse_nul_characters_with_422(app, client, workspace, body):
    ws = workspace("Hook Co")
    endpoint = incoming_webhook_service.sync_endpoint(make_workflow(ws.id, trigger="webhook_received"))
    db.session.commit()
    headers = {"X-Workestra-Signature": incoming_webhook_service.sign(endpoint.secret, body, int(time.time())),
               "Content-Type": "application/json"}
    response = client.post(f"/hooks/{endpoint.token}", data=body, headers=headers, csrf=False)
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 0


@pytest.mark.parametrize("value", NON_FINITE)
def test_the_editor_form_never_500s_on_non_finite_numbers(logged_in, value):
    client, _ws, _user = logged_in()
    form = editor_form(**{"conditions-0-field": "deal.value", "conditions-0-op": "gte", "conditions-0-value": value,
                          "actions-1-config-seconds": value, "actions-1-delay_seconds": value})
    response = client.post("/automations/new", data=form)
    assert response.status_code in (302, 422)
    form = editor_form(**{"conditions-0-field": "deal.value", "conditions-0-op": "gte", "conditions-0-value": value})
    response = client.post("/automations/new", data=form)
    assert response.status_code in (302, 422)
    if response.status_code == 302:
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Workflow)) == 1

"""Regression tests for what the editor-form fuzzer found: `str.isdigit()` accepts "²" (and other digit
characters int() refuses) and numbers of any length (int() refuses more than 4,300 digits), so a check
`x.isdigit()` followed by `int(x)` was a 500. Every id, page, cursor or index read from a request must
answer 4xx or fall back, never 500."""
import time

import pytest

from services import incoming_webhook_service
from tests.api.conftest import ApiClient, issue_token
from tests.conftest import owner_of
from tests.factories import make_workflow
from tests.http.test_workflows import editor_form

ODD_NUMBERS = ["²", "¹²", "٣", "𝟗", "9" * 5000, "0" * 4400 + "1"]


@pytest.mark.parametrize("value", ODD_NUMBERS, ids=["superscript", "superscripts", "arabic-indic", "math-digit",
                                                      "5000-digits", "4401-digits"])
def test_odd_numbers_in_queries_and_forms_are_never_a_500(app, client, workspace, value):
    ws = workspace("Numbers Co")
    owner = owner_of(ws)
    client.post("/login", data={"email": owner.email, "password": "test-pass-2718"})
    api = ApiClient(client, issue_token(ws, owner), ws, owner)
    problems = []
    for url in (f"/automations?page={value}", f"/automations/runs?period={value}", f"/automations/runs?workflow={value}",
                f"/automations/runs?cursor={value}", f"/notifications?before={value}", f"/settings/audit-log?before={value}",
                f"/settings/outbox?before={value}"):
        response = client.get(url)
        if response.status_code >= 500:
            problems.append(f"GET {url[:60]}: {response.status_code}")
    for path, form in (("/automations/editor/render", {"workflow_id": value, "selected": value, "edit": "move_up", "arg": value}),
                       ("/automations/editor/render", {"edit": "remove_action", "arg": value}),
                       ("/workspaces/switch", {"workspace_id": value}),
                       (f"/automations/templates/{value}/use", {})):
        response = client.post(path, data=form)
        if response.status_code >= 500:
            problems.append(f"POST {path[:60]}: {response.status_code}")
    for overrides in ({"actions-0-delay_seconds": value}, {"action_order": [value, "0", "1"]}):
        response = client.post("/automations/new", data=editor_form(**overrides))
        if response.status_code >= 500:
            problems.append(f"POST /automations/new {list(overrides)}: {response.status_code}")
    for path in (f"/executions?cursor={value}", f"/executions?cursor=c_{value}"):
        response = api.get(path)
        if response.status_code >= 500:
            problems.append(f"GET /api/v1{path[:60]}: {response.status_code}")
    response = api.post(f"/templates/{value}/use", json={})
    if response.status_code >= 500:
        problems.append(f"POST /api/v1/templates/.../use: {response.status_code}")
    assert not problems, problems


@pytest.mark.parametrize("value", ODD_NUMBERS)
def test_an_odd_signature_timestamp_is_401_not_500(app, client, workspace, value):
    ws = workspace("Hook Co")
    endpoint = incoming_webhook_service.sync_endpoint(make_workflow(ws.id, trigger="webhook_received"))
    body = b'{"a": 1}'
    digest = incoming_webhook_service.sign(endpoint.secret, body, int(time.time())).split("v1=")[1]
    response = client.post(f"/hooks/{endpoint.token}", data=body, csrf=False,
                           headers={"X-Workestra-Signature": f"t={value},v1={digest}", "Content-Type": "application/json"})
    assert response.status_code == 401

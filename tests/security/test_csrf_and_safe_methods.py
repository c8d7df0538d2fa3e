"""CSRF on every state-changing route, and no state change on any GET.

Both tests walk app.url_map, so a new route is covered the day it is added. The documented
exemptions: /api/v1/* (a Bearer token is required, a session cookie never counts), the cron route
(Bearer CRON_SECRET) and /hooks/<token> (the URL's token plus the workflow's signature).
"""
import pytest
from flask import url_for
from sqlalchemy import select

from models import db
from models.triggers import AutomationRule
from services import workspace_service
from tests.conftest import Auth
from tests.security.conftest import db_checksum, populate

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_EXEMPT = {
    "cron.workflow_runner": "Bearer CRON_SECRET, no cookie",
    "hooks.receive": "token in the URL + HMAC signature of the body",
}


def _is_exempt(endpoint: str) -> bool:
    return endpoint.startswith("api_v1.") or endpoint in CSRF_EXEMPT


def _argument_values(tenant, app) -> dict:
    ids = dict(tenant.ids)
    ids["rule_id"] = db.session.scalar(select(AutomationRule.id).order_by(AutomationRule.id))
    invitation = workspace_service.invite_member(tenant.workspace, "invitee@example.test", "member", tenant.owner)
    db.session.commit()
    ids["token"] = invitation.token
    ids["filename"] = "favicon.svg"
    ids["transition"] = "send"
    ids["number"] = 1  # a workflow version (issue #21)
    ids["trigger_type"] = "deal_created"  # recent events of a trigger (issue #20)
    return ids


def _url_for_rule(app, rule, ids) -> str:
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: ids[name] for name in rule.arguments})


def _rules(app, methods):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) & methods):
            yield rule, method


def test_every_state_changing_route_without_a_csrf_token_is_400_and_writes_nothing(app, client, workspace):
    tenant = populate(workspace("Csrf Co"))
    ids = _argument_values(tenant, app)
    Auth(client).login(tenant.owner)
    checked, problems = 0, []
    for rule, method in _rules(app, STATE_CHANGING):
        if _is_exempt(rule.endpoint):
            continue
        url = _url_for_rule(app, rule, ids)
        for headers in ({}, {"HX-Request": "true"}):  # a plain form post and an htmx request
            before = db_checksum()
            response = client.open(url, method=method, data={"name": "x", "status": "paused"}, headers=headers, csrf=False)
            checked += 1
            if response.status_code != 400 or "CSRF" not in response.get_data(as_text=True):
                problems.append(f"{method} {url} {headers}: {response.status_code}")
            if db_checksum() != before:
                problems.append(f"{method} {url} {headers}: the database changed")
    assert checked > 40
    assert not problems, problems


def test_a_wrong_csrf_token_is_refused_too(app, client, workspace):
    tenant = populate(workspace("Csrf Co"))
    Auth(client).login(tenant.owner)
    before = db_checksum()
    response = client.post(f"/automations/{tenant.ids['workflow_id']}/delete", headers={"X-CSRFToken": "forged"}, csrf=False)
    assert response.status_code == 400
    response = client.post(f"/automations/{tenant.ids['workflow_id']}/delete", data={"csrf_token": "forged"}, csrf=False)
    assert response.status_code == 400
    assert db_checksum() == before


def test_the_exempt_api_never_accepts_a_session_cookie_in_place_of_its_token(app, client, workspace):
    tenant = populate(workspace("Csrf Co"))
    ids = _argument_values(tenant, app)
    Auth(client).login(tenant.owner)
    problems = []
    for rule, method in _rules(app, STATE_CHANGING):
        if not rule.endpoint.startswith("api_v1."):
            continue
        before = db_checksum()
        response = client.open(_url_for_rule(app, rule, ids), method=method, json={}, csrf=False)
        if response.status_code != 401:
            problems.append(f"{method} {rule.rule}: {response.status_code}")
        if db_checksum() != before:
            problems.append(f"{method} {rule.rule}: the database changed")
    assert not problems, problems


@pytest.mark.parametrize("endpoint", sorted(CSRF_EXEMPT))
def test_the_other_exemptions_refuse_a_request_without_their_secret(app, client, workspace, endpoint):
    tenant = populate(workspace("Csrf Co"))
    ids = _argument_values(tenant, app)
    ids["token"] = "not-a-real-token"
    Auth(client).login(tenant.owner)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    before = db_checksum()
    response = client.post(_url_for_rule(app, rule, ids), json={}, csrf=False)
    assert response.status_code in (401, 404)
    if endpoint == "cron.workflow_runner":
        assert db_checksum() == before


def test_no_get_route_changes_the_database(app, client, workspace):
    tenant = populate(workspace("Get Co"))
    ids = _argument_values(tenant, app)
    Auth(client).login(tenant.owner)
    problems, checked = [], 0
    for rule, method in _rules(app, {"GET"}):
        url = _url_for_rule(app, rule, ids)
        before = db_checksum()
        response = client.get(url, headers={"Authorization": "Bearer x"} if rule.endpoint.startswith("api_v1.") else {})
        checked += 1
        if response.status_code >= 500:
            problems.append(f"GET {url}: {response.status_code}")
        if db_checksum() != before:
            problems.append(f"GET {url}: the database changed")
    assert checked > 40
    assert not problems, problems


def test_no_api_get_route_changes_the_database_with_a_valid_token(app, client, workspace):
    from tests.api.conftest import issue_token

    tenant = populate(workspace("Get Co"))
    ids = _argument_values(tenant, app)
    secret = issue_token(tenant.workspace, tenant.owner)
    problems = []
    for rule, method in _rules(app, {"GET"}):
        if not rule.endpoint.startswith("api_v1."):
            continue
        url = _url_for_rule(app, rule, ids)
        before = db_checksum()  # api_tokens.last_used_at is left out of the checksum: using a token stamps it
        response = client.get(url, headers={"Authorization": f"Bearer {secret}"})
        if response.status_code >= 400:
            problems.append(f"GET {url}: {response.status_code}")
        if db_checksum() != before:
            problems.append(f"GET {url}: the database changed")
    assert not problems, problems

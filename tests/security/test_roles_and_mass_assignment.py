"""Roles: members cannot delete workflows, publish templates, replay or cancel runs, toggle Quick Rules,
manage API tokens or refund invoices (403, nothing written); admins and owners can.
Mass assignment: posted workspace_id, role, created_by(_id) fields are ignored or refused, never applied."""
import json

import pytest
from flask import url_for
from sqlalchemy import select

from models import ApiToken, Membership, Workflow, db
from models.triggers import AutomationRule
from tests.api.conftest import ApiClient, issue_token
from tests.conftest import Auth, owner_of
from tests.http.test_workflows import editor_form
from tests.api.test_workflows_api import DEFINITION
from tests.security.conftest import db_checksum, populate

# (endpoint, method, URL args -> Tenant.ids key, form or JSON data)
PRIVILEGED_BROWSER = [
    ("automations.delete", "POST", {"workflow_id": "workflow_id"}, None),
    ("automations.publish", "POST", {"workflow_id": "workflow_id"}, {"name": "Mine", "category": "Sales"}),
    ("automations.delete_template", "POST", {"template_id": "template_id"}, None),
    ("runs.replay", "POST", {"execution_id": "execution_id"}, {"mode": "start"}),
    ("runs.cancel", "POST", {"execution_id": "paused_execution_id"}, None),
    ("runs.bulk_replay", "POST", {}, {"mode": "start"}),
    ("quick_rules.toggle", "POST", {"rule_id": "rule_id"}, {"enabled": "on"}),
    ("api_tokens.create", "POST", {}, {"name": "mine", "user_id": "@owner_id"}),
    ("api_tokens.revoke", "POST", {"token_id": "token_id"}, None),
    ("finance.refund", "POST", {"invoice_id": "invoice_id"}, {"amount": "10", "reason": "sorry"}),
    ("workflow_versions.restore", "POST", {"workflow_id": "workflow_id", "number": "version_one"}, None),
    ("workflow_versions.import_file", "POST", {}, {"json": json.dumps({"workestra": "workflow", "format": 2, "workflow": {k: v for k, v in DEFINITION.items()}})}),
]
PRIVILEGED_API = [
    ("api_v1.workflows_delete_workflow", "DELETE", {"workflow_id": "workflow_id"}, None),
    ("api_v1.executions_replay_execution", "POST", {"execution_id": "execution_id"}, {"from": "start"}),
    ("api_v1.executions_cancel_execution", "POST", {"execution_id": "paused_execution_id"}, None),
    ("api_v1.business_refund_invoice", "POST", {"invoice_id": "invoice_id"}, {"amount": "10"}),
    ("api_v1.workflows_restore_version", "POST", {"workflow_id": "workflow_id", "number": "version_one"}, None),
    ("api_v1.workflows_import_workflow", "POST", {}, {"workestra": "workflow", "format": 2, "workflow": DEFINITION}),
]


def _tenant(app, workspace):
    tenant = populate(workspace("Roles Co"))
    tenant.ids["rule_id"] = db.session.scalar(select(AutomationRule.id).order_by(AutomationRule.id))
    tenant.ids["owner_id"] = tenant.owner.id
    tenant.ids["version_one"] = 1
    return tenant


def _request(app, client, api, endpoint, method, args, data, ids):
    with app.test_request_context():
        url = url_for(endpoint, **{name: ids[key] for name, key in args.items()})
    data = {k: ids[v[1:]] if isinstance(v, str) and v.startswith("@") else v for k, v in (data or {}).items()} or None
    if endpoint.startswith("api_v1."):
        return client.open(url, method=method, json=data, headers=api.headers(), csrf=False)
    return client.open(url, method=method, data=data)


@pytest.mark.parametrize("endpoint, method, args, data", PRIVILEGED_BROWSER + PRIVILEGED_API,
                         ids=[row[0] for row in PRIVILEGED_BROWSER + PRIVILEGED_API])
def test_members_are_refused_with_403_and_nothing_changes_admins_and_owners_may(app, client, workspace, user,
                                                                                endpoint, method, args, data):
    tenant = _tenant(app, workspace)
    member = user(tenant.workspace, "member")
    Auth(client).login(member)
    api = ApiClient(client, issue_token(tenant.workspace, member), tenant.workspace, member)
    before = db_checksum()
    response = _request(app, client, api, endpoint, method, args, data, tenant.ids)
    assert response.status_code == 403, (endpoint, response.status_code, response.get_data(as_text=True)[:300])
    assert db_checksum() == before, f"a member's {endpoint} changed the database"

    for role in ("admin", "owner"):
        allowed = owner_of(tenant.workspace) if role == "owner" else user(tenant.workspace, "admin")
        Auth(client).logout()
        Auth(client).login(allowed)
        api = ApiClient(client, issue_token(tenant.workspace, allowed), tenant.workspace, allowed)
        if role == "owner":  # the admin already did it: give the owner fresh records
            fresh = populate(tenant.workspace)
            tenant.ids.update(fresh.ids)
        response = _request(app, client, api, endpoint, method, args, data, tenant.ids)
        assert response.status_code < 400, (role, endpoint, response.status_code, response.get_data(as_text=True)[:300])


# --- Mass assignment --------------------------------------------------------------------------------

FORGED = {"workspace_id": None, "role": "owner", "created_by": None, "created_by_id": None}


def _forged(other_ws, other_user):
    return dict(FORGED, workspace_id=str(other_ws.id), created_by=str(other_user.id), created_by_id=str(other_user.id))


def test_the_editor_form_ignores_forged_workspace_role_and_creator_fields(logged_in, workspace):
    client, ws, member = logged_in("member")
    victim = workspace("Victim")
    response = client.post("/automations/new", data=editor_form(**_forged(victim, owner_of(victim))))
    assert response.status_code == 302
    workflow = db.session.scalar(select(Workflow))
    assert (workflow.workspace_id, workflow.created_by_id) == (ws.id, member.id)
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == member.id)) == "member"
    response = client.post(f"/automations/{workflow.id}", data=editor_form(**_forged(victim, owner_of(victim))))
    assert response.status_code < 400
    db.session.expire_all()
    assert (workflow.workspace_id, workflow.created_by_id) == (ws.id, member.id)


@pytest.mark.parametrize("path, form", [
    ("/crm/deals/new", {"title": "Forged deal", "value": "10", "currency": "USD"}),
    ("/crm/contacts/new", {"name": "Forged contact", "email": "f@example.test"}),
    ("/support/tickets/new", {"subject": "Forged ticket", "requester_email": "f@example.test"}),
    ("/projects/new", {"name": "Forged project"}),
    ("/finance/invoices/new", {"customer_name": "Forged", "amount": "10"}),
    ("/recruiting/new", {"name": "Forged candidate", "email": "c@example.test", "position": "Eng"}),
])
def test_business_forms_ignore_forged_fields(logged_in, workspace, path, form):
    client, ws, member = logged_in("member")
    victim = workspace("Victim")
    victim_rows_before = _rows_in(victim.id)
    response = client.post(path, data={**form, **_forged(victim, owner_of(victim))})
    assert response.status_code < 400, response.get_data(as_text=True)[:300]
    assert _rows_in(victim.id) == victim_rows_before
    _assert_creator_not_forged(owner_of(victim).id)
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == member.id)) == "member"


def test_invitations_and_tokens_ignore_forged_workspace_and_creator(logged_in, workspace):
    client, ws, owner = logged_in("owner")
    victim = workspace("Victim")
    before = _rows_in(victim.id)
    client.post("/settings/members/invitations", data={"email": "new@example.test", "role": "member",
                                                       "workspace_id": str(victim.id)})
    client.post("/settings/api-tokens", data={"name": "t", "user_id": str(owner.id), "workspace_id": str(victim.id),
                                              "created_by_id": str(owner_of(victim).id)})
    assert _rows_in(victim.id) == before
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "t"))
    if token is not None:
        assert token.workspace_id == ws.id and token.created_by_id == owner.id


@pytest.mark.parametrize("path, body", [
    ("/workflows", DEFINITION),
    ("/deals", {"title": "Forged deal", "value": "10"}),
    ("/tickets", {"subject": "Forged ticket", "requester_email": "f@example.test"}),
    ("/contacts", {"name": "Forged contact", "email": "f@example.test"}),
])
def test_the_api_refuses_or_ignores_forged_fields(app, client, workspace, user, path, body):
    ws = workspace("Api Co")
    member = user(ws, "member")
    api = ApiClient(client, issue_token(ws, member), ws, member)
    victim = workspace("Victim")
    before = _rows_in(victim.id)
    for name, value in _forged(victim, owner_of(victim)).items():
        response = api.post(path, json={**body, name: value})
        assert response.status_code in (201, 200, 422), response.get_data(as_text=True)[:300]
        assert _rows_in(victim.id) == before
        _assert_creator_not_forged(owner_of(victim).id)
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == member.id)) == "member"


def _rows_in(workspace_id) -> dict:
    db.session.commit()
    return {table.name: db.session.scalar(select(db.func.count()).select_from(table).where(table.c.workspace_id == workspace_id))
            for table in db.metadata.sorted_tables if "workspace_id" in table.c}


def _assert_creator_not_forged(forged_user_id):
    for table in db.metadata.sorted_tables:
        for column in ("created_by_id", "actor_id", "owner_id"):
            if column in table.c and table.name not in ("workflow_templates",):
                rows = db.session.scalar(select(db.func.count()).select_from(table).where(table.c[column] == forged_user_id))
                assert not rows, f"{table.name}.{column} took the forged user id"

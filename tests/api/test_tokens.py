"""API tokens: the settings page, the CLI, and what the API does with missing, bad and revoked tokens."""
import hashlib
import re

from sqlalchemy import select

from models import ApiToken, AuditEvent, db
from tests.api.conftest import ApiClient, issue_token
from tests.conftest import owner_of

SECRET = re.compile(r'id="new-token-secret" readonly value="(wk_[A-Za-z0-9_-]+)"')


def create_on_page(client, name="CI pipeline"):
    response = client.post("/settings/api-tokens", data={"name": name})
    match = SECRET.search(response.get_data(as_text=True))
    return response, match.group(1) if match else None


def test_an_owner_creates_a_token_shown_once_and_stored_hashed(logged_in):
    client, ws, owner = logged_in("owner")
    response, secret = create_on_page(client)
    assert response.status_code == 201 and secret
    assert response.headers["Cache-Control"] == "no-store"
    token = db.session.scalar(select(ApiToken).where(ApiToken.workspace_id == ws.id))
    assert token.name == "CI pipeline" and token.user_id == owner.id
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (token.token_hash, token.token_prefix) and secret.startswith(token.token_prefix)
    page = client.get("/settings/api-tokens").get_data(as_text=True)
    assert "CI pipeline" in page and token.token_prefix in page and secret not in page
    assert "Never" in page  # not used yet
    response = client.get("/api/v1/workflows", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at is not None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "api_token.created")) is not None


def test_a_token_needs_a_name(logged_in):
    client, ws, _owner = logged_in("admin")
    response, secret = create_on_page(client, name="   ")
    assert response.status_code == 422 and secret is None
    assert "Give the token a name" in response.get_data(as_text=True)
    assert db.session.scalar(select(ApiToken)) is None


def test_members_cannot_see_or_create_tokens(logged_in):
    client, ws, _member = logged_in("member")
    assert client.get("/settings/api-tokens").status_code == 403
    assert client.post("/settings/api-tokens", data={"name": "x"}).status_code == 403
    assert "API tokens" not in client.get("/settings/members").get_data(as_text=True)


def test_admins_see_the_settings_entry(logged_in):
    client, _ws, _admin = logged_in("admin")
    page = client.get("/settings/members").get_data(as_text=True)
    assert "API tokens" in page and "/settings/api-tokens" in page


def test_creating_a_token_on_the_page_needs_the_csrf_token(logged_in):
    client, _ws, _owner = logged_in("owner")
    assert client.post("/settings/api-tokens", data={"name": "x"}, csrf=False).status_code == 400
    assert db.session.scalar(select(ApiToken)) is None


def test_revoking_a_token_makes_the_api_answer_401(logged_in):
    client, ws, owner = logged_in("owner")
    _response, secret = create_on_page(client)
    token = db.session.scalar(select(ApiToken))
    response = client.post(f"/settings/api-tokens/{token.id}/revoke")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is not None
    response = client.get("/api/v1/deals", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert response.get_json()["message"] == "The API token is invalid or has been revoked."
    assert "Revoked" in client.get("/settings/api-tokens").get_data(as_text=True)


def test_another_workspaces_token_cannot_be_revoked(logged_in, workspace):
    other = workspace()
    issue_token(other, owner_of(other))
    token = db.session.scalar(select(ApiToken))
    client, _ws, _owner = logged_in("owner")
    assert client.post(f"/settings/api-tokens/{token.id}/revoke").status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is None


def test_missing_malformed_and_unknown_tokens_are_401_json(client, workspace):
    ws = workspace()
    issue_token(ws, owner_of(ws))
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer wk_not-a-real-token"}, {"Authorization": "Bearer " + "x" * 500}):
        response = client.get("/api/v1/deals", headers=headers)
        assert response.status_code == 401, headers
        assert response.is_json and response.get_json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_login_session_is_not_enough_for_the_api(logged_in):
    client, _ws, _owner = logged_in("owner")
    assert client.get("/api/v1/deals").status_code == 401
    assert client.post("/api/v1/deals", json={"title": "x"}).status_code == 401
    assert client.post("/api/v1/deals", json={"title": "x"}, csrf=False).status_code == 401


def test_the_api_needs_no_csrf_token_with_a_bearer_token(api):
    client = api("member")
    response = client.post("/contacts", json={"name": "Ada"})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_a_token_acts_with_its_users_current_role(api, user):
    member = api("member")
    assert member.delete("/workflows/1").status_code == 403
    from models import Membership

    membership = db.session.scalar(select(Membership).where(Membership.user_id == member.user.id))
    membership.role = "admin"
    db.session.commit()
    assert member.delete("/workflows/1").status_code == 404  # allowed now; there is no such workflow
    db.session.delete(membership)
    db.session.commit()
    assert member.get("/deals").status_code == 401  # no longer a member: the token stops working


def test_the_cli_prints_a_working_token(runner, client, workspace):
    ws = workspace(name="Acme Robotics")
    owner = owner_of(ws)
    result = runner.invoke(args=["tokens", "create", "--workspace", "Acme Robotics", "--email", owner.email,
                                 "--name", "deploy script"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert secret.startswith("wk_")
    token = db.session.scalar(select(ApiToken))
    assert token.name == "deploy script" and token.workspace_id == ws.id
    assert ApiClient(client, secret, ws, owner).get("/deals").status_code == 200
    by_id = runner.invoke(args=["tokens", "create", "--workspace", str(ws.id), "--email", owner.email])
    assert by_id.exit_code == 0 and by_id.output.strip() != secret


def test_the_cli_refuses_unknown_users_and_non_members(runner, workspace):
    ws, other = workspace(), workspace()
    result = runner.invoke(args=["tokens", "create", "--workspace", str(ws.id), "--email", "nobody@example.test"])
    assert result.exit_code != 0 and "No user" in result.output
    result = runner.invoke(args=["tokens", "create", "--workspace", str(ws.id), "--email", owner_of(other).email])
    assert result.exit_code != 0 and "not a member" in result.output
    result = runner.invoke(args=["tokens", "create", "--workspace", "No such place", "--email", owner_of(ws).email])
    assert result.exit_code != 0
    assert db.session.scalar(select(ApiToken)) is None

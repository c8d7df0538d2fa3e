"""API test helpers: a token-authenticated client per role, and a workspace to act in."""
import pytest

from models import db
from services import api_token_service
from tests.conftest import owner_of


class ApiClient:
    """Calls /api/v1 with `Authorization: Bearer <token>` and never a CSRF token (the API needs none)."""

    def __init__(self, client, secret, workspace, user):
        self.client, self.secret, self.workspace, self.user = client, secret, workspace, user

    def headers(self, extra=None):
        return {"Authorization": f"Bearer {self.secret}", **(extra or {})}

    def request(self, method, path, json=None, data=None, headers=None, **kwargs):
        return self.client.open(f"/api/v1{path}", method=method, json=json, data=data,
                                headers=self.headers(headers), csrf=False, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


def issue_token(ws, member, name="test token"):
    _token, secret = api_token_service.create_token(ws, member, name)
    db.session.commit()
    return secret


@pytest.fixture
def api(client, workspace, user):
    """api(role="owner", ws=None) -> ApiClient acting as a new member with that role (the owner for "owner")."""

    def factory(role="owner", ws=None):
        ws = ws or workspace()
        member = owner_of(ws) if role == "owner" else user(ws, role)
        return ApiClient(client, issue_token(ws, member), ws, member)

    return factory


@pytest.fixture
def sweep_api(make_app, workspace, user):
    """An API client on an app whose runs wait for an explicit run_execution (deterministic)."""
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        client = app.test_client()

        def factory(role="owner", ws=None):
            ws = ws or workspace()
            member = owner_of(ws) if role == "owner" else user(ws, role)
            return ApiClient(client, issue_token(ws, member), ws, member)

        yield factory


def errors_of(response) -> dict:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)[:300]
    return body.get("errors") or {}

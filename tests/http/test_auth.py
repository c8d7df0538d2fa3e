"""Sign-in, sign-up, sessions, roles and CSRF through HTTP."""
import pytest

from models import Membership, User, Workspace, db
from tests.conftest import PASSWORD, owner_of

PAGES = ["/", "/settings/members", "/automations", "/automations/new", "/automations/templates", "/automations/runs"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_requires_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_every_registered_page_requires_login(app, client):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "is_public", False) or rule.endpoint == "static" or "GET" not in rule.methods or rule.arguments:
            continue
        response = client.get(rule.rule)
        assert response.status_code in (302, 401, 404), (rule.rule, response.status_code)
        if response.status_code == 302:
            assert "/login" in response.headers["Location"]


def test_login_then_home_shows_the_workspace(client, auth, workspace):
    ws = workspace(name="Globex")
    auth.login(owner_of(ws))
    page = client.get("/").get_data(as_text=True)
    assert "Globex" in page
    assert "Sign out" in page


def test_wrong_password_is_a_form_error_not_a_500(client, workspace):
    ws = workspace()
    response = client.post("/login", data={"email": owner_of(ws).email, "password": "nope-nope"})
    assert response.status_code == 422
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_unknown_email_and_empty_form_are_form_errors(client):
    assert client.post("/login", data={"email": "ghost@example.test", "password": "x"}).status_code == 422
    assert client.post("/login", data={}).status_code == 422


def test_login_redirects_only_to_local_next(client, workspace):
    ws = workspace()
    email = owner_of(ws).email
    response = client.post("/login?next=//evil.example/x", data={"email": email, "password": PASSWORD})
    assert response.headers["Location"] == "/"
    assert client.post("/logout").status_code == 302
    response = client.post("/login?next=/settings/members", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/settings/members"


def test_login_issues_a_new_session_and_logout_invalidates_the_old_cookie(app, client, auth, workspace):
    ws = workspace()
    owner = owner_of(ws)
    auth.login(owner)
    token_before = db.session.get(User, owner.id).session_token
    stolen_cookie = client.get_cookie("session").value
    auth.logout()
    db.session.expire_all()
    assert db.session.get(User, owner.id).session_token != token_before

    thief = app.test_client()
    thief.set_cookie("session", stolen_cookie)
    assert thief.get("/").status_code == 302  # the old session no longer signs anyone in


def test_session_cookie_flags(client, auth, workspace):
    auth.login(owner_of(workspace()))
    cookie = client.get_cookie("session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_signup_creates_a_workspace_owned_by_the_new_user(client):
    response = client.post(
        "/signup",
        data={"workspace_name": "Initech", "name": "Peter", "email": "Peter@Initech.test", "password": "tps-reports"},
    )
    assert response.status_code == 302
    workspace = db.session.scalar(db.select(Workspace).where(Workspace.name == "Initech"))
    membership = db.session.scalar(db.select(Membership).where(Membership.workspace_id == workspace.id))
    assert membership.role == "owner"
    assert membership.user.email == "peter@initech.test"
    assert "Initech" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"workspace_name": "", "email": "a@b.test", "password": "long-enough-1"}, "workspace_name", "Workspace name is required"),
        ({"workspace_name": "X", "email": "not-an-email", "password": "long-enough-1"}, "email", "Enter a valid email address."),
        ({"workspace_name": "X", "email": "a@b.test", "password": "short"}, "password", "Use at least 10 characters."),
    ],
)
def test_signup_rejects_bad_input_with_inline_errors(client, form, field, message):
    response = client.post("/signup", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Workspace)) == 0


def test_signup_with_a_taken_email_writes_nothing(client, workspace):
    ws = workspace()
    response = client.post(
        "/signup", data={"workspace_name": "Dup", "email": owner_of(ws).email, "password": "long-enough-1"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "already exists" not in page and "We could not create a workspace with this email" in page
    assert db.session.scalar(db.select(db.func.count()).select_from(Workspace)) == 1


def test_missing_csrf_token_is_rejected_with_400(client, workspace):
    ws = workspace()
    response = client.post("/login", data={"email": owner_of(ws).email, "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_logout_is_not_a_get(client, auth, workspace):
    auth.login(owner_of(workspace()))
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_workspace_switcher_changes_scope_and_refuses_foreign_workspaces(client, auth, workspace, user):
    first, second, foreign = workspace(name="First Co"), workspace(name="Second Co"), workspace(name="Foreign Co")
    person = user(first, "admin")
    from services import workspace_service

    workspace_service.add_user(second, person.email, PASSWORD, "member")
    db.session.commit()
    auth.login(person)
    assert "First Co" in client.get("/").get_data(as_text=True)
    client.post("/workspaces/switch", data={"workspace_id": second.id})
    page = client.get("/").get_data(as_text=True)
    assert "<h1 class=\"h3 mb-1\">Second Co</h1>" in page
    assert client.post("/workspaces/switch", data={"workspace_id": foreign.id}).status_code == 404
    assert client.post("/workspaces/switch", data={"workspace_id": "abc"}).status_code == 404

"""Feature flag, health check, roles, members and invitations through HTTP."""
import pytest
from sqlalchemy import select

from models import Invitation, Membership, Role, db
from tests.conftest import PASSWORD
from webapp.security import has_role

AUTOMATIONS_PAGES = ["/automations", "/automations/new", "/automations/templates", "/automations/runs"]


@pytest.mark.parametrize("path", AUTOMATIONS_PAGES)
def test_flag_off_hides_automations(make_app, path):
    app = make_app(AUTOMATIONS_ENABLED=False)
    client = app.test_client()
    with app.app_context():
        from services import workspace_service

        ws, owner = workspace_service.create_workspace("Flagless", "flagless@example.test", PASSWORD)
        db.session.commit()
    client.post("/login", data={"email": "flagless@example.test", "password": PASSWORD})
    assert client.get(path).status_code == 404
    home = client.get("/").get_data(as_text=True)
    assert 'href="/automations' not in home and '<div class="app-nav-heading">Automations</div>' not in home


@pytest.mark.parametrize("path", AUTOMATIONS_PAGES)
def test_flag_on_shows_automations(logged_in, path):
    client, _, _ = logged_in("member")
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'href="/automations"' in page and "Workflows" in page


def test_flag_accepts_words_from_the_environment(make_app):
    assert make_app(AUTOMATIONS_ENABLED="yes").config["AUTOMATIONS_ENABLED"] is True
    assert make_app(AUTOMATIONS_ENABLED="0").config["AUTOMATIONS_ENABLED"] is False


def test_healthz_reports_database_and_queue(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    if app.config["REDIS_URL"]:
        assert (body["database"], body["queue"]) == ("ok", "ok")
        assert body["workers"] in ("ok", "stale", "none")
    else:
        assert body == {"database": "ok", "queue": "embedded"}


def test_healthz_is_503_when_the_database_does_not_answer(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none", REDIS_URL=None)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "down"


def test_healthz_reports_a_queue_that_is_down(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.get_json()["queue"] == "down"
    assert response.status_code == 503  # Redis is a required part once REDIS_URL is set


def test_unknown_page_is_a_404_in_the_layout(logged_in):
    client, ws, _ = logged_in()
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Page not found" in page and ws.name in page


@pytest.mark.parametrize("role, allowed", [("member", False), ("admin", True), ("owner", True)])
def test_inviting_is_for_admins_and_owners(logged_in, role, allowed):
    client, ws, _ = logged_in(role)
    response = client.post("/settings/members/invitations", data={"email": "new@example.test", "role": "member"})
    invitations = db.session.scalars(select(Invitation).where(Invitation.workspace_id == ws.id)).all()
    if allowed:
        assert response.status_code == 302
        assert [i.email for i in invitations] == ["new@example.test"]
    else:
        assert response.status_code == 403
        assert "Not allowed" in response.get_data(as_text=True)
        assert invitations == []


def test_members_page_shows_the_invite_form_only_to_admins(logged_in):
    client, _, _ = logged_in("member")
    assert "Invite someone" not in client.get("/settings/members").get_data(as_text=True)


def test_admin_cannot_invite_an_owner(logged_in):
    client, ws, _ = logged_in("admin")
    response = client.post("/settings/members/invitations", data={"email": "boss@example.test", "role": "owner"})
    assert response.status_code == 422
    assert "Only owners can invite another owner." in response.get_data(as_text=True)


@pytest.mark.parametrize("form, message", [({"email": "nope", "role": "member"}, "Enter a valid email address."),
                                           ({"email": "x@example.test", "role": "king"}, "Choose owner, admin or member.")])
def test_bad_invitations_are_inline_errors(logged_in, form, message):
    client, ws, _ = logged_in()
    response = client.post("/settings/members/invitations", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(Invitation)) == 0


def test_invited_person_creates_an_account_and_joins_with_the_role(app, logged_in):
    client, ws, _ = logged_in()
    client.post("/settings/members/invitations", data={"email": "newbie@example.test", "role": "admin"})
    invitation = db.session.scalar(select(Invitation))
    assert f"/invitations/{invitation.token}" in client.get("/settings/members").get_data(as_text=True)
    from models import OutboxEmail

    [email] = db.session.scalars(select(OutboxEmail).where(OutboxEmail.to == "newbie@example.test")).all()
    assert f"/invitations/{invitation.token}" in email.body and ws.name in email.subject

    newcomer = app.test_client()
    assert "Join " + ws.name in newcomer.get(f"/invitations/{invitation.token}").get_data(as_text=True)
    assert newcomer.post(f"/invitations/{invitation.token}", data={"password": "short"}).status_code == 422
    response = newcomer.post(f"/invitations/{invitation.token}", data={"name": "New Bie", "password": "long-enough"})
    assert response.status_code == 302
    membership = db.session.scalar(select(Membership).where(Membership.workspace_id == ws.id, Membership.role == "admin"))
    assert membership.user.email == "newbie@example.test"
    assert newcomer.get(f"/invitations/{invitation.token}").status_code == 404  # used once


def test_role_helper_ranks_roles(app, workspace, user):
    from flask import g

    ws = workspace()
    member = user(ws, "member")
    with app.test_request_context("/"):
        g.membership = db.session.scalar(select(Membership).where(Membership.user_id == member.id))
        assert has_role(Role.MEMBER) and not has_role(Role.ADMIN) and not has_role(Role.OWNER)
        g.membership.role = "owner"
        assert has_role(Role.ADMIN) and has_role(Role.OWNER)
    db.session.rollback()

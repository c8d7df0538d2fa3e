"""Settings → Members through HTTP: roles, removal (never the last owner), revoking and expiring invitations."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import AuditEvent, Invitation, Membership, db
from models.base import utcnow
from tests.conftest import PASSWORD, owner_of


def _membership(ws, user):
    return db.session.scalar(select(Membership).where(Membership.workspace_id == ws.id, Membership.user_id == user.id))


def test_the_page_lists_members_and_pending_invitations_with_their_expiry(logged_in, user):
    client, ws, _ = logged_in("admin")
    colleague = user(ws, "member")
    client.post("/settings/members/invitations", data={"email": "soon@example.test", "role": "member"})
    html = client.get("/settings/members").get_data(as_text=True)
    assert colleague.email in html and "soon@example.test" in html
    assert "expires" in html and "Revoke" in html and "Save role" in html


def test_an_admin_changes_a_members_role_and_it_is_audited(logged_in, user):
    client, ws, admin = logged_in("admin")
    colleague = user(ws, "member")
    membership = _membership(ws, colleague)
    response = client.post(f"/settings/members/{membership.id}/role", data={"role": "admin"})
    assert response.status_code == 302
    assert _membership(ws, colleague).role == "admin"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "member_role_changed"))
    bad = client.post(f"/settings/members/{membership.id}/role", data={"role": "king"})
    assert bad.status_code == 422 and "Choose owner, admin or member." in bad.get_data(as_text=True)


def test_only_owners_make_or_touch_owners(logged_in, user):
    client, ws, admin = logged_in("admin")
    colleague = user(ws, "member")
    owner = owner_of(ws)
    assert client.post(f"/settings/members/{_membership(ws, colleague).id}/role", data={"role": "owner"}).status_code == 403
    assert client.post(f"/settings/members/{_membership(ws, owner).id}/role", data={"role": "member"}).status_code == 403
    assert client.post(f"/settings/members/{_membership(ws, owner).id}/remove").status_code == 403
    assert _membership(ws, owner).role == "owner" and _membership(ws, colleague).role == "member"


def test_members_cannot_manage_members(logged_in, user):
    client, ws, member = logged_in("member")
    colleague = user(ws, "member")
    membership = _membership(ws, colleague)
    assert client.post(f"/settings/members/{membership.id}/role", data={"role": "admin"}).status_code == 403
    assert client.post(f"/settings/members/{membership.id}/remove").status_code == 403
    html = client.get("/settings/members").get_data(as_text=True)
    assert "Save role" not in html and "Remove" not in html
    assert _membership(ws, colleague).role == "member"


def test_an_admin_removes_a_member_who_loses_access_at_once(app, logged_in, user):
    client, ws, _ = logged_in("admin")
    colleague = user(ws, "member")
    theirs = app.test_client()
    theirs.post("/login", data={"email": colleague.email, "password": PASSWORD})
    assert theirs.get("/settings/members").status_code == 200
    response = client.post(f"/settings/members/{_membership(ws, colleague).id}/remove")
    assert response.status_code == 302
    assert _membership(ws, colleague) is None
    assert theirs.get("/settings/members").status_code == 403  # no workspace left
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "member_removed"))


def test_the_last_owner_can_be_neither_removed_nor_demoted(logged_in, user):
    client, ws, owner = logged_in("owner")
    mine = _membership(ws, owner)
    demote = client.post(f"/settings/members/{mine.id}/role", data={"role": "admin"})
    assert demote.status_code == 422 and "at least one owner" in demote.get_data(as_text=True)
    remove = client.post(f"/settings/members/{mine.id}/remove")
    assert remove.status_code == 422 and "last owner" in remove.get_data(as_text=True)
    assert _membership(ws, owner).role == "owner"
    # With a second owner, the first may step down.
    second = user(ws, "admin")
    assert client.post(f"/settings/members/{_membership(ws, second).id}/role", data={"role": "owner"}).status_code == 302
    assert client.post(f"/settings/members/{mine.id}/role", data={"role": "admin"}).status_code == 302
    assert _membership(ws, owner).role == "admin"


def test_a_revoked_invitation_stops_working(app, logged_in):
    client, ws, _ = logged_in("admin")
    client.post("/settings/members/invitations", data={"email": "maybe@example.test", "role": "member"})
    invitation = db.session.scalar(select(Invitation))
    token = invitation.token
    assert client.post(f"/settings/members/invitations/{invitation.id}/revoke").status_code == 302
    assert db.session.scalar(select(Invitation)) is None
    newcomer = app.test_client()
    assert newcomer.get(f"/invitations/{token}").status_code == 404
    assert newcomer.post(f"/invitations/{token}", data={"password": "a-fine-passphrase"}).status_code == 404
    client.get("/settings/members")  # the flash message names the email once
    assert 'id="invitation-' not in client.get("/settings/members").get_data(as_text=True)


@pytest.mark.parametrize("age_days, usable", [(6, True), (8, False)])
def test_invitations_expire_after_seven_days(app, logged_in, age_days, usable):
    client, ws, _ = logged_in("admin")
    client.post("/settings/members/invitations", data={"email": "late@example.test", "role": "member"})
    invitation = db.session.scalar(select(Invitation))
    invitation.created_at = utcnow() - timedelta(days=age_days)
    db.session.commit()
    newcomer = app.test_client()
    listed = f'id="invitation-{invitation.id}"' in client.get("/settings/members").get_data(as_text=True)
    assert listed == usable
    page = newcomer.get(f"/invitations/{invitation.token}")
    assert page.status_code == (200 if usable else 404)
    if not usable:
        assert "expired" in page.get_data(as_text=True)
        assert newcomer.post(f"/invitations/{invitation.token}", data={"password": "a-fine-passphrase"}).status_code == 404
        client.get("/settings/members")  # the flash message of the invitation
        assert f'id="invitation-{invitation.id}"' not in client.get("/settings/members").get_data(as_text=True)

"""Recruiting pages: a candidate with an application, stage buttons."""
import pytest
from sqlalchemy import select

from models import Application, db
from tests import factories as f
from tests.http.test_crm import page


def test_add_a_candidate_and_move_them_through_the_stages(logged_in):
    client, ws, _ = logged_in("member")
    applied = f.make_workflow(ws.id, "candidate_applied")
    response = client.post("/recruiting/new", data={"name": "Priya Patel", "email": "priya@example.test",
                                                   "position": "Backend Engineer"})
    application = db.session.scalar(select(Application))
    assert response.status_code == 302 and f.only_payload(applied)["candidate"]["name"] == "Priya Patel"
    assert "Priya Patel" in page(client.get("/recruiting"))
    changed = f.make_workflow(ws.id, "candidate_stage_change")
    assert client.post(f"/recruiting/applications/{application.id}/stage", data={"stage": "interview"}).status_code == 302
    assert f.only_payload(changed)["to_stage"] == "interview"
    response = client.post(f"/recruiting/applications/{application.id}/stage", data={"stage": "promoted"})
    assert response.status_code == 422


def test_invalid_candidate_form(logged_in):
    client, _, _ = logged_in()
    response = client.post("/recruiting/new", data={"name": "Kept Name", "email": "x"})
    body = page(response)
    assert response.status_code == 422 and "Enter a valid email address." in body and "Position is required." in body
    assert 'value="Kept Name"' in body


@pytest.mark.parametrize("method, path", [("get", "/recruiting/applications/{id}"),
                                          ("post", "/recruiting/applications/{id}/stage")])
def test_other_workspaces_applications_are_404(logged_in, workspace, method, path):
    client, _, _ = logged_in()
    url = path.format(id=f.application(workspace()).id)
    assert getattr(client, method)(url, data={"stage": "offer"}).status_code == 404

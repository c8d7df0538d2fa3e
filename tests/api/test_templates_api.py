"""GET /api/v1/templates and POST /api/v1/templates/<slug or id>/use."""
from sqlalchemy import select

from models import Workflow, db
from models.templates import WorkflowTemplate


def test_list_templates_has_the_twenty_system_ones(api):
    client = api()
    response = client.get("/templates")
    assert response.status_code == 200
    slugs = {t["slug"] for t in response.get_json()["data"]}
    assert len(slugs) == 23 and {"lead-welcome-email", "workflow-failed-chat-alert"} <= slugs


def test_use_by_slug_or_id_creates_a_draft_and_counts(api):
    client = api()
    response = client.post("/templates/deal-won-thank-you-email/use", json={})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "draft" and body["trigger"]["type"] == "deal_closed_won"
    template = db.session.scalar(select(WorkflowTemplate).where(WorkflowTemplate.slug == "deal-won-thank-you-email"))
    assert client.post(f"/templates/{template.id}/use", json={}).status_code == 201
    db.session.refresh(template)
    assert template.usage_count == 2
    assert db.session.scalar(select(db.func.count()).select_from(Workflow)) == 2


def test_unknown_template_is_404_json(api):
    response = api().post("/templates/nope/use", json={})
    assert response.status_code == 404 and response.is_json

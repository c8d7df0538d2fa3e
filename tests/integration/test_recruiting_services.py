"""Recruiting: candidate_applied and candidate_stage_change."""
import pytest

from services import application_service
from services.errors import NotFound, ValidationFailed
from tests import factories as f
from tests.integration.test_crm_services import assert_catalog_shape


def test_application_fires_candidate_applied(workspace):
    ws = workspace()
    workflow = f.make_workflow(ws.id, "candidate_applied")
    application = f.application(ws, name="Priya Patel", email="priya@example.test", position="Backend Engineer")
    payload = f.only_payload(workflow)
    assert payload["candidate"] == {"id": application.candidate_id, "name": "Priya Patel", "email": "priya@example.test"}
    assert payload["application"] == {"id": application.id, "position": "Backend Engineer", "stage": "applied"}
    assert_catalog_shape(payload, "candidate_applied")


def test_stage_change_fires_candidate_stage_change(workspace):
    ws = workspace()
    application = f.application(ws)
    workflow = f.make_workflow(ws.id, "candidate_stage_change")
    application_service.update_application_status(ws.id, application.id, "screening", None)
    f.db.session.commit()
    payload = f.only_payload(workflow)
    assert (payload["from_stage"], payload["to_stage"]) == ("applied", "screening")
    assert payload["application"]["stage"] == "screening"
    assert_catalog_shape(payload, "candidate_stage_change")


def test_recruiting_rules(workspace):
    ws, other = workspace(), workspace()
    with pytest.raises(ValidationFailed) as failure:
        application_service.create_candidate_with_application(ws.id, {"name": "", "email": "x"}, None)
    assert set(failure.value.errors) == {"name", "email", "position"}
    with pytest.raises(ValidationFailed):
        application_service.update_application_status(ws.id, f.application(ws).id, "promoted", None)
    with pytest.raises(NotFound):
        application_service.update_application_status(ws.id, f.application(other).id, "offer", None)

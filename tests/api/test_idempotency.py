"""Idempotency-Key on the API's POSTs (issue #18): the same key answers the same response, whatever the timing."""
from datetime import timedelta

from sqlalchemy import func, select, update

from models import Deal, IdempotencyKey, Payment, WorkflowExecution, db
from models.base import utcnow
from services import api_token_service
from tests.conftest import owner_of
from tests.factories import invoice, make_workflow, make_workspace
from tests.reliability.test_money_races import _in_parallel


def _count(model, *where):
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_same_key_answers_the_first_response_and_does_the_work_once(api):
    client = api()
    key = {"Idempotency-Key": "deal-2026-0001"}
    first = client.post("/deals", json={"title": "Once", "value": 100}, headers=key)
    again = client.post("/deals", json={"title": "Once", "value": 100}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert _count(Deal, Deal.workspace_id == client.workspace.id) == 1
    other = client.post("/deals", json={"title": "Once", "value": 100}, headers={"Idempotency-Key": "deal-2026-0002"})
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    assert _count(Deal, Deal.workspace_id == client.workspace.id) == 2


def test_the_same_key_with_another_body_or_path_is_refused(api):
    client = api()
    key = {"Idempotency-Key": "k-1"}
    assert client.post("/deals", json={"title": "A"}, headers=key).status_code == 201
    changed = client.post("/deals", json={"title": "B"}, headers=key)
    assert changed.status_code == 422 and "Idempotency-Key" in changed.get_json()["errors"]
    elsewhere = client.post("/contacts", json={"name": "Ada", "email": "ada@example.test"}, headers=key)
    assert elsewhere.status_code == 422
    assert _count(Deal, Deal.workspace_id == client.workspace.id) == 1


def test_keys_are_per_workspace_and_expire_after_a_day(api):
    mine, theirs = api(), api()
    key = {"Idempotency-Key": "shared-key"}
    assert mine.post("/deals", json={"title": "Mine"}, headers=key).status_code == 201
    assert theirs.post("/deals", json={"title": "Theirs"}, headers=key).get_json()["title"] == "Theirs"
    db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    later = mine.post("/deals", json={"title": "Mine"}, headers=key)
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert _count(Deal, Deal.workspace_id == mine.workspace.id) == 2


def test_a_failed_request_stores_nothing_and_bad_keys_are_refused(api):
    client = api()
    key = {"Idempotency-Key": "retry-me"}
    assert client.post("/deals", json={"title": ""}, headers=key).status_code == 422
    assert client.post("/deals", json={"title": "Fixed"}, headers=key).status_code == 201
    for bad in ["", "x" * 201, "has space", "ünï"]:
        response = client.post("/deals", json={"title": "T"}, headers={"Idempotency-Key": bad})
        assert response.status_code == 422, bad
        assert "Idempotency-Key" in response.get_json()["errors"]


def test_parallel_retries_with_one_key_pay_once(live_server):
    """8 parallel copies of one payment with one key: one payment, eight identical 201s."""
    with live_server.app.app_context():
        ws = make_workspace("Retries")
        make_workflow(ws.id, trigger="invoice_paid")
        _token, secret = api_token_service.create_token(ws, owner_of(ws), "retries")
        db.session.commit()
        bill = invoice(ws, sent=True, amount="100")
        responses = _in_parallel(f"{live_server.url}/api/v1/invoices/{bill.id}/payments", secret,
                                 [{"amount": 40}] * 8, [{"Idempotency-Key": "pay-once"}] * 8)
        assert [response.status_code for response in responses] == [201] * 8, [r.text for r in responses]
        assert len({response.text for response in responses}) == 1
        assert _count(Payment, Payment.invoice_id == bill.id) == 1
        assert _count(WorkflowExecution, WorkflowExecution.trigger_type == "invoice_paid") == 0

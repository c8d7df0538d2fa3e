"""Money under concurrency (issue #18, finding 2): parallel payments and refunds through the API of a live,
threaded server, each request on its own connection and database session.

Before the fix: 8 parallel payments of 100 on a 100 invoice recorded 7 (700) and invoice_paid fired 4 times;
8 parallel refunds of 60 on 100 paid refunded 420.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests
from sqlalchemy import func, select

from models import Invoice, Payment, Refund, WorkflowExecution, db
from services import api_token_service
from tests.conftest import owner_of
from tests.factories import invoice, make_workflow, make_workspace, pay

PARALLEL = 8


def _in_parallel(url: str, secret: str, bodies: list[dict], headers: list[dict] | None = None) -> list:
    """POST each body at the same moment from its own thread; the responses."""
    barrier = threading.Barrier(len(bodies))
    headers = headers or [{} for _ in bodies]

    def post(index):
        barrier.wait()
        return requests.post(url, json=bodies[index], timeout=30,
                             headers={"Authorization": f"Bearer {secret}", **headers[index]})

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, range(len(bodies))))


def _scalar(statement):
    db.session.commit()
    return db.session.scalar(statement)


def _report(label, bill, ws, statuses):
    paid = _scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == bill.id))
    payments = _scalar(select(func.count()).select_from(Payment).where(Payment.invoice_id == bill.id))
    refunded = _scalar(select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.invoice_id == bill.id))
    fired = _scalar(select(func.count()).select_from(WorkflowExecution).where(
        WorkflowExecution.workspace_id == ws.id, WorkflowExecution.trigger_type == "invoice_paid"))
    print(f"RELIABILITY {label} ({db.engine.dialect.name}): statuses {statuses}; {payments} payments = {paid}, "
          f"refunded {refunded}, invoice_paid fired {fired}x")


def _setup(live_server):
    ws = make_workspace("Money")
    make_workflow(ws.id, trigger="invoice_paid", name="Thank the payer")
    make_workflow(ws.id, trigger="invoice_refunded", name="Refund noted")
    _token, secret = api_token_service.create_token(ws, owner_of(ws), "race")
    db.session.commit()
    return ws, secret


def test_parallel_payments_of_the_whole_amount_record_one(live_server):
    with live_server.app.app_context():
        ws, secret = _setup(live_server)
        bill = invoice(ws, sent=True, amount="100")
        responses = _in_parallel(f"{live_server.url}/api/v1/invoices/{bill.id}/payments", secret,
                                 [{"amount": 100}] * PARALLEL)
        statuses = sorted(response.status_code for response in responses)
        _report("8 parallel payments of 100 on a 100 invoice", bill, ws, statuses)
        assert statuses == [201] + [422] * (PARALLEL - 1), [r.text for r in responses]
        assert _scalar(select(func.count()).select_from(Payment).where(Payment.invoice_id == bill.id)) == 1
        assert _scalar(select(func.sum(Payment.amount)).where(Payment.invoice_id == bill.id)) == Decimal("100")
        db.session.expire_all()
        stored = db.session.get(Invoice, bill.id)
        assert stored.paid_amount == Decimal("100") and stored.status == "paid"
        fired = select(func.count()).select_from(WorkflowExecution).where(
            WorkflowExecution.workspace_id == ws.id, WorkflowExecution.trigger_type == "invoice_paid")
        assert _scalar(fired) == 1  # invoice_paid exactly once


def test_parallel_partial_payments_never_exceed_the_invoice(live_server):
    with live_server.app.app_context():
        ws, secret = _setup(live_server)
        bill = invoice(ws, sent=True, amount="100")
        responses = _in_parallel(f"{live_server.url}/api/v1/invoices/{bill.id}/payments", secret,
                                 [{"amount": 30}] * PARALLEL)
        assert sorted(response.status_code for response in responses) == [201] * 3 + [422] * 5
        assert _scalar(select(func.sum(Payment.amount)).where(Payment.invoice_id == bill.id)) == Decimal("90")
        fired = select(func.count()).select_from(WorkflowExecution).where(
            WorkflowExecution.workspace_id == ws.id, WorkflowExecution.trigger_type == "invoice_paid")
        assert _scalar(fired) == 0


def test_parallel_refunds_never_exceed_what_was_paid(live_server):
    with live_server.app.app_context():
        ws, secret = _setup(live_server)
        bill = invoice(ws, sent=True, amount="100")
        pay(ws, bill, 100)
        responses = _in_parallel(f"{live_server.url}/api/v1/invoices/{bill.id}/refunds", secret,
                                 [{"amount": 60}] * PARALLEL)
        _report("8 parallel refunds of 60 on 100 paid", bill, ws, sorted(r.status_code for r in responses))
        assert sorted(response.status_code for response in responses) == [201] + [422] * (PARALLEL - 1)
        assert _scalar(select(func.sum(Refund.amount)).where(Refund.invoice_id == bill.id)) == Decimal("60")
        db.session.expire_all()
        assert db.session.get(Invoice, bill.id).refunded_amount == Decimal("60")
        refunded = select(func.count()).select_from(WorkflowExecution).where(
            WorkflowExecution.workspace_id == ws.id, WorkflowExecution.trigger_type == "invoice_refunded")
        assert _scalar(refunded) == 1

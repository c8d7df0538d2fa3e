"""What one request costs the database (issue #24, the front door): a signed webhook delivery and the API's
business routes each commit once, check out one connection and stay under a few statements. A new SELECT,
a second commit or a reload after the commit fails here (bench/front_door.py measures the time it costs)."""
import json
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select

from engine.core import handoff, samples
from models import ApiToken, db
from tests.api.conftest import issue_token
from tests.conftest import owner_of
from tests.factories import make_workflow, make_workspace
from tests.http.test_hooks import post, webhook_workflow

# Statements SQLAlchemy sends for one request (the savepoint's SAVEPOINT/RELEASE and PostgreSQL's dispatch
# function go to the driver directly and are not counted). SQLite, today: hook = endpoint + workflow + workspace,
# the rate limit's count, BEGIN IMMEDIATE, the delivery's sample (issue #20), run, delivery row; deal = token + membership + user + workspace,
# deal, the event's sample (issue #20), the dispatch's workflows, run; contact = the same without a listening
# workflow; get = token, deal. PostgreSQL sends fewer (the rate limit counts in Redis, the dispatch is one function
# call). A sample's trimming of older samples, one insert in engine.core.samples.PRUNE_EVERY, is switched off here.
MAX_STATEMENTS = {"hook": 6, "deal": 5, "contact": 4, "get": 2}


class DatabaseCalls:
    """The statements, commits and connection checkouts of this thread (a runner thread's are not counted)."""

    def __init__(self, engine):
        self.engine, self.thread = engine, threading.get_ident()
        self.statements, self.commits, self.checkouts = [], 0, 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        event.listen(self.engine.pool, "checkout", self._checkout)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine.pool, "checkout", self._checkout)

    def _statement(self, _connection, _cursor, statement, *_args):
        if threading.get_ident() == self.thread:
            self.statements.append(" ".join(statement.split())[:120])

    def _commit(self, _connection):
        if threading.get_ident() == self.thread:
            self.commits += 1

    def _checkout(self, *_args):
        if threading.get_ident() == self.thread:
            self.checkouts += 1

    def describe(self) -> str:
        return f"{self.commits} commit(s), {self.checkouts} checkout(s), statements:\n" + "\n".join(self.statements)


class RecordingHandOff:
    def __init__(self):
        self.handed = []

    def hand_over(self, execution_ids):
        self.handed += execution_ids

    def hand_over_at(self, execution_id, when):
        self.handed.append(execution_id)

    def hand_over_from_sweep(self, execution_ids):
        return False


@pytest.fixture
def front_door(make_app, monkeypatch):
    """An app whose hand-off records the ids it gets; tests issue requests outside any app context of theirs,
    like a server does (one session per request)."""
    monkeypatch.setattr(samples, "PRUNE_EVERY", float("inf"))
    app = make_app(WEBHOOK_RATE_LIMIT_PER_MINUTE=1000)
    recorder = RecordingHandOff()
    app.extensions[handoff.EXTENSION_KEY] = recorder
    with app.app_context():
        ws = make_workspace()
        _workflow, endpoint = webhook_workflow(ws.id)
        make_workflow(ws.id, trigger="deal_created")
        secret = issue_token(ws, owner_of(ws))
        hook = SimpleNamespace(token=endpoint.token, secret=endpoint.secret)
        engine = db.engine
        db.session.remove()
    client = app.test_client()
    api_headers = {"Authorization": f"Bearer {secret}"}
    client.get("/api/v1/deals", headers=api_headers, csrf=False)  # the token's last-used stamp (once a minute)
    yield SimpleNamespace(app=app, client=client, hook=hook, engine=engine, api_headers=api_headers,
                          handed=recorder.handed, secret=secret)


def deliver(door, n, delivery_id=None):
    return post(door.client, door.hook, body=json.dumps({"order_id": f"ORD-{n}"}).encode(),
                delivery_id=delivery_id or f"delivery-{n}")


def test_a_webhook_delivery_commits_once_in_one_connection(front_door):
    deliver(front_door, 0)
    for n in range(1, 4):
        with DatabaseCalls(front_door.engine) as calls:
            response = deliver(front_door, n)
        assert response.status_code == 202, response.get_json()
        assert calls.commits == 1 and calls.checkouts == 1, calls.describe()
        assert len(calls.statements) <= MAX_STATEMENTS["hook"], calls.describe()
    assert len(front_door.handed) == 4  # each run handed over once, after its commit


def test_a_replayed_delivery_is_answered_from_the_first_and_hands_nothing_over(front_door):
    first = deliver(front_door, 1, delivery_id="same-id")
    with DatabaseCalls(front_door.engine) as calls:
        again = deliver(front_door, 2, delivery_id="same-id")  # another body: the id names the delivery
    assert first.status_code == 202 and again.status_code == 200, again.get_json()
    assert again.get_json()["duplicate"] is True
    assert again.get_json()["execution_id"] == first.get_json()["execution_id"]
    assert calls.commits == 1, calls.describe()
    assert front_door.handed == [first.get_json()["execution_id"]]  # the run the savepoint undid never left


@pytest.mark.parametrize("phase, method, path, body, status", [
    ("deal", "POST", "/api/v1/deals", {"title": "Front door", "value": 100}, 201),
    ("contact", "POST", "/api/v1/contacts", {"name": "Ada Front", "email": "ada@example.test"}, 201),
    ("get", "GET", "/api/v1/deals", None, 200),
])
def test_an_api_request_commits_once_in_one_connection(front_door, phase, method, path, body, status):
    for n in range(2):
        sent = dict(body, email=f"ada{n}@example.test") if body and "email" in body else body
        with DatabaseCalls(front_door.engine) as calls:
            response = front_door.client.open(path, method=method, json=sent, headers=front_door.api_headers,
                                              csrf=False)
        assert response.status_code == status, response.get_json()
        assert calls.commits == 1 and calls.checkouts == 1, calls.describe()
        assert len(calls.statements) <= MAX_STATEMENTS[phase], calls.describe()
    if phase == "deal":
        assert len(front_door.handed) == 2


def test_the_created_object_is_answered_as_committed(front_door):
    response = front_door.client.post("/api/v1/deals", json={"title": "Answered", "value": 250},
                                      headers=front_door.api_headers, csrf=False)
    assert response.status_code == 201
    answered = response.get_json()
    fetched = front_door.client.get(f"/api/v1/deals/{answered['id']}", headers=front_door.api_headers, csrf=False)
    assert fetched.get_json() == answered


def test_a_refused_api_request_still_stamps_the_tokens_use(front_door):
    with front_door.app.app_context():
        token = db.session.scalar(select(ApiToken))
        token.last_used_at = None
        db.session.commit()
    response = front_door.client.post("/api/v1/deals", json={"title": ""}, headers=front_door.api_headers,
                                      csrf=False)
    assert response.status_code == 422
    with front_door.app.app_context():
        assert db.session.scalar(select(ApiToken)).last_used_at is not None

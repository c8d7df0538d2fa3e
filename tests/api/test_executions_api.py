"""/api/v1/executions: keyset pages with filters, one run, cancel and replay (owners and admins)."""
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from engine.runtime.runner import run_execution
from models import WorkflowExecution, db
from models.base import utcnow
from tests.api.conftest import ApiClient, errors_of, issue_token
from tests.api.test_workflows_api import create
from tests.factories import make_workflow
from tests.http.test_runs import add_run

FAILING = [{"type": "log_event", "config": {"event": "first", "message": "ok"}},
           {"type": "call_webhook", "config": {"url": "http://nowhere.invalid/nowhere"}},
           {"type": "log_event", "config": {"event": "third", "message": "ok"}}]


def run(client, workflow_id, payload=None):
    response = client.post(f"/workflows/{workflow_id}/run", json={"payload": payload} if payload else {})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["id"]


def test_pages_follow_the_next_cursor_newest_first(sweep_api):
    client = sweep_api()
    workflow = create(client)
    ids = [run(client, workflow["id"]) for _ in range(5)]
    first = client.get("/executions?limit=2").get_json()
    assert [e["id"] for e in first["data"]] == ids[::-1][:2] and first["next_cursor"]
    second = client.get(f"/executions?limit=2&cursor={first['next_cursor']}").get_json()
    assert [e["id"] for e in second["data"]] == ids[::-1][2:4]
    third = client.get(f"/executions?limit=2&cursor={second['next_cursor']}").get_json()
    assert [e["id"] for e in third["data"]] == [ids[0]] and third["next_cursor"] is None


def test_filters_by_status_workflow_and_since(sweep_api):
    client = sweep_api()
    one, two = create(client, name="One"), create(client, name="Two")
    done, waiting = run(client, one["id"]), run(client, two["id"])
    run_execution(done)
    assert [e["id"] for e in client.get("/executions?status=completed").get_json()["data"]] == [done]
    assert [e["id"] for e in client.get("/executions?status=pending").get_json()["data"]] == [waiting]
    assert [e["id"] for e in client.get(f"/executions?workflow_id={two['id']}").get_json()["data"]] == [waiting]
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert client.get("/executions", query_string={"since": later}).get_json()["data"] == []
    earlier = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert len(client.get("/executions", query_string={"since": earlier}).get_json()["data"]) == 2


def walk(client, query: str, limit: int) -> list[int]:
    """Every run the list gives for `query`, following next_cursor page by page."""
    seen, cursor = [], None
    for _ in range(100):
        response = client.get(f"/executions?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert len(body["data"]) <= limit
        seen += [run["id"] for run in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ran out")


def test_cursor_pages_walk_every_run_once_with_filters(sweep_api):
    client = sweep_api()
    one, two = make_workflow(client.workspace.id, name="One"), make_workflow(client.workspace.id, name="Two")
    now = utcnow()
    kinds = [(one, "completed"), (two, "failed"), (one, "failed")] * 5  # an hour apart, ids growing with time
    runs = [add_run(workflow, status=status, created_at=now - timedelta(hours=len(kinds) - n))
            for n, (workflow, status) in enumerate(kinds)]
    db.session.commit()
    newest_first = sorted(runs, key=lambda run: run.id, reverse=True)

    def expected(keep):
        return [run.id for run in newest_first if keep(run)]

    since = (now - timedelta(hours=8, minutes=30)).isoformat()
    for query, keep in (("", lambda run: True),
                        (f"workflow_id={one.id}", lambda run: run.workflow_id == one.id),
                        ("status=failed", lambda run: run.status == "failed"),
                        (f"status=failed&workflow_id={one.id}", lambda run: run.status == "failed" and run.workflow_id == one.id),
                        (f"since={since}", lambda run: run.created_at >= now - timedelta(hours=8, minutes=30)),
                        (f"status=completed&since={since}", lambda run: run.status == "completed"
                         and run.created_at >= now - timedelta(hours=8, minutes=30))):
        for limit in (1, 2, 4, 100):
            seen = walk(client, query.replace("+", "%2B"), limit)
            assert seen == expected(keep), (query, limit)
            assert len(seen) == len(set(seen))


def test_the_api_cursor_is_the_runs_pages_cursor(sweep_api):
    client = sweep_api()
    workflow = make_workflow(client.workspace.id)
    ids = [add_run(workflow).id for _ in range(4)]
    db.session.commit()
    cursor = client.get("/executions?limit=2").get_json()["next_cursor"]
    client.client.post("/login", data={"email": client.user.email, "password": "test-pass-2718"})
    page = client.client.get(f"/automations/runs?before={cursor}").get_data(as_text=True)
    assert [int(found) for found in re.findall(r'data-run-id="(\d+)"', page)] == ids[1::-1]
    assert f"after={ids[1]}" in page  # the page's own cursor back, in the same encoding


def test_a_bad_cursor_is_422_never_500(sweep_api):
    client = sweep_api()
    for cursor in ("bm9wZQ", "YmVmb3JlOjU", "abc", "-5", "0", "1.5", "9" * 30, "²", "%%%"):
        response = client.get("/executions", query_string={"cursor": cursor})
        assert response.status_code == 422, cursor
        assert list(errors_of(response)) == ["cursor"], (cursor, errors_of(response))


def test_since_at_the_ends_of_time_is_answered(sweep_api):
    client = sweep_api()
    add_run(make_workflow(client.workspace.id))
    db.session.commit()
    assert len(client.get("/executions", query_string={"since": "0001-01-01T00:00:00+00:00"}).get_json()["data"]) == 1
    assert client.get("/executions", query_string={"since": "9999-12-31T23:59:59+00:00"}).get_json()["data"] == []
    response = client.get("/executions", query_string={"since": "0001-01-01T00:00:00+05:00"})  # before year 1 in UTC
    assert response.status_code == 422 and "since" in errors_of(response)


def test_bad_filters_are_422(sweep_api):
    client = sweep_api()
    for query, field in (("status=exploded", "status"), ("workflow_id=abc", "workflow_id"), ("since=yesterday", "since"),
                         ("limit=0", "limit"), ("limit=1000", "limit"), ("cursor=bm9wZQ", "cursor"),
                         ("cursor=%%%", "cursor"), ("colour=red", "colour"),
                         ("since=2026-01-01T00:00:00", "since")):
        response = client.get(f"/executions?{query}")
        assert response.status_code == 422, query
        assert field in errors_of(response), (query, errors_of(response))


def test_one_run_in_the_design_shape(sweep_api):
    client = sweep_api()
    execution_id = run(client, create(client)["id"])
    run_execution(execution_id)
    body = client.get(f"/executions/{execution_id}").get_json()
    for key in ("id", "workflow_id", "status", "trigger_type", "started_at", "finished_at", "duration_ms", "error",
                "completed_actions"):
        assert key in body
    step = body["completed_actions"][0]
    assert {"index", "type", "status", "attempts", "started_at", "finished_at", "duration_ms", "input", "output",
            "error"} <= set(step)


def test_other_workspaces_runs_are_404(sweep_api):
    theirs = sweep_api()
    execution_id = run(theirs, create(theirs)["id"])
    mine = sweep_api()
    assert mine.get(f"/executions/{execution_id}").status_code == 404
    assert mine.post(f"/executions/{execution_id}/cancel").status_code == 404
    assert mine.post(f"/executions/{execution_id}/replay", json={"from": "start"}).status_code == 404
    assert mine.get("/executions").get_json()["data"] == []
    assert db.session.get(WorkflowExecution, execution_id).status == "pending"


def test_admins_cancel_members_cannot(sweep_api, user):
    member = sweep_api("member")
    execution_id = run(member, create(member)["id"])
    assert member.post(f"/executions/{execution_id}/cancel").status_code == 403
    admin = ApiClient(member.client, issue_token(member.workspace, user(member.workspace, "admin")),
                      member.workspace, None)
    response = admin.post(f"/executions/{execution_id}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    again = admin.post(f"/executions/{execution_id}/cancel")
    assert again.status_code == 409 and again.is_json


def test_replay_from_start_and_from_the_failed_step(sweep_api):
    client = sweep_api()
    workflow = create(client, actions=FAILING)
    original = run(client, workflow["id"])
    run_execution(original)
    assert client.get(f"/executions/{original}").get_json()["status"] == "completed"  # continue on error
    response = client.post(f"/executions/{original}/replay", json={"from": "failed_step", "definition": "snapshot"})
    assert response.status_code == 202, response.get_data(as_text=True)
    replay = response.get_json()
    assert replay["replay_of_id"] == original and replay["source"] == "replay"
    assert [s["index"] for s in replay["completed_actions"]] == [0]  # the completed step is copied, not rerun
    response = client.post(f"/executions/{original}/replay", json={"from": "start", "definition": "current"})
    assert response.status_code == 202 and response.get_json()["completed_actions"] == []


def test_replay_validation(sweep_api, user):
    client = sweep_api()
    clean = run(client, create(client)["id"])
    response = client.post(f"/executions/{clean}/replay", json={"from": "start"})
    assert response.status_code == 422 and "run" in errors_of(response)  # still pending
    run_execution(clean)
    response = client.post(f"/executions/{clean}/replay", json={"from": "failed_step"})
    assert response.status_code == 422 and "from" in errors_of(response)  # nothing failed
    response = client.post(f"/executions/{clean}/replay", json={"from": "middle", "definition": 3})
    assert response.status_code == 422 and set(errors_of(response)) == {"from", "definition"}
    assert client.post(f"/executions/{clean}/replay", json={"speed": 2}).status_code == 422
    member = ApiClient(client.client, issue_token(client.workspace, user(client.workspace, "member")),
                       client.workspace, None)
    assert member.post(f"/executions/{clean}/replay", json={"from": "start"}).status_code == 403
    assert db.session.scalar(select(WorkflowExecution).where(WorkflowExecution.replay_of_id == clean)) is None

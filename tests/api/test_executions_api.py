"""/api/v1/executions: keyset pages with filters, one run, cancel and replay (owners and admins)."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from engine.runtime.runner import run_execution
from models import WorkflowExecution, db
from tests.api.conftest import ApiClient, errors_of, issue_token
from tests.api.test_workflows_api import create

FAILING = [{"type": "log_event", "config": {"event": "first", "message": "ok"}},
           {"type": "call_webhook", "config": {"url": "http://127.0.0.1:9/nowhere"}},
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

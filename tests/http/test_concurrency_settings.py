"""Issue #22 over HTTP: the editor's "Runs at once" setting (validated inline), and the Runs tab and run page
saying why a run waits: "queued: 2 running of 2 allowed"."""
import pytest
from sqlalchemy import select

from models import Workflow, db
from tests.factories import make_workflow, new_execution
from tests.http.test_workflows import editor_form


@pytest.fixture
def app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


def test_the_editor_saves_runs_at_once_and_rejects_bad_values_inline(logged_in):
    client, _, _ = logged_in("admin")
    response = client.post("/automations/new", data=editor_form(max_concurrent_runs="3"))
    assert response.status_code == 302
    workflow = db.session.scalar(select(Workflow))
    assert workflow.max_concurrent_runs == 3
    page = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert 'name="max_concurrent_runs" value="3"' in page
    for bad in ("0", "abc", "1001", "-2", "2.5"):
        response = client.post(f"/automations/{workflow.id}", data=editor_form(max_concurrent_runs=bad))
        assert response.status_code == 422, bad
        body = response.get_data(as_text=True)
        assert "Enter a whole number from 1 to 1000" in body and f'value="{bad}"' in body
        db.session.expire_all()
        assert db.session.get(Workflow, workflow.id).max_concurrent_runs == 3  # nothing saved
    response = client.post(f"/automations/{workflow.id}", data=editor_form(max_concurrent_runs=""))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Workflow, workflow.id).max_concurrent_runs is None  # empty: no limit


def test_a_member_sees_runs_at_once_but_cannot_change_it(logged_in):
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id, status="draft")
    page = client.get(f"/automations/{workflow.id}").get_data(as_text=True)
    assert 'id="max-concurrent-runs"' in page and 'name="max_concurrent_runs" value="" placeholder="No limit"' in page
    assert client.post(f"/automations/{workflow.id}", data=editor_form(max_concurrent_runs="")).status_code == 302
    assert client.post(f"/automations/{workflow.id}", data=editor_form(max_concurrent_runs="2")).status_code == 403
    db.session.expire_all()
    assert db.session.get(Workflow, workflow.id).max_concurrent_runs is None


def add_run(workflow, status):
    run = new_execution(workflow, {"deal": {"title": "Acme"}})
    run.status = status
    db.session.add(run)
    db.session.flush()
    return run


def test_a_run_held_back_by_the_cap_says_so_on_the_runs_tab_and_its_page(logged_in):
    client, ws, _ = logged_in()
    workflow = make_workflow(ws.id)
    workflow.max_concurrent_runs = 2
    add_run(workflow, "running"), add_run(workflow, "running")
    waiting = add_run(workflow, "pending")
    db.session.commit()
    listing = client.get("/automations/runs").get_data(as_text=True)
    assert "queued: 2 running of 2 allowed" in listing
    detail = client.get(f"/automations/runs/{waiting.id}").get_data(as_text=True)
    assert "Queued: 2 running of 2 allowed" in detail
    workflow.max_concurrent_runs = 3  # a slot is free: it is just waiting for a worker, no cap to explain
    db.session.commit()
    assert "running of" not in client.get(f"/automations/runs/{waiting.id}").get_data(as_text=True)
    assert "(queued)" in client.get("/automations/runs").get_data(as_text=True)


def test_workspace_max_running_is_named_when_it_holds_a_run(make_app, auth, workspace):
    app = make_app(ENGINE_HANDOFF="sweep", WORKSPACE_MAX_RUNNING=1)
    with app.app_context():
        ws = workspace()
        from tests.conftest import owner_of
        client = app.test_client()
        from tests.conftest import Auth
        Auth(client).login(owner_of(ws))
        workflow = make_workflow(ws.id)
        add_run(workflow, "running")
        waiting = add_run(workflow, "pending")
        db.session.commit()
        page = client.get(f"/automations/runs/{waiting.id}").get_data(as_text=True)
        assert "Queued: 1 running of 1 allowed in this workspace" in page

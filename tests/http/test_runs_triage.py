"""The Runs tab for triage (issue #22) over HTTP: bulk replay / cancel / delete of selected runs or of every run
matching the filter, "resolved by #N" and the Failed tab's count, "Completed with errors", search in run data;
tenant isolation and roles. Runs are made directly or run by the engine in the test (ENGINE_HANDOFF=sweep)."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from engine.runner import run_execution
from models import Deal, WorkflowExecution, db
from models.base import utcnow
from services import run_bulk_service, run_history_service
from services.run_history_service import RunFilter
from tests.factories import make_workflow
from tests.http.test_runs import add_run, add_runs, run_ids
from tests.support.engine import load_execution, log_step


@pytest.fixture
def app(make_app):
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


FAILED_RECORDS = [
    {"index": 0, "type": "log_event", "status": "completed", "attempts": 1, "output": {"audit_event_id": 7}, "error": None},
    {"index": 1, "type": "log_event", "status": "failed", "attempts": 1, "output": {}, "error": "Step 2 failed: boom"},
]


def text_of(response) -> str:
    return response.get_data(as_text=True)


def tab_count(response, tab) -> int:
    match = re.search(rf'data-tab="{tab}">\s*[\w ]+? <span class="badge[^"]*">([\d,]+)</span>', text_of(response))
    assert match, f"no count on the {tab} tab"
    return int(match.group(1).replace(",", ""))


def statuses() -> dict[int, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(WorkflowExecution.id, WorkflowExecution.status)).tuples().all())


def confirmed_count(response) -> int:
    match = re.search(r'id="bulk-count">\w+ <strong>([\d,]+)</strong> runs?\?', text_of(response))
    assert match, text_of(response)
    return int(match.group(1).replace(",", ""))


def hidden_fields(response) -> list[tuple[str, str]]:
    form = text_of(response).split('action="/automations/runs/bulk"', 1)[1].split("</form>", 1)[0]
    return re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)


def submit_confirmation(client, confirm):
    """POST the confirmation page's form as a browser would (its hidden fields; the default radio choices)."""
    data = [(name, value) for name, value in hidden_fields(confirm) if name != "csrf_token"]
    text = text_of(confirm)
    for name in ("mode", "definition"):
        checked = re.search(rf'name="{name}" id="[\w-]+" value="(\w+)" checked', text)
        if checked:
            data.append((name, checked.group(1)))
    return client.post("/automations/runs/bulk", data=MultiDict(data))


# -- bulk actions on selected runs -----------------------------------------------------------------
def test_cancel_selected_runs_names_the_count_first_and_leaves_finished_ones(logged_in):
    client, ws, _ = logged_in("admin")
    workflow = make_workflow(ws.id)
    pending = add_runs(workflow, 2, status="pending")
    paused = add_runs(workflow, 1, status="paused")
    done = add_runs(workflow, 1, status="completed")
    page = text_of(client.get("/automations/runs"))
    assert page.count('data-select-run') == 4 and 'data-select-page' in page

    selected = [run.id for run in pending + paused + done]
    confirm = client.get("/automations/runs/bulk", query_string={"action": "cancel", "run": selected})
    assert confirm.status_code == 200
    assert confirmed_count(confirm) == 3
    assert "1 of them is left as it is" in text_of(confirm)
    assert set(statuses().values()) == {"pending", "paused", "completed"}  # a GET changes nothing

    response = submit_confirmation(client, confirm)
    assert response.status_code == 302
    after = statuses()
    assert [after[run.id] for run in pending + paused] == ["cancelled"] * 3 and after[done[0].id] == "completed"
    assert "Cancelled 3 runs." in text_of(client.get(response.headers["Location"]))


def test_delete_every_failed_run_matching_the_filter_up_to_the_confirmed_one(logged_in):
    client, ws, _ = logged_in("owner")
    first, second = make_workflow(ws.id, name="First"), make_workflow(ws.id, name="Second")
    doomed = [run.id for run in add_runs(first, 4, status="failed", error="boom")]
    kept = [run.id for run in add_runs(second, 2, status="failed", error="boom") + add_runs(first, 1, status="running")]
    before = client.get(f"/automations/runs?status=failed&workflow={first.id}")
    assert tab_count(before, "failed") == 4 and "All 4 runs matching this filter" in text_of(before)

    confirm = client.get("/automations/runs/bulk", query_string={
        "action": "delete", "all": "1", "status": "failed", "workflow": first.id})
    assert confirmed_count(confirm) == 4
    late = [run.id for run in add_runs(first, 1, status="failed", error="boom")]  # after the confirmation: kept
    assert submit_confirmation(client, confirm).status_code == 302

    remaining = statuses()
    assert not any(run_id in remaining for run_id in doomed)
    assert all(run_id in remaining for run_id in kept + late)
    after = client.get(f"/automations/runs?workflow={first.id}")
    assert tab_count(after, "failed") == 1 and tab_count(after, "all") == 2  # the rollups forgot the deleted runs


def test_replay_selected_failed_runs_then_they_are_resolved_and_leave_the_failed_tab(logged_in):
    client, ws, _ = logged_in("owner")
    workflow = make_workflow(ws.id, error_strategy="stop", actions=[log_step("one"), log_step("two")])
    failed = add_runs(workflow, 3, status="failed", error="Step 2 failed: boom", records=FAILED_RECORDS)
    untouched = add_runs(workflow, 1, status="failed", error="Step 2 failed: boom", records=FAILED_RECORDS)
    assert tab_count(client.get("/automations/runs?status=failed"), "failed") == 4

    confirm = client.get("/automations/runs/bulk", query_string={"action": "replay", "run": [r.id for r in failed]})
    assert confirmed_count(confirm) == 3
    assert submit_confirmation(client, confirm).status_code == 302
    replays = {r.replay_of_id: r.id for r in db.session.scalars(
        select(WorkflowExecution).where(WorkflowExecution.replay_of_id.is_not(None)))}
    assert set(replays) == {run.id for run in failed}
    for replay_id in replays.values():
        run_execution(replay_id)
    assert all(load_execution(run.id).resolved_by_id == replays[run.id] for run in failed)
    assert load_execution(untouched[0].id).resolved_by_id is None

    failed_tab = client.get("/automations/runs?status=failed")
    assert tab_count(failed_tab, "failed") == 1 and run_ids(failed_tab) == [untouched[0].id]
    assert "3 failed runs resolved by a replay are hidden." in text_of(failed_tab)
    shown = client.get("/automations/runs?status=failed&resolved=show")
    assert tab_count(shown, "failed") == 4 and sorted(run_ids(shown)) == sorted(r.id for r in failed + untouched)
    assert f'data-resolved-by="{replays[failed[0].id]}"' in text_of(shown)
    assert f"resolved by #{replays[failed[0].id]}" in text_of(shown)

    detail = text_of(client.get(f"/automations/runs/{failed[0].id}"))
    assert 'id="run-resolved"' in detail and f"run #{replays[failed[0].id]}</a>, a replay of this run, completed" in detail
    assert "What now" not in detail and 'id="run-error"' not in detail
    assert "What now" in text_of(client.get(f"/automations/runs/{untouched[0].id}"))


def test_a_replay_that_fails_resolves_nothing_and_a_replay_of_it_resolves_both(logged_in):
    client, ws, _ = logged_in("owner")
    deal = Deal(workspace_id=ws.id, title="Gone soon")
    db.session.add(deal)
    db.session.commit()
    workflow = make_workflow(ws.id, error_strategy="stop", actions=[
        {"type": "update_deal", "config": {"deal_id": deal.id, "changes": {"notes": "x"}}}])
    db.session.delete(deal)
    db.session.commit()
    [original] = add_runs(workflow, 1, status="failed", error="No such deal.", records=[
        {"index": 0, "type": "update_deal", "status": "failed", "attempts": 1, "output": {}, "error": "No such deal."}])

    client.post(f"/automations/runs/{original.id}/replay", data={"mode": "start", "definition": "current"})
    first_replay = db.session.scalar(select(WorkflowExecution.id).where(WorkflowExecution.replay_of_id == original.id))
    run_execution(first_replay)
    assert load_execution(first_replay).status == "failed" and load_execution(original.id).resolved_by_id is None

    workflow.actions = [log_step("fixed")]
    db.session.commit()
    client.post(f"/automations/runs/{first_replay}/replay", data={"mode": "start", "definition": "current"})
    second_replay = db.session.scalar(select(WorkflowExecution.id).where(WorkflowExecution.replay_of_id == first_replay))
    run_execution(second_replay)
    assert load_execution(second_replay).status == "completed"
    assert load_execution(first_replay).resolved_by_id == second_replay
    assert load_execution(original.id).resolved_by_id == second_replay
    assert tab_count(client.get("/automations/runs?status=failed"), "failed") == 0


# -- batches and the background job ----------------------------------------------------------------------
class RecordingJobs:
    def __init__(self):
        self.calls = []

    def run_job(self, path, args, delay_seconds=0):
        self.calls.append((path, args))


def test_a_large_selection_goes_in_batches_and_the_rest_to_a_background_job(logged_in, monkeypatch):
    client, ws, _ = logged_in("owner")
    workflow = make_workflow(ws.id)
    runs = add_runs(workflow, 23, status="pending")
    jobs = RecordingJobs()
    monkeypatch.setattr(run_bulk_service, "jobs_of", lambda app: jobs)
    monkeypatch.setattr(run_bulk_service, "BATCH_SIZE", 5)
    monkeypatch.setattr(run_bulk_service, "REQUEST_BUDGET_SECONDS", 0.0)

    confirm = client.get("/automations/runs/bulk", query_string={"action": "cancel", "all": "1", "status": "pending"})
    assert confirmed_count(confirm) == 23
    response = submit_confirmation(client, confirm)
    assert "The rest continue in the background" in text_of(client.get(response.headers["Location"]))
    assert sorted(statuses().values()).count("cancelled") == 5  # one batch in the request, the oldest first
    assert all(statuses()[run.id] == "cancelled" for run in runs[:5])

    while jobs.calls:  # the worker's side: each job does a batch (its budget is spent) and queues the next
        path, args = jobs.calls.pop(0)
        assert path == run_bulk_service.JOB_PATH
        monkeypatch.setattr(run_bulk_service, "JOB_BUDGET_SECONDS", 0.0)
        run_bulk_service.continue_bulk_action(*args)
    assert set(statuses().values()) == {"cancelled"}


# -- roles, CSRF, tenants ---------------------------------------------------------------------------
def test_members_see_no_selection_and_may_not_act(logged_in):
    client, ws, _ = logged_in("member")
    runs = add_runs(make_workflow(ws.id), 2, status="failed", error="boom")
    page = text_of(client.get("/automations/runs"))
    assert "data-select-run" not in page and "bulk-form" not in page
    ids = [run.id for run in runs]
    assert client.get("/automations/runs/bulk", query_string={"action": "delete", "run": ids}).status_code == 403
    for action in ("replay", "cancel", "delete"):
        assert client.post("/automations/runs/bulk", data={"action": action, "run": ids}).status_code == 403
    assert len(statuses()) == 2


def test_bulk_actions_need_the_csrf_token_and_a_known_action(logged_in):
    client, ws, _ = logged_in("owner")
    [run] = add_runs(make_workflow(ws.id), 1, status="pending")
    assert client.post("/automations/runs/bulk", data={"action": "cancel", "run": [run.id]}, csrf=False).status_code == 400
    odd = client.post("/automations/runs/bulk", data={"action": "explode", "run": [run.id]}, follow_redirects=True)
    assert "Choose replay, cancel or delete." in text_of(odd)
    bad_id = client.post("/automations/runs/bulk", data={"action": "cancel", "run": ["1; DROP"]}, follow_redirects=True)
    assert "A selected run is not a run id." in text_of(bad_id)
    nothing = client.get("/automations/runs/bulk", query_string={"action": "cancel"}, follow_redirects=True)
    assert "Select at least one run." in text_of(nothing)
    assert statuses()[run.id] == "pending"


def test_bulk_actions_never_reach_another_workspace(logged_in, workspace):
    client, ws, _ = logged_in("owner")
    other_ws = workspace()
    foreign_workflow = make_workflow(other_ws.id, name="Theirs")
    foreign = add_runs(foreign_workflow, 2, status="failed", error="boom")
    mine = add_runs(make_workflow(ws.id), 1, status="failed", error="boom")[0].id
    ids = [run.id for run in foreign]

    for action in ("replay", "cancel", "delete"):
        confirm = client.get("/automations/runs/bulk", query_string={"action": action, "run": ids})
        assert "None of the 0 selected runs" in text_of(confirm)
        client.post("/automations/runs/bulk", data={"action": action, "run": ids + [mine] if action != "delete" else ids})
    every = client.get("/automations/runs/bulk", query_string={"action": "delete", "all": "1", "workflow": foreign_workflow.id},
                       follow_redirects=True)
    assert "Choose a workflow of this workspace." in text_of(every)
    client.post("/automations/runs/bulk", data={"action": "delete", "all": "1", "up_to_id": max(ids) + 10})  # mine only
    remaining = statuses()
    assert [remaining[run_id] for run_id in ids] == ["failed", "failed"]
    assert mine not in remaining
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)
                             .where(WorkflowExecution.replay_of_id.in_(ids))) == 0


# -- Completed with errors ----------------------------------------------------------------------------
def test_a_run_whose_step_failed_under_continue_on_error_is_completed_with_errors(logged_in):
    client, ws, _ = logged_in("member")
    deal = Deal(workspace_id=ws.id, title="Gone soon")
    db.session.add(deal)
    db.session.commit()
    workflow = make_workflow(ws.id, error_strategy="continue", actions=[
        {"type": "update_deal", "config": {"deal_id": deal.id, "changes": {"notes": "x"}}}, log_step("after")])
    db.session.delete(deal)
    db.session.commit()
    [with_errors] = add_runs(workflow, 1, status="pending")
    [clean] = add_runs(make_workflow(ws.id, name="Clean"), 1, status="pending")
    run_execution(with_errors.id)
    run_execution(clean.id)
    assert load_execution(with_errors.id).status == "completed" and load_execution(with_errors.id).error
    assert load_execution(clean.id).status == "completed" and load_execution(clean.id).error is None

    listing = client.get("/automations/runs")
    assert tab_count(listing, "completed_with_errors") == 1 and tab_count(listing, "completed") == 2
    rows = dict(re.findall(r'data-run-id="(\d+)" data-status="\w+">.*?data-status="(\w+)"', text_of(listing), re.S))
    assert rows == {str(with_errors.id): "completed_with_errors", str(clean.id): "completed"}
    filtered = client.get("/automations/runs?status=completed_with_errors")
    assert run_ids(filtered) == [with_errors.id]
    assert run_ids(client.get(f"/automations/runs?status=completed_with_errors&workflow={workflow.id}")) == [with_errors.id]
    assert run_ids(client.get("/automations/runs?status=completed_with_errors&from=2000-01-01&to=2000-01-02")) == []
    detail = text_of(client.get(f"/automations/runs/{with_errors.id}"))
    assert "Completed with errors" in detail and "the workflow continued with the next steps" in detail


# -- search in run data -------------------------------------------------------------------------------
def test_search_finds_payload_values_and_step_errors_within_the_filter(logged_in):
    client, ws, _ = logged_in("member")
    first, second = make_workflow(ws.id, name="First"), make_workflow(ws.id, name="Second")
    old = add_run(second, payload={"customer": "Ada Lovelace"}, created_at=utcnow() - timedelta(days=40))  # ids grow with time
    order = add_run(first, payload={"order": {"ref": "ORD-1042", "total": 1000}, "customer": "Ada Lovelace"})
    other_order = add_run(first, payload={"order": {"ref": "ORD-2077", "total": 100}})
    step_error = add_run(second, status="completed", error="Step 1 failed: mailbox unavailable", records=[
        {"index": 0, "type": "log_event", "status": "failed", "error": "Step 1 failed: mailbox unavailable"}])
    db.session.commit()

    def found(query, **args):
        response = client.get("/automations/runs", query_string={"q": query, **args})
        assert response.status_code == 200, text_of(response)
        return sorted(run_ids(response))

    assert found("ord-1042") == [order.id]  # any case
    assert found("ORD-") == sorted([order.id, other_order.id])
    assert found("lovelace") == sorted([order.id, old.id])
    assert found("lovelace", workflow=second.id) == [old.id]
    today = utcnow().date().isoformat()
    assert found("lovelace", **{"from": today, "to": today}) == [order.id]
    assert found("mailbox unavail") == [step_error.id]
    assert found("1000") == [order.id]  # numbers are values too
    assert found("customer") == [] and found("order") == []  # keys are not searched
    assert found("100%") == []  # LIKE's wildcards are plain characters
    assert found("mailbox", status="completed_with_errors") == [step_error.id]
    short = client.get("/automations/runs?q=ab")
    assert short.status_code == 422 and "Type at least 3 characters to search run data." in text_of(short)


def test_search_matches_words_and_word_beginnings_not_the_middle_of_a_word(logged_in):
    """What the words index finds (services.run_search): a run's words are its values split at spaces and
    quotes/commas/brackets, plus their letter-and-digit parts; every word of the search must be a whole word of the
    run, except the last, which may be a word's beginning (not a number); a word with punctuation also matches as
    its parts."""
    client, ws, _ = logged_in("member")
    workflow = make_workflow(ws.id)
    email = add_run(workflow, payload={"contact": {"email": "Ada.Lovelace@Example.test", "phone": "+44 20 7946 0958"},
                                       "deal": {"title": "Engines (analytical), phase 2", "value": 12.5}})
    ref = add_run(workflow, payload={"ref": "ORD-1042/B", "note": "line one\nline two"})
    numbers = add_run(workflow, payload={"count": 4201, "code": "x_y"})
    failed = add_run(workflow, status="failed", error="Step 2 failed: HTTP 503 from api.example.test",
                     records=[{"index": 1, "type": "http_request", "status": "failed", "error": "Step 2 failed: HTTP 503"}])
    test_run = add_run(workflow, payload={"ref": "ORD-1042/B"}, mode="test")
    db.session.commit()

    def found(query, **args):
        response = client.get("/automations/runs", query_string={"q": query, **args})
        assert response.status_code == 200, text_of(response)
        return sorted(run_ids(response))

    # whole values, their beginnings, and their parts
    assert found("ada.lovelace@example.test") == [email.id]
    assert found("ADA.LOVE") == [email.id]  # the beginning of the email
    assert found("lovelace") == [email.id] and found("lovel") == [email.id]  # a part, and its beginning
    assert found("example.test") == sorted([email.id, failed.id])  # parts of a value: "example" and "test…"
    assert found("@example.test") == sorted([email.id, failed.id])  # leading punctuation is ignored
    assert found("ord-1042") == [ref.id] and found("1042") == [ref.id] and found("ord-1042/b") == [ref.id]
    assert found("analytical phase") == [email.id]  # every word, in any order, brackets and commas split
    assert found("phase analyt") == [email.id] and found("analyt phase") == []  # only the last word as a beginning
    assert found("line two") == [ref.id]  # a JSON escape (\n) separates words
    assert found("12.5") == [email.id] and found("7946") == [email.id]
    assert found("503 http") == [failed.id]  # the run's error and its steps' errors
    assert found("x_y") == [numbers.id]
    # what it does not find: the middle or end of a word, a longer number's start, a word not in the run
    assert found("lace") == [] and found("velace@example.test") == []
    assert found("420") == [] and found("4201") == [numbers.id]  # numbers match whole
    assert found("lovelace 503") == []  # both words must be in one run
    assert found("---") == []  # nothing to search for
    # test runs only under the Tests filter, as every other condition of the list
    assert found("ord-1042", mode="test") == [test_run.id]
    assert found("lovelace", status="failed") == [] and found("example.test", status="failed") == [failed.id]


def test_search_words_of_postgresql_are_the_words_of_the_sqlite_rule(app, workspace):
    """The generated column's words (migration e0220000a122) and services.run_search.run_words agree."""
    from services import run_search

    if db.engine.dialect.name != "postgresql":
        pytest.skip("the generated tsvector exists on PostgreSQL only")
    workflow = make_workflow(workspace().id)
    payloads = [{"contact": {"email": "Ada.Lovelace@Example.test"}, "n": 12.5, "deal": {"id": 7, "title": "Deal 7"}},
                {"text": "a (b), c; [d] {e} <f> |g| `h` 'i' \"j\" k\\l m\tn o\np", "flag": True, "none": None},
                {"long": "x" * 250 + "-tail", "unicode": "Ünïcode straße"}, {}]
    runs = [add_run(workflow, payload=payload, error="Step 1 failed: HTTP 503 (timeout)",
                    records=[{"index": 0, "error": "boom: it's gone"}, {"index": 1, "error": None}]) for payload in payloads]
    db.session.commit()
    for run in runs:
        stored = db.session.scalar(select(func.tsvector_to_array(WorkflowExecution.search_words))
                                   .where(WorkflowExecution.id == run.id))
        expected = run_search.run_words([*run_search._payload_values(run.trigger_payload), run.error,
                                         "boom: it's gone"])
        assert set(stored) == expected, run.trigger_payload


def test_search_and_select_all_matching_stay_in_the_workspace(logged_in, workspace):
    client, ws, _ = logged_in("owner")
    other_ws = workspace()
    theirs = add_run(make_workflow(other_ws.id), status="failed", payload={"ref": "SHARED-REF"}, error="boom").id
    mine = add_run(make_workflow(ws.id), status="failed", payload={"ref": "SHARED-REF"}, error="boom").id
    db.session.commit()
    assert run_ids(client.get("/automations/runs?q=shared-ref")) == [mine]

    confirm = client.get("/automations/runs/bulk", query_string={"action": "delete", "all": "1", "q": "shared-ref"})
    assert confirmed_count(confirm) == 1 and "whose data contains “shared-ref”" in text_of(confirm)
    submit_confirmation(client, confirm)
    assert set(statuses()) == {theirs}

    signed_out = client.application.test_client()
    assert signed_out.get("/automations/runs?q=shared-ref").status_code in (302, 401)  # no search without a session


def test_the_replay_confirmation_names_a_paused_workflow_and_the_way_to_fix_it(logged_in):
    """Replaying the failed runs of a workflow that is still paused replays its unfixed definition: the
    confirmation says so and links to "Fix and activate" (selected runs and every run matching alike)."""
    client, ws, _ = logged_in("owner")
    paused = make_workflow(ws.id, name="Sync to the ERP", error_strategy="stop", actions=[log_step("one"), log_step("two")])
    paused.status, paused.paused_reason = "paused", "Paused automatically after 5 failed runs in a row."
    active = make_workflow(ws.id, name="Billing", error_strategy="stop", actions=[log_step("one"), log_step("two")])
    paused_runs = add_runs(paused, 2, status="failed", error="Step 2 failed: boom", records=FAILED_RECORDS)
    active_runs = add_runs(active, 2, status="failed", error="Step 2 failed: boom", records=FAILED_RECORDS)

    mixed = text_of(client.get("/automations/runs/bulk", query_string={
        "action": "replay", "run": [paused_runs[0].id, active_runs[0].id]}))
    assert 'id="bulk-paused"' in mixed and "Sync to the ERP" in mixed
    assert f'href="/automations/{paused.id}#paused-reason">Fix and activate</a>' in mixed
    every = text_of(client.get("/automations/runs/bulk", query_string={"action": "replay", "all": "1", "status": "failed"}))
    assert 'id="bulk-paused"' in every
    only_active = client.get("/automations/runs/bulk", query_string={"action": "replay", "run": [r.id for r in active_runs]})
    assert 'id="bulk-paused"' not in text_of(only_active)
    delete = client.get("/automations/runs/bulk", query_string={"action": "delete", "run": [paused_runs[1].id]})
    assert 'id="bulk-paused"' not in text_of(delete)  # only a replay runs the workflow again


@pytest.mark.parametrize("walk_rows", [1, 2, 4, 9, 2000])
def test_a_search_within_dates_pages_alike_whether_it_walks_the_newest_runs_first_or_asks_the_index(
        app, workspace, monkeypatch, walk_rows):
    """A search within dates first looks at the range's newest SEARCH_WALK_ROWS runs (PostgreSQL's plan for a
    common word, run_history_service._Listing); whatever that number, every page holds the same runs as the
    plain search, back and forth. SQLite is walked too here, so both databases check the rule."""
    monkeypatch.setattr(run_history_service, "SEARCH_WALK_ROWS", walk_rows)
    monkeypatch.setattr(run_history_service, "SEARCH_WALK_MIN_HITS", 1)  # the deeper walk too
    monkeypatch.setattr(run_history_service, "SEARCH_WALK_MAX_ROWS", 2 * walk_rows)
    monkeypatch.setattr(run_history_service, "WALK_FIRST_DIALECTS", {"postgresql", "sqlite"})
    ws = workspace()
    workflow = make_workflow(ws.id)
    add_run(workflow, error="mailbox unavailable", created_at=utcnow() - timedelta(days=3))  # outside the dates
    runs = [add_run(workflow, error="mailbox unavailable" if n % 3 else None, payload={"order": f"ORD-{n}"})
            for n in range(14)]
    add_run(workflow, status="failed", error="mailbox full")  # another status
    db.session.commit()
    today = utcnow().date()
    expected = {"mailbox": [run.id for run in reversed(runs) if run.error], "ord-7": [runs[7].id],
                "ord": [run.id for run in reversed(runs)], "nothing-like-it": []}
    for term, ids in expected.items():
        run_filter = RunFilter(status="completed", date_from=today, date_to=today, search=term)
        pages, before = [], None
        while True:
            page = run_history_service.list_runs(ws.id, run_filter, before=before, page_size=3)
            pages.append([run.id for run in page.runs])
            if page.older_cursor is None:
                break
            assert page.newer_cursor is None or len(pages) > 1
            before = run_history_service.parse_cursor(page.older_cursor)
        assert [run_id for page in pages for run_id in page] == ids, term
        if len(pages) > 2:  # and back: the page newer than the last one is the one before it
            newer = run_history_service.list_runs(ws.id, run_filter, after=pages[-1][0], page_size=3)
            assert [run.id for run in newer.runs] == pages[-2], term

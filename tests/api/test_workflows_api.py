"""/api/v1/workflows: the definition shape of DESIGN.md in and out, through the workflow service."""
from sqlalchemy import func, select

from engine.runtime.runner import run_execution
from models import AuditEvent, Workflow, WorkflowExecution, db
from services import quick_rules_service
from tests.api.conftest import ApiClient, errors_of, issue_token
from tests.conftest import owner_of

DEFINITION = {
    "name": "Deal won → thank-you email",
    "description": "Say thanks",
    "trigger": {"type": "deal_closed_won", "config": {}},
    "conditions": [{"field": "deal.value", "op": "gte", "value": 1000}],
    "actions": [
        {"type": "send_template_email", "delay_seconds": 0,
         "config": {"to": "{{ trigger.contact.email }}", "subject": "Thank you", "body": "Thanks!"}},
        {"type": "log_event", "config": {"event": "deal_won", "message": "{{ trigger.deal.title }}"}},
    ],
    "error_strategy": "continue",
}


def create(client, **changes):
    response = client.post("/workflows", json={**DEFINITION, **changes})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_create_returns_the_definition_shape(api):
    client = api("member")
    body = create(client)
    assert body["id"] and body["status"] == "draft" and body["version"] == 1
    for key in ("name", "description", "trigger", "conditions", "error_strategy"):
        assert body[key] == DEFINITION[key]
    assert [a["type"] for a in body["actions"]] == ["send_template_email", "log_event"]
    assert body["created_by_id"] == client.user.id
    workflow = db.session.get(Workflow, body["id"])
    assert workflow.workspace_id == client.workspace.id


def switch_on_a_quick_rule(client) -> Workflow:
    """Settings → Quick Rules switches a rule on: its hidden, active workflow."""
    quick_rules_service.ensure_system_rules()
    rule = quick_rules_service.list_rules(client.workspace.id)[0]["rule"]
    row = quick_rules_service.set_rule_enabled(client.workspace.id, rule.id, True, owner_of(client.workspace))
    db.session.commit()
    return db.session.get(Workflow, row["setting"].workflow_id)


def test_list_get_and_filter_by_status(api):
    client = api()
    first, second = create(client, name="One"), create(client, name="Two", status="active")
    listed = client.get("/workflows").get_json()["data"]
    assert {w["id"] for w in listed} == {first["id"], second["id"]}
    assert [w["id"] for w in client.get("/workflows?status=active").get_json()["data"]] == [second["id"]]
    assert client.get("/workflows?status=bogus").status_code == 422
    assert client.get(f"/workflows/{first['id']}").get_json()["name"] == "One"


def test_invalid_definitions_are_422_with_dotted_field_paths(api):
    client = api()
    response = client.post("/workflows", json={
        **DEFINITION, "name": "", "actions": [{"type": "send_template_email", "config": {"to": "not-an-email"}}],
        "trigger": {"type": "no_such_trigger"}})
    assert response.status_code == 422
    errors = errors_of(response)
    assert "name" in errors and "trigger.type" in errors
    assert "actions.0.config.to" in errors and "actions.0.config.subject" in errors
    assert db.session.scalar(select(Workflow)) is None


def test_wrong_types_and_unknown_fields_are_422(api):
    client = api()
    assert "name" in errors_of(client.post("/workflows", json={**DEFINITION, "name": 42}))
    assert "actions" in errors_of(client.post("/workflows", json={**DEFINITION, "actions": "log"}))
    response = client.post("/workflows", json={**DEFINITION, "owner": "me"})
    assert response.status_code == 422 and errors_of(response) == {"owner": ["Unknown field."]}
    response = client.post("/workflows", json=[DEFINITION])
    assert response.status_code == 422 and "_schema" in errors_of(response)


def test_bad_json_is_400(api):
    client = api()
    response = client.post("/workflows", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["message"] == "The body is not valid JSON."
    assert db.session.scalar(select(Workflow)) is None


def test_patch_changes_only_the_given_fields(api):
    client = api()
    workflow = create(client, status="active")
    response = client.patch(f"/workflows/{workflow['id']}", json={"name": "Renamed"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["name"] == "Renamed" and body["status"] == "active" and body["version"] == 2
    assert body["actions"] == workflow["actions"]
    response = client.patch(f"/workflows/{workflow['id']}", json={"actions": []})
    assert response.status_code == 422 and "actions" in errors_of(response)
    assert client.patch(f"/workflows/{workflow['id']}", json={"colour": "red"}).status_code == 422
    assert client.get(f"/workflows/{workflow['id']}").get_json()["name"] == "Renamed"


def test_activate_pause_archive(api):
    client = api("member")
    workflow = create(client)
    for verb, status in (("activate", "active"), ("pause", "paused"), ("activate", "active"), ("archive", "archived")):
        response = client.post(f"/workflows/{workflow['id']}/{verb}")
        assert response.status_code == 200 and response.get_json()["status"] == status
    assert client.post(f"/workflows/{workflow['id']}/activate", json={"now": True}).status_code == 422


def test_members_cannot_delete_owners_and_admins_can(api, user):
    member = api("member")
    workflow = create(member)
    response = member.delete(f"/workflows/{workflow['id']}")
    assert response.status_code == 403 and response.is_json
    assert db.session.get(Workflow, workflow["id"]) is not None
    admin = ApiClient(member.client, issue_token(member.workspace, user(member.workspace, "admin")),
                      member.workspace, None)
    assert admin.delete(f"/workflows/{workflow['id']}").status_code == 204
    db.session.expire_all()
    assert db.session.get(Workflow, workflow["id"]) is None
    assert admin.get(f"/workflows/{workflow['id']}").status_code == 404


def test_other_workspaces_workflows_are_404(api):
    theirs = create(api())
    mine = api()
    wid = theirs["id"]
    for method, path in (("GET", f"/workflows/{wid}"), ("PATCH", f"/workflows/{wid}"), ("DELETE", f"/workflows/{wid}"),
                         ("POST", f"/workflows/{wid}/activate"), ("POST", f"/workflows/{wid}/run")):
        response = mine.request(method, path, json={} if method != "GET" else None)
        assert response.status_code == 404, (method, path)
        assert response.is_json
    assert mine.get("/workflows").get_json()["data"] == []
    assert mine.get("/workflows/99999999999999999999999").status_code == 404


def test_quick_rule_workflows_are_not_listed(api):
    client = api()
    mine = create(client, name="Mine", status="active")
    hidden = switch_on_a_quick_rule(client)
    assert hidden.status == "active"
    assert [w["id"] for w in client.get("/workflows").get_json()["data"]] == [mine["id"]]
    assert [w["id"] for w in client.get("/workflows?status=active").get_json()["data"]] == [mine["id"]]


def test_quick_rule_workflows_are_404_and_stay_unchanged(api):
    client = api()  # the owner: DELETE is allowed to owners, so a 404 is the rule, not the role
    hidden = switch_on_a_quick_rule(client)
    wid = hidden.id
    before = (hidden.name, hidden.status, hidden.version, hidden.actions, hidden.trigger, hidden.updated_at)
    audited = db.session.scalar(select(func.count()).select_from(AuditEvent))
    for method, path, body in (("GET", f"/workflows/{wid}", None),
                               ("PATCH", f"/workflows/{wid}", {"name": "Hijacked", "actions": []}),
                               ("PATCH", f"/workflows/{wid}", {"name": "Hijacked"}),
                               ("DELETE", f"/workflows/{wid}", None),
                               ("POST", f"/workflows/{wid}/activate", {}),
                               ("POST", f"/workflows/{wid}/pause", {}),
                               ("POST", f"/workflows/{wid}/archive", {}),
                               ("POST", f"/workflows/{wid}/run", {"payload": {"deal": {"title": "x"}}})):
        response = client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.get_data(as_text=True))
        assert "Quick Rules" in response.get_json()["message"], (method, path)
    db.session.expire_all()
    workflow = db.session.get(Workflow, wid)
    assert workflow is not None
    assert (workflow.name, workflow.status, workflow.version, workflow.actions, workflow.trigger,
            workflow.updated_at) == before
    assert db.session.scalar(select(func.count()).select_from(WorkflowExecution)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audited
    # Settings → Quick Rules still switches it (through its own service).
    rule_id = quick_rules_service.list_rules(client.workspace.id)[0]["rule"].id
    quick_rules_service.set_rule_enabled(client.workspace.id, rule_id, False, owner_of(client.workspace))
    db.session.commit()
    assert db.session.get(Workflow, wid).status == "paused"


def test_run_now_with_a_payload_completes(sweep_api):
    client = sweep_api("member")
    workflow = create(client)
    payload = {"deal": {"title": "Big one", "value": 5}, "contact": {"email": "ada@example.test"}}
    response = client.post(f"/workflows/{workflow['id']}/run", json={"payload": payload})
    assert response.status_code == 202, response.get_data(as_text=True)
    execution = response.get_json()
    assert execution["status"] == "pending" and execution["workflow_id"] == workflow["id"]
    assert execution["trigger_payload"] == payload and execution["source"] == "manual"
    run_execution(execution["id"])
    body = client.get(f"/executions/{execution['id']}").get_json()
    assert body["status"] == "completed"
    assert [step["status"] for step in body["completed_actions"]] == ["completed", "completed"]


def test_run_now_without_a_payload_uses_the_sample_and_rejects_non_objects(sweep_api):
    client = sweep_api()
    workflow = create(client)
    response = client.post(f"/workflows/{workflow['id']}/run")
    assert response.status_code == 202 and response.get_json()["trigger_payload"]["deal"]
    response = client.post(f"/workflows/{workflow['id']}/run", json={"payload": [1, 2]})
    assert response.status_code == 422 and "payload" in errors_of(response)
    assert len(list(db.session.scalars(select(WorkflowExecution)))) == 1


def test_unsupported_methods_are_405_json(api):
    client = api()
    response = client.request("PUT", "/workflows")
    assert response.status_code == 405 and response.is_json


def test_with_the_feature_flag_off_workflow_routes_are_404(make_app, workspace):
    app = make_app(AUTOMATIONS_ENABLED=False)
    with app.app_context():
        ws = workspace()
        client = ApiClient(app.test_client(), issue_token(ws, owner_of(ws)), ws, None)
        assert client.get("/workflows").status_code == 404
        assert client.get("/catalog").status_code == 404
        assert client.get("/executions").status_code == 404
        assert client.get("/deals").status_code == 200  # the business modules do not depend on the flag


def test_catalog_lists_triggers_and_actions_with_their_fields(api):
    body = api("member").get("/catalog").get_json()
    triggers = {t["key"]: t for t in body["triggers"]}
    actions = {a["type"]: a for a in body["actions"]}
    assert "deal_created" in triggers and "scheduled" in triggers
    assert any(f["name"] == "cron" for f in triggers["scheduled"]["config_fields"])
    assert any(f["path"] == "deal.title" for f in triggers["deal_created"]["payload_fields"])
    assert {f["name"] for f in actions["send_template_email"]["fields"]} >= {"to", "subject", "body"}


V2_ACTIONS = [
    {"id": "a1", "type": "log_event", "config": {"event": "seen", "message": "{{ trigger.deal.title }}"}},
    {"id": "b1", "type": "branch",
     "config": {"match": "any", "conditions": [{"field": "deal.value", "op": "gte", "value": 10000},
                                               {"field": "steps.a1.output.event", "op": "eq", "value": "vip"}]},
     "then": [{"id": "a2", "type": "log_event", "config": {"event": "big"}}],
     "else": [{"type": "log_event", "config": {"event": "small"}}]},
    {"id": "a4", "type": "log_event", "config": {"event": "done", "message": "{{ steps.a2.output.event }}"}},
]


def test_a_v2_definition_round_trips_with_branches_ids_and_conditions_match(sweep_api):
    client = sweep_api("member")
    body = create(client, actions=V2_ACTIONS, conditions_match="any", trigger={"type": "deal_created", "config": {}})
    assert body["conditions_match"] == "any"
    branch = body["actions"][1]
    assert branch["config"]["match"] == "any" and branch["then"][0]["id"] == "a2"
    assert branch["else"][0]["id"] and branch["else"][0]["id"] not in ("a1", "b1", "a2", "a4")  # given by the server
    again = client.get(f"/workflows/{body['id']}").get_json()
    assert again["actions"] == body["actions"]
    patched = client.patch(f"/workflows/{body['id']}", json={"conditions_match": "all"}).get_json()
    assert patched["conditions_match"] == "all" and patched["actions"] == body["actions"]
    run = client.post(f"/workflows/{body['id']}/run", json={"payload": {"deal": {"value": 50000, "title": "Big"}}})
    assert run.status_code == 202
    run_execution(run.get_json()["id"])
    steps = client.get(f"/executions/{run.get_json()['id']}").get_json()["completed_actions"]
    assert [(s["path"], s["id"], s["status"]) for s in steps] == [
        ("0", "a1", "completed"), ("1", "b1", "completed"), ("1.then.0", "a2", "completed"),
        ("1.else.0", branch["else"][0]["id"], "skipped"), ("2", "a4", "completed")]
    assert steps[3]["output"] == {"reason": "branch not taken"} and steps[4]["input"]["message"] == "big"


def test_v2_mistakes_are_422_with_nested_field_paths(api):
    client = api("member")
    wrong = [dict(V2_ACTIONS[0]), dict(V2_ACTIONS[1], then=[{"id": "a1", "type": "send_template_email",
                                                           "config": {"to": "nope", "subject": "s", "body": "b"}}],
                                       **{"else": [{"type": "log_event", "config": {"event": "x", "message": "{{ steps.zz.output.q }}"}}]})]
    response = client.post("/workflows", json={**DEFINITION, "actions": wrong})
    assert response.status_code == 422
    assert "actions.1.then.0.config.to" in errors_of(response)
    fixed_to = [wrong[0], dict(wrong[1], then=[dict(wrong[1]["then"][0], config={"to": "a@b.co", "subject": "s", "body": "b"})])]
    response = client.post("/workflows", json={**DEFINITION, "actions": fixed_to})
    assert response.status_code == 422
    assert errors_of(response) == {"actions.1.then.0.id": ["Another step already has the id 'a1'."],
                                   "actions.1.else.0.config.message": ["There is no step with the id 'zz'."]}
    response = client.post("/workflows", json={**DEFINITION, "conditions_match": "some"})
    assert response.status_code == 422 and "conditions_match" in errors_of(response)


def test_max_concurrent_runs_is_a_validated_setting(api):
    """Issue #22: settings.max_concurrent_runs through PATCH: a whole number from 1 to 1000, or null (no cap)."""
    member = api("member")
    workflow = create(member, status="active")
    assert workflow["settings"] == {"max_concurrent_runs": None}
    response = member.patch(f"/workflows/{workflow['id']}", json={"settings": {"max_concurrent_runs": 2}})
    assert response.status_code == 403  # an operating setting: owners and admins
    client = api("admin", ws=member.workspace)
    for bad in (0, -1, 1001, 2.5, "3", True, "many"):
        response = client.patch(f"/workflows/{workflow['id']}", json={"settings": {"max_concurrent_runs": bad}})
        assert response.status_code == 422, bad
        assert "settings.max_concurrent_runs" in errors_of(response)
    assert client.patch(f"/workflows/{workflow['id']}", json={"settings": {"colour": 1}}).status_code == 422
    response = client.patch(f"/workflows/{workflow['id']}", json={"settings": {"max_concurrent_runs": 2}})
    assert response.status_code == 200 and response.get_json()["settings"] == {"max_concurrent_runs": 2}
    assert response.get_json()["version"] == workflow["version"]  # a setting is not a new version
    assert client.get(f"/workflows/{workflow['id']}").get_json()["settings"]["max_concurrent_runs"] == 2
    response = client.patch(f"/workflows/{workflow['id']}", json={"settings": {"max_concurrent_runs": None}})
    assert response.get_json()["settings"] == {"max_concurrent_runs": None}

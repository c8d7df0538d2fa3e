"""The History tab's readable diff (engine.core.definition_diff): steps matched by id, in branches too."""
from engine.core.definition_diff import diff_definitions


def log(step_id, message="m"):
    return {"id": step_id, "type": "log_event", "config": {"event": "e", "message": message}}


def base():
    return {
        "name": "W", "description": "", "error_strategy": "continue", "conditions_match": "all",
        "trigger": {"type": "deal_created", "config": {}},
        "conditions": [{"field": "deal.value", "op": "gte", "value": 1000}],
        "actions": [log("a"), {"id": "split", "type": "branch",
                               "config": {"match": "all", "conditions": [{"field": "deal.value", "op": "gte", "value": 5}]},
                               "then": [log("t1"), log("t2")], "else": [log("e1")]}, log("z")],
    }


def kinds(changes):
    return [(change["kind"], change.get("step")) for change in changes]


def test_the_same_definition_has_no_changes():
    assert diff_definitions(base(), base()) == []


def test_a_step_moved_into_the_else_path_is_moved_not_removed_and_added():
    new = base()
    moved = new["actions"][1]["then"].pop(0)
    new["actions"][1]["else"].append(moved)
    changes = diff_definitions(base(), new)
    assert kinds(changes) == [("moved", "t1")]
    assert "from the Then path of step 'split' to the Else path of step 'split'" in changes[0]["text"]


def test_reordering_the_main_line_reports_only_the_step_that_moved():
    new = base()
    new["actions"] = [new["actions"][2], new["actions"][0], new["actions"][1]]
    assert kinds(diff_definitions(base(), new)) == [("moved", "z")]


def test_added_removed_and_changed_fields_old_to_new():
    new = base()
    new["actions"][1]["then"][1]["config"]["message"] = "hello"
    new["actions"][1]["else"] = []
    new["actions"].append(log("added"))
    changes = diff_definitions(base(), new)
    assert sorted(kinds(changes)) == [("added", "added"), ("changed", "t2"), ("removed", "e1")]
    changed = next(c for c in changes if c["kind"] == "changed")
    assert changed["fields"] == [("Message", "m", "hello")]
    assert "Changed step 2 › Then 2" in changed["text"]


def test_trigger_conditions_and_branch_conditions_in_words():
    new = base()
    new["trigger"] = {"type": "deal_closed_won", "config": {}}
    new["conditions"] = [{"field": "deal.value", "op": "gte", "value": 5000}]
    new["conditions_match"] = "any"
    new["actions"][1]["config"]["conditions"][0]["value"] = 10
    new["error_strategy"] = "stop"
    texts = [c["text"] for c in diff_definitions(base(), new)]
    assert any(t.startswith("Trigger changed from CRM · Deal Created to CRM · Deal") for t in texts), texts
    assert any("Conditions changed" in t and "5,000" in t for t in texts), texts
    assert any("now stop the run" in t for t in texts)
    branch = next(c for c in diff_definitions(base(), new) if c.get("step") == "split")
    assert branch["fields"][0][0] == "Condition" and "≥ 10" in branch["fields"][0][2]

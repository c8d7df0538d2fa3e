"""The editor's test runs (issue #20): the Test panel's samples, Test (the unsaved definition) and Test this step.

The panel posts the editor's whole form; the definition is read from it as Save reads it, validated, then run
as a test run (webapp.test_runs.run_test). The results partial shows each step's rendered input and output.
"""
import json
from datetime import datetime, timezone

from flask import Blueprint, g, render_template, request

from engine.core.catalog import TRIGGERS, sample_payload
from engine.core.schemas import assign_step_ids
from engine.core.steps import BRANCH, BRANCH_NOT_TAKEN, StepAddress, StepPlan
from engine.core.wording import conditions_words, effects_words
from services import test_run_service
from services.common import is_plain_int
from services.errors import ValidationFailed
from services.test_run_service import TestRequest
from webapp.editor_form import definition_from_form, position_in_order
from webapp.security import editable_workflow_or_404, gate_behind_automations_flag
from webapp.test_runs import run_test

bp = Blueprint("test_runs", __name__, url_prefix="/automations/editor")
gate_behind_automations_flag(bp)


def ago(moment: datetime) -> str:
    """"3 min ago", "2 h ago", "just now"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = max(0, int((datetime.now(timezone.utc) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


@bp.app_template_global()
def run_effects(workflow) -> str:
    """"sends 1 email, creates 1 deal": what Run for real now does (the saved definition)."""
    return effects_words(workflow.actions)


@bp.app_template_filter("pretty_json")
def pretty_json(value) -> str:
    """JSON for people: indented, non-ASCII letters as they are (the template escapes it for HTML)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@bp.app_template_global()
def step_label(record: dict) -> str:
    """How people name a recorded step: "3", or "3 › Then 1" inside the third step's branch."""
    path = record.get("path")
    if not path:
        return str((record.get("index") or 0) + 1)
    return StepAddress(tuple(int(part) if part.isdigit() else part for part in path.split("."))).label


def not_run_on_sample(execution, stop_after: str | None) -> dict | None:
    """"Test this step" on a step inside a branch path this sample does not take: the test stopped there (the
    runner ends it with that step); which branch decided, the path it took and its conditions, for the panel."""
    records = execution.completed_actions or []
    if not stop_after or not records:
        return None
    last = records[-1]
    if last.get("id") != stop_after or (last.get("output") or {}).get("reason") != BRANCH_NOT_TAKEN:
        return None
    path = last.get("path") or ""
    for record in records:  # the outermost branch whose decision leaves this step out
        prefix, output = record.get("path") or str(record.get("index")), record.get("output") or {}
        if record.get("type") != BRANCH or record.get("status") != "completed" or not path.startswith(prefix + "."):
            continue
        if path.startswith(f"{prefix}.{output.get('path')}."):
            continue
        config = record.get("input") if isinstance(record.get("input"), dict) else {}
        return {"step": step_label(last), "branch": step_label(record), "took": str(output.get("path", "")).capitalize(),
                "held": bool(output.get("matched")),
                "conditions": conditions_words(config.get("conditions"), config.get("match") or "all",
                                               execution.trigger_type)}
    return None


# Columns a summary of a would-be row leaves out: the workspace, ids and times the database gives it.
UNSAID_COLUMNS = {"id", "workspace_id", "created_at", "updated_at", "idempotency_key"}
NAMING_COLUMNS = ("title", "name", "subject", "event", "to")
SUMMARY_FIELDS = 6
SUMMARY_VALUE_CHARS = 80


def _record_words(table: str) -> str:
    """"audit_events" -> "audit event", "activities" -> "activity"."""
    words = str(table).replace("_", " ")
    return words[:-3] + "y" if words.endswith("ies") else words[:-1] if words.endswith("s") else words


def _value_words(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SUMMARY_VALUE_CHARS else text[:SUMMARY_VALUE_CHARS - 1] + "…"


def _a(words: str) -> str:
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


def _fields_words(values: dict) -> str:
    said = sorted(((name, value) for name, value in (values or {}).items()
                   if name not in UNSAID_COLUMNS and not name.endswith("_at") and not isinstance(value, (dict, list))),
                  key=lambda item: item[0] not in NAMING_COLUMNS)  # what names the row first, then in table order
    words = "; ".join(f"{name} = {_value_words(value)}" for name, value in said[:SUMMARY_FIELDS])
    return words + (f"; and {len(said) - SUMMARY_FIELDS} more" if len(said) > SUMMARY_FIELDS else "")


@bp.app_template_filter("would_do")
def would_do(step: dict) -> list[str]:
    """A test step's output in sentences: the path a branch took, the rows it would create, change or delete, the
    request it would send, who it would notify, how long it would wait (the email it would send has its own box)."""
    output = step.get("output")
    if not isinstance(output, dict):
        return []
    lines = []
    if step.get("type") == BRANCH and output.get("path") in ("then", "else"):
        lines.append(f"Takes the {output['path'].capitalize()} path: its conditions "
                     f"{'hold' if output.get('matched') else 'do not hold'} for this data")
    if isinstance(output.get("would_call"), dict):
        call = output["would_call"]
        lines.append(f"Would {call.get('method', 'POST')} to {call.get('url')} (not called)")
    if isinstance(output.get("would_notify"), dict):
        notify = output["would_notify"]
        people = len(notify.get("user_ids") or [])
        lines.append(f"Would notify {people} {'person' if people == 1 else 'people'}: “{notify.get('title', '')}”")
    if output.get("would_wait_first"):
        lines.append(f"Would wait {output['would_wait_first']} before this step")
    if output.get("would_wait"):
        lines.append(f"Would wait {output['would_wait']}")
    for entry in output.get("would_create") or []:
        lines.append(f"Would create {_a(_record_words(entry.get('record')))}: {_fields_words(entry.get('values'))}")
    for entry in output.get("would_change") or []:
        record = _record_words(entry.get("record")) + (f" #{entry['id']}" if entry.get("id") else "")
        changes = entry.get("changes")
        if isinstance(changes, dict):
            words = "; ".join(f"{name} from {_value_words(change.get('from'))} to {_value_words(change.get('to'))}"
                              for name, change in changes.items() if isinstance(change, dict))
        else:
            words = _fields_words(entry.get("values"))
        lines.append(f"Would change {record}: {words}")
    for entry in output.get("would_delete") or []:
        lines.append(f"Would delete {_a(_record_words(entry.get('record')))}: {_fields_words(entry.get('values'))}")
    return lines


@bp.get("/samples")
def samples():
    """The Test panel's sample data for the trigger chosen in the editor: its recent events and the catalog's."""
    trigger_type = request.args.get("trigger_type", "")
    recent = test_run_service.recent_events(g.workspace.id, trigger_type) if trigger_type in TRIGGERS else []
    catalog = sample_payload(trigger_type) if trigger_type in TRIGGERS else {}
    options = [{"value": f"recent-{sample.id}", "label": f"Use a recent event: {sample.summary}, {ago(sample.created_at)}",
                "payload": json.dumps(sample.payload, indent=2, ensure_ascii=False)} for sample in recent]
    options.append({"value": "catalog", "label": "Use the example data of the trigger",
                    "payload": json.dumps(catalog, indent=2, ensure_ascii=False)})
    return render_template("automations/_test_samples.html", options=options, payload_text=options[0]["payload"],
                           trigger=TRIGGERS.get(trigger_type))


def _stop_after(definition: dict) -> str | None:
    """"Test this step": the id of the step posted as actions-<n> (one is given to new steps for the test)."""
    raw = request.form.get("test_step", "")
    if not is_plain_int(raw):
        return None
    assign_step_ids(definition["actions"])
    step = StepPlan(definition["actions"]).at(position_in_order(request.form, int(raw), definition))
    return step[1]["id"] if step else None


@bp.post("/test")
def test():
    definition = definition_from_form(request.form)
    workflow = editable_workflow_or_404(request.form["workflow_id"]) if is_plain_int(request.form.get("workflow_id", "")) else None
    text = request.form.get("test_payload", "")
    try:
        stop_after = _stop_after(definition)
        payload = test_run_service.parse_payload_text(text) if text.strip() else test_run_service.payload_for(
            g.workspace.id, definition["trigger"].get("type"), sample=test_run_service.RECENT)
        execution = run_test(TestRequest(workspace_id=g.workspace.id, definition=definition, payload=payload,
                                         workflow=workflow, call_webhooks=request.form.get("test_call_webhooks") == "on",
                                         stop_after=stop_after))
    except ValidationFailed as failure:
        return render_template("automations/_test_results.html", execution=None, errors=failure.errors), 422
    return render_template("automations/_test_results.html", execution=execution, errors={}, stop_after=stop_after,
                           not_run=not_run_on_sample(execution, stop_after))

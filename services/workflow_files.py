"""Workflow files (issue #21, DESIGN.md "Versions and files"): export a workflow as a `.workestra.json` file,
import one as a draft, and the same for all the workspace's workflows as one zip.

An export carries no secrets and nothing that names the source workspace's records or users: literal user
ids, record ids, webhook URLs and webhook headers are blanked (removed from the step's config) and listed
in the file's `blanked` paths; the imported draft then asks for the required ones, like a template copy.
An import that fails validation writes nothing and says what is wrong and where (`errors` by path).

The file's `workflow.settings` carries the workflow's operating settings (DESIGN.md "Operating many workflows"):
`alert_on_failure`, `auto_pause_after_failures` (null: the workspace's default), `max_concurrent_runs` (null: no
limit) and `minutes_saved_per_run` (Insights' time saved; null: not set). None of them names the source workspace,
so they travel as they are; an import checks them like the editor and the API do (422 by path, nothing written).
A file without them (or with `settings: {}`, as exported before #22) imports with the defaults.
"""
import io
import json
import re
import zipfile
from datetime import datetime, timezone

from engine.core.catalog import ACTIONS, TRIGGERS, USER_KEYWORDS
from engine.core.schemas import flatten_errors, validate_definition
from engine.core.steps import StepPlan
from models import User, Workflow, db
from models.automations import VERSIONED_FIELDS
from models.vocabulary import WorkflowStatus
from services import workflow_service
from services.errors import ValidationFailed
from services.insights_service import MAX_MINUTES_SAVED
from services.workflow_settings import (
    ALERT_ON_FAILURE, AUTO_PAUSE_AFTER_FAILURES, CAP_MESSAGE, MAX_AUTO_PAUSE_AFTER_FAILURES, MAX_CONCURRENT_RUNS,
    MAX_CONCURRENT_RUNS_LIMIT, alert_on_failure, auto_pause_override,
)

FILE_KIND = "workestra"
KIND = "workflow"
FORMAT = 2
MAX_FILE_BYTES = 1024 * 1024
MAX_ZIP_FILES = 500
MAX_ZIP_BYTES = 20 * 1024 * 1024
FILE_KEYS = {"workestra", "format", "exported_at", "workflow", "blanked"}
BLANKED_FIELD_TYPES = ("user", "record_id", "url")
BLANKED_FIELD_NAMES = ("headers",)  # may hold an Authorization header or an API key
SUFFIX = ".workestra.json"
MINUTES_SAVED_PER_RUN = "minutes_saved_per_run"
# A whole-number setting of the file: (smallest, largest, the message for anything else); null is always allowed.
NUMBER_SETTINGS = {
    AUTO_PAUSE_AFTER_FAILURES: (0, MAX_AUTO_PAUSE_AFTER_FAILURES, f"Enter a whole number from 0 (never) to "
                                f"{MAX_AUTO_PAUSE_AFTER_FAILURES}, or null for the workspace's default."),
    MAX_CONCURRENT_RUNS: (1, MAX_CONCURRENT_RUNS_LIMIT, CAP_MESSAGE.replace("leave it empty", "null")),
    MINUTES_SAVED_PER_RUN: (0, MAX_MINUTES_SAVED, f"Enter whole minutes from 0 to {MAX_MINUTES_SAVED}, or null."),
}
SETTING_KEYS = (ALERT_ON_FAILURE, *NUMBER_SETTINGS)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")[:80] or "workflow"


def filename(workflow: Workflow) -> str:
    return f"{slug(workflow.name)}{SUFFIX}"


def _is_template(value) -> bool:
    return isinstance(value, str) and "{{" in value


def _must_blank(field, value) -> bool:
    if value in (None, "", {}, []):
        return False
    if field.name in BLANKED_FIELD_NAMES:
        return True
    if field.type == "user":
        return not (value in USER_KEYWORDS or _is_template(value))
    if field.type == "record_id":
        return not _is_template(value)
    if field.type == "url":
        return True  # a webhook URL may carry a token, and points at the source's systems
    return False


def blank_workspace_values(definition: dict) -> list[str]:
    """Remove, in place, the values that belong to the source workspace; their dotted paths."""
    blanked = []
    for address, action in StepPlan(definition.get("actions") or []).steps:
        catalog_action = ACTIONS.get(action.get("type")) if isinstance(action, dict) else None
        config = action.get("config") if catalog_action else None
        if not isinstance(config, dict):
            continue
        for field in catalog_action.fields:
            if field.name in config and _must_blank(field, config[field.name]):
                del config[field.name]
                blanked.append(f"actions.{address}.config.{field.name}")
    return blanked


def export_document(workflow: Workflow) -> dict:
    definition = {name: value for name, value in workflow.definition().items() if name in VERSIONED_FIELDS}
    definition["settings"] = export_settings(workflow)
    blanked = blank_workspace_values(definition)
    return {"workestra": KIND, "format": FORMAT, "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "workflow": definition, "blanked": blanked}


def export_settings(workflow: Workflow) -> dict:
    """Every operating setting with its value (null: the default applies)."""
    stored = workflow.settings or {}
    return {ALERT_ON_FAILURE: alert_on_failure(stored), AUTO_PAUSE_AFTER_FAILURES: auto_pause_override(stored),
            MAX_CONCURRENT_RUNS: workflow.max_concurrent_runs, MINUTES_SAVED_PER_RUN: workflow.minutes_saved_per_run}


def export_text(workflow: Workflow) -> str:
    return json.dumps(export_document(workflow), indent=2, ensure_ascii=False) + "\n"


def export_zip(workflows: list[Workflow]) -> bytes:
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for workflow in workflows:
            name = filename(workflow)
            if name in used:
                name = f"{slug(workflow.name)}-{workflow.id}{SUFFIX}"
            used.add(name)
            archive.writestr(name, export_text(workflow))
    return buffer.getvalue()


def _fail(errors: dict) -> None:
    raise ValidationFailed(errors)


def parse_text(raw) -> dict:
    """The file's JSON object; ValidationFailed naming the problem when it is not one."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            _fail({"file": [f"The file is larger than {MAX_FILE_BYTES // 1024} KB."]})
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            _fail({"file": ["The file is not UTF-8 text; export it again from Workestra."]})
    if not isinstance(raw, str) or not raw.strip():
        _fail({"file": ["The file is empty: upload a .workestra.json file or paste its JSON."]})
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        _fail({"file": [f"The file is larger than {MAX_FILE_BYTES // 1024} KB."]})
    try:
        document = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        _fail({"file": ["The JSON is nested too deeply."]})
    except ValueError as error:
        _fail({"file": [f"This is not JSON: {error}."]})
    return document


def _no_constant(name):
    raise ValueError(f"{name} is not allowed in JSON")


def checked_definition(document) -> tuple[dict, dict, list[str]]:
    """(the definition to create as a draft, its operating settings, the blanked paths). ValidationFailed with
    errors by path."""
    if not isinstance(document, dict):
        _fail({"file": ["The file must hold a JSON object with \"workestra\": \"workflow\"."]})
    if document.get("workestra") != KIND:
        _fail({"workestra": [f"Must be \"{KIND}\": this is not a Workestra workflow file."]})
    if document.get("format") != FORMAT or isinstance(document.get("format"), bool):
        _fail({"format": [f"Unsupported format {json.dumps(document.get('format'))[:40]}: this Workestra reads format {FORMAT}."]})
    unknown = sorted(str(key)[:60] for key in document if key not in FILE_KEYS)
    if unknown:
        _fail({key: ["Unknown field."] for key in unknown})
    workflow = document.get("workflow")
    if not isinstance(workflow, dict):
        _fail({"workflow": ["Must be an object with the workflow's definition."]})
    blanked = document.get("blanked", [])
    if not isinstance(blanked, list) or not all(isinstance(path, str) and len(path) <= 200 for path in blanked):
        _fail({"blanked": ["Must be a list of field paths."]})
    data = dict(workflow)
    settings = checked_settings(data.pop("settings", {}))
    if "status" in data:
        _fail({"workflow.status": ["Unknown field: an imported workflow is always a draft."]})
    data["status"] = WorkflowStatus.DRAFT.value
    _check_types(data)
    clean, errors = validate_definition(data)
    if errors:
        flat = flatten_errors(errors)
        if not workflow_service._only_missing_values(flat):
            _fail({f"workflow.{path}": messages for path, messages in flat.items()})
        return data, settings, blanked
    return clean, settings, blanked


def checked_settings(settings) -> dict:
    """The file's settings, checked (ValidationFailed by path: workflow.settings.max_concurrent_runs ...)."""
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        _fail({"workflow.settings": ["Must be an object."]})
    errors = {}
    for key in settings:
        if key not in SETTING_KEYS:
            errors[f"workflow.settings.{str(key)[:60]}"] = [f"Unknown setting: a file's settings are {', '.join(SETTING_KEYS)}."]
    if ALERT_ON_FAILURE in settings and not isinstance(settings[ALERT_ON_FAILURE], bool):
        errors[f"workflow.settings.{ALERT_ON_FAILURE}"] = ["Must be true or false."]
    for key, (low, high, message) in NUMBER_SETTINGS.items():
        value = settings.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            errors[f"workflow.settings.{key}"] = [message]
    if errors:
        _fail(errors)
    return dict(settings)


def apply_settings(workflow: Workflow, settings: dict) -> None:
    """A new workflow takes the file's settings; what the file leaves out or sets to null keeps its default."""
    stored = {}
    if settings.get(ALERT_ON_FAILURE) is False:
        stored[ALERT_ON_FAILURE] = False
    if settings.get(AUTO_PAUSE_AFTER_FAILURES) is not None:
        stored[AUTO_PAUSE_AFTER_FAILURES] = settings[AUTO_PAUSE_AFTER_FAILURES]
    workflow.settings = stored
    workflow.max_concurrent_runs = settings.get(MAX_CONCURRENT_RUNS)
    workflow.minutes_saved_per_run = settings.get(MINUTES_SAVED_PER_RUN)


def _check_types(data: dict) -> None:
    """Unknown trigger or action types, named with their path (the schema says it too, but less plainly)."""
    trigger = data.get("trigger")
    if isinstance(trigger, dict) and isinstance(trigger.get("type"), str) and trigger["type"] not in TRIGGERS:
        _fail({"workflow.trigger.type": [f"Unknown trigger type '{trigger['type'][:60]}'."]})
    actions = data.get("actions")
    if not isinstance(actions, list):
        return
    try:
        steps = StepPlan(actions).steps
    except RecursionError:
        _fail({"workflow.actions": ["The steps are nested too deeply."]})
    for address, action in steps:
        if isinstance(action, dict) and isinstance(action.get("type"), str) and action["type"] not in ACTIONS:
            _fail({f"workflow.actions.{address}.type": [f"Unknown action type '{action['type'][:60]}'."]})


def import_document(workspace_id: int, document, actor: User | None = None) -> tuple[Workflow, list[str]]:
    """A new draft in this workspace from a parsed file; (the workflow, the blanked paths it still needs).
    Its settings are the file's (only owners and admins import, the roles that change settings)."""
    definition, settings, blanked = checked_definition(document)
    workflow = workflow_service.create_workflow(workspace_id, definition, actor, allow_incomplete=True,
                                                note="Imported from a file")
    apply_settings(workflow, settings)
    db.session.flush()
    return workflow, blanked


def import_text(workspace_id: int, raw, actor: User | None = None) -> tuple[Workflow, list[str]]:
    return import_document(workspace_id, parse_text(raw), actor)


def import_zip(workspace_id: int, raw: bytes, actor: User | None = None) -> list[Workflow]:
    """Every .workestra.json file of the zip as a draft; nothing is written when any file is bad."""
    if len(raw) > MAX_ZIP_BYTES:
        _fail({"file": [f"The zip is larger than {MAX_ZIP_BYTES // (1024 * 1024)} MB."]})
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError):
        _fail({"file": ["This is not a zip file."]})
    if not members:
        _fail({"file": ["The zip holds no workflow files."]})
    if len(members) > MAX_ZIP_FILES:
        _fail({"file": [f"The zip holds more than {MAX_ZIP_FILES} files."]})
    documents = []
    for info in members:
        if info.file_size > MAX_FILE_BYTES:
            _fail({info.filename[:100]: [f"The file is larger than {MAX_FILE_BYTES // 1024} KB."]})
        try:
            document = parse_text(archive.read(info))
            checked_definition(document)
        except ValidationFailed as failure:
            _fail({f"{info.filename[:100]}: {path}": messages for path, messages in failure.errors.items()})
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError):
            _fail({info.filename[:100]: ["This file of the zip cannot be read."]})
        documents.append(document)
    return [import_document(workspace_id, document, actor)[0] for document in documents]

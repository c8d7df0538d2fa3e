"""/api/v1/workflows: the workflow definitions of DESIGN.md, through services/workflow_service.py.

Like the pages, the API neither lists nor changes Quick Rule workflows: they are 404 here
(workflow_service.get_editable_workflow); Settings → Quick Rules switches them on and off.
"""
from flask import g

from engine.core.catalog import TRIGGERS
from models import Role, Workflow
from models.vocabulary import WorkflowStatus
from services import (execution_service, test_run_service, version_service, workflow_files, workflow_service,
                      workflow_settings)
from services.errors import NotFound, ValidationFailed
from services.test_run_service import TestRequest
from services.workflow_settings import WorkflowSettingsSchema
from webapp.api.blueprint import ID, operation
from webapp.api.schemas import (DefinitionTestSchema, EmptySchema, EventSampleOut, ExecutionOut, ImportedWorkflowOut,
                                RunSchema, TestSchema, VersionOut, VersionPageOut, VersionQuerySchema,
                                WorkflowDefinitionSchema, WorkflowFileSchema, WorkflowOut, WorkflowPatchSchema,
                                WorkflowQuerySchema, WorkflowSettingsOut, list_of)
from webapp.forms import actor
from webapp.security import current_role
from webapp.test_runs import run_test

TAG = "Workflows"
STATUS_ACTIONS = {"activate": WorkflowStatus.ACTIVE, "pause": WorkflowStatus.PAUSED, "archive": WorkflowStatus.ARCHIVED}


def _workflow(workflow_id) -> Workflow:
    return workflow_service.get_editable_workflow(g.workspace.id, workflow_id)


@operation("/workflows", "GET", summary="List workflows", tag=TAG, query=WorkflowQuerySchema(),
           response=list_of(WorkflowOut), flagged=True)
def list_workflows(query):
    """The workspace's workflows, most recently changed first; filter with ?status=."""
    return {"data": workflow_service.editable_workflows(g.workspace.id, query.get("status"))}


@operation("/workflows", "POST", summary="Create a workflow", tag=TAG, body=WorkflowDefinitionSchema(),
           response=WorkflowOut, status=201, errors=(422,), flagged=True)
def create_workflow(body):
    """A new workflow from a definition (saved as a draft unless `status` says otherwise)."""
    return workflow_service.create_workflow(g.workspace.id, body, actor())


@operation(f"/workflows/<{ID}:workflow_id>", "GET", summary="Get a workflow", tag=TAG, response=WorkflowOut,
           errors=(404,), flagged=True)
def get_workflow(workflow_id):
    return _workflow(workflow_id)


@operation(f"/workflows/<{ID}:workflow_id>", "PATCH", summary="Change a workflow", tag=TAG,
           body=WorkflowPatchSchema(partial=True), response=WorkflowOut, errors=(403, 404, 422), flagged=True)
def update_workflow(workflow_id, body):
    """Only the fields given change; the whole definition is validated again. Running executions keep
    the snapshot they started with."""
    workflow = _workflow(workflow_id)
    definition = {key: value for key, value in workflow.definition().items() if key != "status"}
    note = body.pop("note", "")
    settings = body.pop("settings", None)
    definition.update(body)
    if settings is not None:
        workflow_settings.update_settings(workflow, settings, actor(), current_role())
    return workflow_service.update_workflow(workflow, definition, actor(), note=note)


@operation(f"/workflows/<{ID}:workflow_id>", "DELETE", summary="Delete a workflow", tag=TAG, status=204,
           errors=(403, 404), min_role=Role.ADMIN, flagged=True)
def delete_workflow(workflow_id):
    """Owners and admins only. Past runs stay in the history."""
    workflow_service.delete_workflow(_workflow(workflow_id), actor())


def _status_operation(verb: str, status: str) -> None:
    def change_status(workflow_id, body):
        return workflow_service.set_status(_workflow(workflow_id), status, actor())

    change_status.__name__ = verb
    change_status.__doc__ = f"Set the workflow's status to {status}" + (
        " (it must be a valid definition)." if status == WorkflowStatus.ACTIVE else ".")
    operation(f"/workflows/<{ID}:workflow_id>/{verb}", "POST", summary=f"{verb.title()} a workflow", tag=TAG,
              body=EmptySchema(), response=WorkflowOut, errors=(404, 422), flagged=True)(change_status)


for _verb, _status in STATUS_ACTIONS.items():
    _status_operation(_verb, _status)


@operation(f"/workflows/<{ID}:workflow_id>/settings", "GET", summary="Get a workflow's settings", tag=TAG,
           response=WorkflowSettingsOut, errors=(404,), flagged=True)
def get_settings(workflow_id):
    """Failure alerts and auto-pause, with the workspace's default filled in where the workflow has none."""
    return workflow_settings.effective_settings(_workflow(workflow_id))


@operation(f"/workflows/<{ID}:workflow_id>/settings", "PATCH", summary="Change a workflow's settings", tag=TAG,
           body=WorkflowSettingsSchema(), response=WorkflowSettingsOut, errors=(403, 404, 422), min_role=Role.ADMIN,
           flagged=True)
def update_settings(workflow_id, body):
    """Owners and admins. Only the settings given change; `auto_pause_after_failures: null` goes back to the
    workspace's default, `0` never pauses. Adds no version (settings are not part of the definition)."""
    workflow = workflow_settings.update_settings(_workflow(workflow_id), body, actor(), current_role())
    return workflow_settings.effective_settings(workflow)


@operation(f"/workflows/<{ID}:workflow_id>/run", "POST", summary="Run a workflow now", tag=TAG, body=RunSchema(),
           response=ExecutionOut, status=202, errors=(404, 422), flagged=True)
def run_workflow(workflow_id, body):
    """Start a run by hand with `payload` (default: the trigger's sample payload); conditions are not
    applied. The run starts right after the response; poll GET /executions/{id}."""
    return execution_service.run_now(_workflow(workflow_id), body.get("payload"), actor())


def _test_request(definition: dict, body: dict, workflow: Workflow | None = None) -> TestRequest:
    trigger_type = (definition.get("trigger") or {}).get("type") if isinstance(definition.get("trigger"), dict) else None
    payload = test_run_service.payload_for(g.workspace.id, trigger_type, body.get("payload"), body.get("sample"))
    return TestRequest(workspace_id=g.workspace.id, definition=definition, payload=payload, workflow=workflow,
                       call_webhooks=body.get("call_webhooks", False), stop_after=body.get("step"))


@operation(f"/workflows/<{ID}:workflow_id>/test", "POST", summary="Test a workflow", tag=TAG, body=TestSchema(),
           response=ExecutionOut, errors=(404, 422), flagged=True)
def test_workflow(workflow_id, body):
    """Run the saved definition as a test run (`mode: "test"`) and return it finished: emails are rendered, not
    sent; webhooks rendered, not called (unless `call_webhooks`); notifications not delivered; records created
    or changed inside a transaction that is rolled back; waits skipped. Each step's output says what would have
    happened. Synchronous, stopped after TEST_RUN_SECONDS."""
    workflow = _workflow(workflow_id)
    return run_test(_test_request(workflow.definition(), body, workflow))


@operation("/workflows/test", "POST", summary="Test an unsaved definition", tag=TAG, body=DefinitionTestSchema(),
           response=ExecutionOut, errors=(422,), flagged=True)
def test_definition(body):
    """Like POST /workflows/{id}/test, for the definition in the body (validated first; nothing is saved)."""
    definition = body.get("definition")
    if not isinstance(definition, dict):
        raise ValidationFailed({"definition": ["A workflow definition (a JSON object) is required."]})
    return run_test(_test_request(definition, body))


@operation("/workflows/samples/<trigger_type>", "GET", summary="Recent events of a trigger", tag=TAG,
           response=list_of(EventSampleOut), errors=(404,), flagged=True)
def list_samples(trigger_type):
    """The last real events of this trigger in the workspace (newest first, at most 5), to test with: trimmed to
    EVENT_SAMPLE_MAX_BYTES, secrets removed."""
    if trigger_type not in TRIGGERS:
        raise NotFound(f"No trigger {trigger_type!r}.")
    return {"data": test_run_service.recent_events(g.workspace.id, trigger_type)}


@operation(f"/workflows/<{ID}:workflow_id>/versions", "GET", summary="List a workflow's versions", tag=TAG,
           query=VersionQuerySchema(), response=VersionPageOut, errors=(404,), flagged=True)
def list_versions(workflow_id, query):
    """Newest first, 100 at a time; every save that changed the definition added one."""
    versions = version_service.list_versions(_workflow(workflow_id), query.get("before"), version_service.HISTORY_PAGE + 1)
    more = len(versions) > version_service.HISTORY_PAGE
    versions = versions[:version_service.HISTORY_PAGE]
    return {"data": versions, "next_before": versions[-1].number if more else None}


@operation(f"/workflows/<{ID}:workflow_id>/versions/<{ID}:number>", "GET", summary="Get a version", tag=TAG,
           response=VersionOut, errors=(404,), flagged=True)
def get_version(workflow_id, number):
    return version_service.get_version(_workflow(workflow_id), number)


@operation(f"/workflows/<{ID}:workflow_id>/versions/<{ID}:number>/restore", "POST", summary="Restore a version",
           tag=TAG, body=EmptySchema(), response=WorkflowOut, errors=(403, 404, 422), min_role=Role.ADMIN, flagged=True)
def restore_version(workflow_id, number, body):
    """Owners and admins: the version's definition becomes a new version (history is never rewritten);
    the status does not change."""
    return workflow_service.restore_version(_workflow(workflow_id), number, actor())


@operation(f"/workflows/<{ID}:workflow_id>/export", "GET", summary="Export a workflow as a file", tag=TAG,
           response=WorkflowFileSchema, errors=(404,), flagged=True)
def export_workflow(workflow_id):
    """The `<slug>.workestra.json` document: no secrets, no ids of this workspace's records or users
    (their paths are listed in `blanked`)."""
    return workflow_files.export_document(_workflow(workflow_id))


@operation("/workflows/import", "POST", summary="Import a workflow file", tag=TAG, body=WorkflowFileSchema(),
           response=ImportedWorkflowOut, status=201, errors=(403, 422), min_role=Role.ADMIN, flagged=True)
def import_workflow(body):
    """Owners and admins: the file becomes a new draft in this workspace. A bad file writes nothing and
    answers 422 with the problems by path (workestra, format, workflow.trigger.type, workflow.actions.0.config.to ...)."""
    workflow, blanked = workflow_files.import_document(g.workspace.id, body, actor())
    workflow.blanked, workflow.needs = blanked, workflow_service.definition_problems(workflow)  # for the response only
    return workflow

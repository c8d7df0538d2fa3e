"""Test runs (issue #20, DESIGN "Test runs"): start one, keep the last few, and the sample data to test with.

A test run is an execution with mode "test" that the runner runs like any other while nothing leaves the
system and nothing persists (engine.runtime.test_mode). Here: checking what is tested, the payload it is
tested with (given, a recent real event of the workspace, or the catalog's sample), inserting the run, and
keeping only the last TESTS_KEPT test runs per workflow.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import delete, select

from engine.core.catalog import TRIGGERS, sample_payload
from engine.core.runs import NewRun, start_test_run
from engine.core.samples import recent_samples
from models import EventSample, Workflow, WorkflowExecution, db
from models.vocabulary import TERMINAL_RUN_STATUSES, RunMode, RunSource
from services.common import get_in_workspace
from services.errors import NotFound, ValidationFailed
from services.workflow_service import clean_definition

TESTS_KEPT = 20
RECENT = "recent"


@dataclass
class TestRequest:
    """What to test: a definition (the saved one or an unsaved one), with which payload, and how."""
    workspace_id: int
    definition: dict
    payload: dict
    workflow: Workflow | None = None
    call_webhooks: bool = False
    stop_after: str | None = None


def parse_payload_text(text: str) -> dict:
    """The JSON the person edited; ValidationFailed naming the line and column of a syntax error."""
    try:
        payload = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise ValidationFailed({"payload": [f"Not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."]}) \
            from None
    if not isinstance(payload, dict):
        raise ValidationFailed({"payload": ["The sample must be a JSON object, e.g. {\"deal\": {\"title\": \"…\"}}."]})
    return payload


def recent_events(workspace_id: int, trigger_key: str) -> list[EventSample]:
    """The workspace's last real events of this trigger, newest first (at most 5)."""
    return recent_samples(workspace_id, trigger_key)


def get_sample(workspace_id: int, sample_id) -> EventSample:
    return get_in_workspace(EventSample, workspace_id, sample_id, "Recent event")


def payload_for(workspace_id: int, trigger_key: str, payload: dict | None = None, sample: str | None = None) -> dict:
    """The payload a test runs with: the one given; with sample "recent" the newest real event of the trigger
    (the catalog's sample when there is none); the catalog's sample otherwise."""
    if payload is not None:
        if not isinstance(payload, dict):
            raise ValidationFailed({"payload": ["The payload must be a JSON object."]})
        return payload
    if sample not in (None, "", RECENT, "catalog"):
        raise ValidationFailed({"sample": [f"Use \"{RECENT}\" (the newest real event) or give a payload."]})
    if sample == RECENT:
        recent = recent_events(workspace_id, trigger_key)
        if recent:
            return recent[0].payload
    return sample_payload(trigger_key) if trigger_key in TRIGGERS else {}


def start_test(request: TestRequest, seconds: float) -> int:
    """Check the definition and insert the test run (pending, mode "test"); its id. The caller commits and runs it."""
    definition = clean_definition({**request.definition, "status": "draft"})
    if request.stop_after is not None and not _has_step(definition["actions"], request.stop_after):
        raise ValidationFailed({"step": [f"There is no step {request.stop_after!r} in this workflow."]})
    workflow = request.workflow
    snapshot = {key: definition.get(key) for key in
                ("name", "description", "trigger", "conditions", "conditions_match", "actions", "error_strategy")}
    snapshot["test_options"] = {"call_webhooks": bool(request.call_webhooks), "stop_after": request.stop_after,
                                "seconds": seconds}
    run = NewRun(workspace_id=request.workspace_id, workflow_id=workflow.id if workflow else None,
                 workflow_name=definition["name"], trigger_type=definition["trigger"]["type"], source=RunSource.MANUAL,
                 definition=snapshot, trigger_payload=request.payload, progress={"mode": RunMode.TEST.value},
                 workflow_version=workflow.version if workflow else None)
    return start_test_run(run)


def _has_step(actions: list, step_id: str) -> bool:
    for action in actions:
        if action.get("id") == step_id:
            return True
        if any(_has_step(action.get(side) or [], step_id) for side in ("then", "else")):
            return True
    return False


def test_execution(workspace_id: int, execution_id) -> WorkflowExecution:
    execution = get_in_workspace(WorkflowExecution, workspace_id, execution_id, "Test run")
    if execution.mode != RunMode.TEST:
        raise NotFound("No such test run.")
    return execution


def prune_tests(workspace_id: int, workflow_id: int | None) -> int:
    """Keep the newest TESTS_KEPT finished test runs of the workflow (of the workspace's unsaved tests when
    None); the number deleted."""
    scope = [WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.mode == RunMode.TEST,
             WorkflowExecution.workflow_id.is_(None) if workflow_id is None else WorkflowExecution.workflow_id == workflow_id]
    kept = select(WorkflowExecution.id).where(*scope).order_by(WorkflowExecution.id.desc()).limit(TESTS_KEPT)
    result = db.session.execute(
        delete(WorkflowExecution).where(*scope, WorkflowExecution.status.in_(TERMINAL_RUN_STATUSES),
                                        WorkflowExecution.id.not_in(kept.scalar_subquery()))
        .execution_options(synchronize_session=False))
    return result.rowcount or 0

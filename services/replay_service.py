"""Replay: run a finished execution again as a new execution linked to it (replay_of_id).

From the start: a plain new run with the original's trigger payload. From the failed step: the
steps before the first failed one are copied from the original (outputs kept, marked with
`replayed_from`), and the new run starts at the failed step, so completed steps never run twice.
Either on the snapshot the original ran with, or on the workflow's current definition.
The new runs are handed to the queue after the caller commits.
"""
import copy
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from engine.core.runs import NewRun, start_runs
from engine.core.steps import StepPlan, record_path
from models import User, Workflow, WorkflowExecution, db
from models.vocabulary import TERMINAL_RUN_STATUSES, ReplayFrom, ReplayOn, RunMode, RunSource, RunStatus, StepStatus, values
from services import audit_service
from services.errors import NotFound, ValidationFailed
from services.run_history_service import RunFilter
from services.run_history_service import list_conditions

FROM_FAILED_STEP = ReplayFrom.FAILED_STEP.value
FROM_START = ReplayFrom.START.value
MODES = values(ReplayFrom)
ON_SNAPSHOT = ReplayOn.SNAPSHOT.value
ON_CURRENT = ReplayOn.CURRENT.value
DEFINITIONS = values(ReplayOn)
REPLAYABLE = TERMINAL_RUN_STATUSES  # a run is replayed once it is over
BULK_REPLAY_LIMIT = 1000


@dataclass(frozen=True)
class ReplayOptions:
    mode: str = FROM_FAILED_STEP
    definition: str = ON_SNAPSHOT


def parse_options(form) -> ReplayOptions:
    """Replay options from a form; ValidationFailed for unknown values."""
    mode = form.get("mode") or FROM_FAILED_STEP
    definition = form.get("definition") or ON_SNAPSHOT
    errors = {}
    if mode not in MODES:
        errors["mode"] = ["Replay from the failed step or from the start."]
    if definition not in DEFINITIONS:
        errors["definition"] = ["Replay on the snapshot or on the current definition."]
    if errors:
        raise ValidationFailed(errors)
    return ReplayOptions(mode, definition)


def first_failed_index(execution: WorkflowExecution) -> int | None:
    """The index of the run's first failed step, or None."""
    failed = [record["index"] for record in execution.completed_actions or [] if record.get("status") == StepStatus.FAILED]
    return min(failed) if failed else None


def can_replay_from_failed_step(execution: WorkflowExecution) -> bool:
    return execution.status in REPLAYABLE and first_failed_index(execution) is not None


def replay_execution(original: WorkflowExecution, options: ReplayOptions = ReplayOptions(),
                     actor: User | None = None, *, audit: bool = True) -> WorkflowExecution:
    """A new pending execution replaying `original`. ValidationFailed when it cannot be replayed that way;
    NotFound when the current definition is asked for and the workflow was deleted."""
    if original.status not in REPLAYABLE:
        raise ValidationFailed({"run": [f"This run is {original.status}; it can be replayed once it has finished."]})
    if original.mode == RunMode.TEST:  # its snapshot may be an unsaved definition: a replay would act for real
        raise ValidationFailed({"run": ["A test run is not replayed: test the workflow again from the editor."]})
    definition = _definition_for(original, options.definition)
    run = _new_linked_run(original, definition)
    run.workflow_version = original.workflow_version if options.definition == ON_SNAPSHOT else (
        _current_workflow(original).version)
    if options.mode == FROM_FAILED_STEP:
        _resume_at_failed_step(original, run, definition)
    [execution_id] = start_runs([run])
    execution = db.session.get(WorkflowExecution, execution_id)
    if audit:
        where = "from the failed step" if options.mode == FROM_FAILED_STEP else "from the start"
        audit_service.record_event(
            original.workspace_id, "execution.replayed",
            f"Replayed run #{original.id} {where} on the {'current definition' if options.definition == ON_CURRENT else 'snapshot'} as run #{execution.id}",
            actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
            subject_type="execution", subject_id=original.id, execution_id=execution.id,
            data={"mode": options.mode, "definition": options.definition, "replay_id": execution.id},
        )
    return execution


def _definition_for(original: WorkflowExecution, which: str) -> dict:
    if which == ON_SNAPSHOT:
        return copy.deepcopy(original.definition)
    workflow = _current_workflow(original)
    if workflow is None:
        raise NotFound("The workflow of this run was deleted, so it has no current definition. Replay it on its snapshot.")
    return workflow.definition()


def _current_workflow(original: WorkflowExecution) -> Workflow | None:
    if original.workflow_id is None:
        return None
    return db.session.scalar(
        select(Workflow).where(Workflow.id == original.workflow_id, Workflow.workspace_id == original.workspace_id)
    )


def _new_linked_run(original: WorkflowExecution, definition: dict) -> NewRun:
    workflow = _current_workflow(original)  # None when the workflow is gone: the snapshot is all there is
    return NewRun(
        workspace_id=original.workspace_id, workflow_id=workflow.id if workflow is not None else None,
        workflow_name=(definition.get("name") or original.workflow_name)[:200],
        trigger_type=workflow.trigger_type if workflow is not None else original.trigger_type,
        source=RunSource.REPLAY, definition=definition, trigger_payload=copy.deepcopy(original.trigger_payload or {}),
        event_depth=original.event_depth, progress={"replay_of_id": original.id},
    )


def _resume_at_failed_step(original: WorkflowExecution, run: NewRun, definition: dict) -> None:
    """Copy the records before the first failed one and start the new run at the failed step. The records are in
    plan order, one per step (steps on a path not taken included), so the failed step's plan position is the
    number of records before it; on the current definition the steps are matched by id when they have one."""
    records = original.completed_actions or []
    failed_at = next((number for number, record in enumerate(records) if record.get("status") == StepStatus.FAILED), None)
    if failed_at is None:
        raise ValidationFailed({"mode": ["This run has no failed step; replay it from the start."]})
    plan = StepPlan(definition.get("actions") or [])
    failed = records[failed_at]
    before = records[:failed_at]
    if failed.get("id") and plan.position_of_id(failed["id"]) is None:
        raise ValidationFailed({"definition": [
            f"The failed step (id '{failed['id']}') is no longer in the workflow; replay it from the start, or on its snapshot."
        ]})
    position = len(before)
    if not _same_steps(plan, [*before, failed]):
        raise ValidationFailed({"definition": [
            "The workflow's steps up to the failed one changed since this run; replay it from the start instead."
        ]})
    run.progress["completed_actions"] = [dict(copy.deepcopy(record), replayed_from=original.id) for record in before]
    run.progress["current_step"] = position
    # The original already waited out this step's delay.
    _address, action = plan.at(position)
    run.progress["wait_marker"] = f"{position}:delay" if int(action.get("delay_seconds") or 0) > 0 else None


def _same_steps(plan: StepPlan, records: list) -> bool:
    """The plan's first steps are the recorded ones: same place, same type, and the same id when both have one."""
    if len(records) > len(plan):
        return False
    for position, record in enumerate(records):
        address, action = plan.at(position)
        if not isinstance(action, dict) or action.get("type") != record.get("type") or str(address) != record_path(record):
            return False
        if record.get("id") and action.get("id") and record["id"] != action["id"]:
            return False
    return True


def _unreplayed_failed(workspace_id: int, run_filter: RunFilter, up_to_id: int | None):
    """Failed runs matching the filter (whatever its status tab), up to `up_to_id`, not replayed yet."""
    replays = aliased(WorkflowExecution)
    conditions = list_conditions(workspace_id, RunFilter(RunStatus.FAILED, run_filter.workflow_id, run_filter.date_from,
                                                         run_filter.date_to))
    if up_to_id is not None:
        conditions.append(WorkflowExecution.id <= up_to_id)
    already = exists().where(replays.replay_of_id == WorkflowExecution.id)
    return [*conditions, ~already]


def bulk_replay_candidates(workspace_id: int, run_filter: RunFilter, up_to_id: int | None = None,
                           limit: int = BULK_REPLAY_LIMIT) -> list[int]:
    """The failed runs a bulk replay replays, oldest first, at most `limit`: those matching the filter
    (up to `up_to_id`) that have not been replayed yet."""
    return list(db.session.scalars(
        select(WorkflowExecution.id).where(*_unreplayed_failed(workspace_id, run_filter, up_to_id))
        .order_by(WorkflowExecution.id).limit(limit)
    ))


def count_bulk_replay_candidates(workspace_id: int, run_filter: RunFilter) -> int:
    return db.session.scalar(
        select(func.count()).select_from(WorkflowExecution).where(*_unreplayed_failed(workspace_id, run_filter, None))
    )


@dataclass
class BulkReplayResult:
    replays: list
    skipped: dict  # original id -> why it could not be replayed the way asked


def bulk_replay(workspace_id: int, run_filter: RunFilter, options: ReplayOptions, up_to_id: int | None,
                actor: User | None = None) -> BulkReplayResult:
    """Replay every failed run matching the filter (up to the id the confirmation showed), each as a new
    linked execution. A run that cannot be replayed the way asked (workflow deleted, steps changed) is
    skipped and reported, never replayed some other way."""
    ids = bulk_replay_candidates(workspace_id, run_filter, up_to_id)
    originals = list(db.session.scalars(
        select(WorkflowExecution).where(WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.id.in_(ids))
        .order_by(WorkflowExecution.id)
    )) if ids else []
    result = BulkReplayResult([], {})
    for original in originals:
        try:
            result.replays.append(replay_execution(original, options, actor, audit=False))
        except (ValidationFailed, NotFound) as refused:
            result.skipped[original.id] = reason(refused)
    if result.replays:
        count = len(result.replays)
        audit_service.record_event(
            workspace_id, "execution.bulk_replayed", f"Replayed {count} failed run{'s' if count != 1 else ''}",
            actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
            data={"mode": options.mode, "definition": options.definition, "count": count,
                  "replays": {str(r.replay_of_id): r.id for r in result.replays}},
        )
    return result


def reason(refused: Exception) -> str:
    if isinstance(refused, ValidationFailed):
        return " ".join(str(message) for messages in refused.errors.values() for message in messages)
    return str(refused)

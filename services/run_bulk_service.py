"""Bulk actions on runs from the Runs tab (issue #22): replay, cancel or delete the runs a person selected, or
every run matching the list's filter.

A selection is either ids the page sent (at most MAX_SELECTED_IDS; each is looked up in the workspace, so an id
of another workspace selects nothing) or "all matching": the filter, fixed at the newest run that matched when
the confirmation was shown (`up_to_id`), so runs that arrive later are never swept in. The work goes in
batches of BATCH_SIZE ids, oldest first, each batch its own transaction (no long locks): the request does
what fits in REQUEST_BUDGET_SECONDS and hands the rest to a background job (RQ, or the embedded runner's
threads), which goes on the same way and queues itself again after JOB_BUDGET_SECONDS.
"""
import time
from dataclasses import dataclass, field, replace

from flask import current_app
from sqlalchemy import delete, exists, func, select, update
from werkzeug.datastructures import MultiDict

from engine.core.handoff import jobs_of
from models import User, Workflow, WorkflowExecution, db
from models.base import utcnow
from models.vocabulary import CANCELLABLE_RUN_STATUSES, TERMINAL_RUN_STATUSES, RunStatus, WorkflowStatus
from services import audit_service, replay_service, run_history_service
from services.common import is_plain_int
from services.errors import NotFound, ValidationFailed
from services.run_history_service import RunFilter

REPLAY, CANCEL, DELETE = "replay", "cancel", "delete"
ACTIONS = {REPLAY: "Replay", CANCEL: "Cancel", DELETE: "Delete"}
# The statuses each action applies to; other selected runs are left as they are (and counted as such).
APPLIES_TO = {
    REPLAY: tuple(status.value for status in TERMINAL_RUN_STATUSES),
    CANCEL: tuple(status.value for status in CANCELLABLE_RUN_STATUSES),
    DELETE: tuple(status.value for status in TERMINAL_RUN_STATUSES),
}
MAX_SELECTED_IDS = 500
BATCH_SIZE = 200
REPLAY_BATCH_SIZE = 50  # a replay builds a run in Python; smaller batches keep each transaction short
REQUEST_BUDGET_SECONDS = 3.0
JOB_BUDGET_SECONDS = 15.0
JOB_PATH = "services.run_bulk_service.continue_bulk_action"


@dataclass(frozen=True)
class Selection:
    """The runs an action is for: `ids` the page sent, or (ids None) every run matching `run_filter` up to
    `up_to_id`; `after_id`: where the work has got to (ids at or below it are done)."""
    run_filter: RunFilter = RunFilter()
    ids: tuple[int, ...] | None = None
    up_to_id: int | None = None
    after_id: int = 0

    @property
    def all_matching(self) -> bool:
        return self.ids is None


@dataclass
class BulkOutcome:
    action: str
    done: int = 0
    skipped: dict = field(default_factory=dict)  # run id -> why (replays that could not be made that way)
    remaining: bool = False  # handed to a background job
    after_id: int = 0


def parse_action(raw) -> str:
    action = (raw or "").strip().lower()
    if action not in ACTIONS:
        raise ValidationFailed({"action": ["Choose replay, cancel or delete."]})
    return action


def parse_selection(workspace_id: int, args) -> Selection:
    """The selection from a form or query: `run` (repeated ids) or `all=1` with the list's filter and, once
    confirmed, `up_to_id`. ValidationFailed when nothing is selected or an id is not a number."""
    run_filter = run_history_service.parse_filter(workspace_id, args)
    up_to_id = run_history_service.parse_cursor(args.get("up_to_id"))
    if (args.get("all") or "") == "1":
        return Selection(run_filter, None, up_to_id)
    raw_ids = args.getlist("run") if hasattr(args, "getlist") else list(args.get("run") or [])
    if not raw_ids:
        raise ValidationFailed({"run": ["Select at least one run."]})
    if len(raw_ids) > MAX_SELECTED_IDS:
        raise ValidationFailed({"run": [f"Select at most {MAX_SELECTED_IDS} runs, or all runs matching the filter."]})
    if not all(is_plain_int(raw) and 0 < int(raw) < 2**63 for raw in raw_ids):
        raise ValidationFailed({"run": ["A selected run is not a run id."]})
    return Selection(run_filter, tuple(sorted({int(raw) for raw in raw_ids})), up_to_id)


def _conditions(workspace_id: int, selection: Selection, action: str) -> list:
    """Every run of the selection that the action applies to, in this workspace."""
    if selection.all_matching:
        conditions = (run_history_service.list_conditions(workspace_id, selection.run_filter)
                      + run_history_service.id_range(workspace_id, selection.run_filter))
        if selection.up_to_id is not None:
            conditions.append(WorkflowExecution.id <= selection.up_to_id)
    else:
        conditions = [WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.id.in_(selection.ids)]
    return [*conditions, WorkflowExecution.status.in_(APPLIES_TO[action])]


@dataclass
class Preview:
    """What the confirmation page says: how many selected runs the action applies to, how many it leaves."""
    count: int
    selected: int
    up_to_id: int | None
    paused_workflows: list = field(default_factory=list)  # (id, name) of paused workflows whose runs a replay makes


def preview(workspace_id: int, selection: Selection, action: str) -> Preview:
    """Count what the action would do, and fix "all matching" at the newest run matching now."""
    if selection.all_matching and selection.up_to_id is None:
        conditions = (run_history_service.list_conditions(workspace_id, selection.run_filter)
                      + run_history_service.id_range(workspace_id, selection.run_filter))
        newest = db.session.scalar(select(WorkflowExecution.id).where(*conditions)
                                   .order_by(WorkflowExecution.id.desc()).limit(1))
        selection = replace(selection, up_to_id=newest or 0)
    applies = _conditions(workspace_id, selection, action)
    count = db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(*applies))
    selected = db.session.scalar(select(func.count()).select_from(WorkflowExecution).where(*applies[:-1]))
    paused = paused_workflows(workspace_id, applies) if action == "replay" and count else []
    return Preview(count or 0, selected or 0, selection.up_to_id, paused)


PAUSED_NAMED = 3


def paused_workflows(workspace_id: int, applies: list) -> list[tuple[int, str]]:
    """Up to PAUSED_NAMED paused workflows with runs among these (a replay runs even so: the confirmation says
    to fix and activate the workflow first). One EXISTS per paused workflow, of which a workspace has few."""
    has_runs = exists().where(*applies, WorkflowExecution.workflow_id == Workflow.id)
    return list(db.session.execute(
        select(Workflow.id, Workflow.name).where(Workflow.workspace_id == workspace_id,
                                                 Workflow.status == WorkflowStatus.PAUSED, has_runs)
        .order_by(Workflow.name).limit(PAUSED_NAMED)).tuples())


def apply(workspace_id: int, selection: Selection, action: str, actor: User | None = None,
          options: replay_service.ReplayOptions = replay_service.ReplayOptions(),
          budget_seconds: float | None = None) -> BulkOutcome:
    """Do the action batch by batch (each committed) until the selection is done or the budget is spent; then
    hand the rest to a background job (or, with no background jobs, go on here)."""
    if selection.all_matching and selection.up_to_id is None:
        raise ValidationFailed({"up_to_id": ["Confirm the selection again: it has no upper bound."]})
    outcome = BulkOutcome(action, after_id=selection.after_id)
    deadline = time.monotonic() + (REQUEST_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    jobs = jobs_of(current_app)
    while True:
        ids = _next_batch(workspace_id, replace(selection, after_id=outcome.after_id), action)
        if not ids:
            break
        _do_batch(workspace_id, ids, action, actor, options, outcome)
        outcome.after_id = ids[-1]
        db.session.commit()
        if time.monotonic() > deadline and jobs is not None:
            outcome.remaining = _next_batch(workspace_id, replace(selection, after_id=outcome.after_id), action) != []
            break
    _audit(workspace_id, outcome, actor)
    db.session.commit()
    if outcome.remaining:
        jobs.run_job(JOB_PATH, [workspace_id, _as_job(replace(selection, after_id=outcome.after_id), action, options),
                                actor.id if actor else None])
    return outcome


def _next_batch(workspace_id: int, selection: Selection, action: str) -> list[int]:
    size = REPLAY_BATCH_SIZE if action == REPLAY else BATCH_SIZE
    return list(db.session.scalars(
        select(WorkflowExecution.id)
        .where(*_conditions(workspace_id, selection, action), WorkflowExecution.id > selection.after_id)
        .order_by(WorkflowExecution.id).limit(size)
    ))


def _do_batch(workspace_id: int, ids: list[int], action: str, actor, options, outcome: BulkOutcome) -> None:
    in_batch = [WorkflowExecution.workspace_id == workspace_id, WorkflowExecution.id.in_(ids)]
    if action == CANCEL:
        result = db.session.execute(
            update(WorkflowExecution).where(*in_batch, WorkflowExecution.status.in_(APPLIES_TO[CANCEL]))
            .values(status=RunStatus.CANCELLED, finished_at=utcnow(), lease_owner=None, lease_expires_at=None,
                    resume_at=None, error="Cancelled" + (f" by {actor.display_name}" if actor else ""))
            .execution_options(synchronize_session=False))
        outcome.done += result.rowcount
    elif action == DELETE:
        # Runs these resolved or replayed no longer point at them (resolved_by_id has no foreign key).
        db.session.execute(update(WorkflowExecution).where(WorkflowExecution.workspace_id == workspace_id,
                                                           WorkflowExecution.resolved_by_id.in_(ids))
                           .values(resolved_by_id=None).execution_options(synchronize_session=False))
        db.session.execute(update(WorkflowExecution).where(WorkflowExecution.workspace_id == workspace_id,
                                                           WorkflowExecution.replay_of_id.in_(ids))
                           .values(replay_of_id=None).execution_options(synchronize_session=False))
        result = db.session.execute(delete(WorkflowExecution).where(
            *in_batch, WorkflowExecution.status.in_(APPLIES_TO[DELETE])).execution_options(synchronize_session=False))
        outcome.done += result.rowcount
    else:
        originals = db.session.scalars(select(WorkflowExecution).where(*in_batch).order_by(WorkflowExecution.id))
        for original in originals:
            try:
                replay_service.replay_execution(original, options, actor, audit=False)
                outcome.done += 1
            except (ValidationFailed, NotFound) as refused:
                outcome.skipped[original.id] = replay_service.reason(refused)


def _audit(workspace_id: int, outcome: BulkOutcome, actor) -> None:
    if not outcome.done:
        return
    verb = {REPLAY: "Replayed", CANCEL: "Cancelled", DELETE: "Deleted"}[outcome.action]
    audit_service.record_event(
        workspace_id, f"execution.bulk_{outcome.action}", f"{verb} {outcome.done} run{'s' if outcome.done != 1 else ''}",
        actor_id=actor.id if actor else None, actor_label=actor.display_name if actor else "System",
        data={"count": outcome.done, "skipped": len(outcome.skipped), "up_to_after_id": outcome.after_id},
    )


# -- the background job ------------------------------------------------------------------------------
def _as_job(selection: Selection, action: str, options) -> dict:
    return {"action": action, "filter": selection.run_filter.query_args(), "ids": list(selection.ids or []) or None,
            "up_to_id": selection.up_to_id, "after_id": selection.after_id,
            "options": {"mode": options.mode, "definition": options.definition}}


def continue_bulk_action(workspace_id: int, job: dict, actor_id: int | None) -> None:
    """The rest of a bulk action, in the background (see the module's docstring)."""
    run_filter = run_history_service.parse_filter(workspace_id, MultiDict(job["filter"]))
    ids = tuple(job["ids"]) if job.get("ids") else None
    selection = Selection(run_filter, ids, job["up_to_id"], job["after_id"])
    actor = db.session.get(User, actor_id) if actor_id else None
    apply(workspace_id, selection, job["action"], actor, replay_service.parse_options(job["options"]),
          budget_seconds=JOB_BUDGET_SECONDS)

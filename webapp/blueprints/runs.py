"""The Runs tab and run detail: every execution of the workspace, replay and cancel.

Behind the AUTOMATIONS_ENABLED flag. Members view; owners and admins replay and cancel.
"""
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from models import Role, WorkflowExecution
from models.vocabulary import CANCELLABLE_RUN_STATUSES, RunMode, RunStatus, choices
from services import (execution_service, quick_rules_service, replay_service, run_bulk_service, run_history_service,
                      run_queue_service)
from services.common import is_plain_int
from services.errors import NotFound, ValidationFailed
from services.run_history_service import RunFilter
from webapp.extensions import db
from webapp.forms import actor, error_messages, workspace_id
from webapp.security import gate_behind_automations_flag, has_role, require_role, workspace_get_or_404

bp = Blueprint("runs", __name__, url_prefix="/automations/runs")
gate_behind_automations_flag(bp)

def _tabs() -> tuple:
    """All, each run status, and "Completed with errors" right after Completed."""
    tabs = [("", "All")]
    for value, label in choices(RunStatus):
        tabs.append((value, label))
        if value == RunStatus.COMPLETED:
            tabs.append((run_history_service.COMPLETED_WITH_ERRORS, "Completed with errors"))
    return tuple(tabs)


TABS = _tabs()
RUNS_TABLE_TARGET = "runs-table"
RUN_BODY_TARGET = "run-body"
# Up to this many workflows the filter is a plain <select> holding them all (it works without JavaScript);
# beyond, it holds the chosen one and Tom Select searches the others through workflow_options.
PLAIN_WORKFLOW_SELECT_MAX = 200
WORKFLOW_SEARCH_LIMIT = 20


# -- helpers --------------------------------------------------------------------------------------
def editor_urls(workflow_ids, rules: dict | None = None) -> dict[int, str]:
    """Links to the workflow editor; a Quick Rule's runs link to the Quick Rules page.
    `rules`: the Quick Rule names of these workflows, when already looked up."""
    ids = {wf_id for wf_id in workflow_ids if wf_id}
    if rules is None:
        rules = quick_rules_service.quick_rule_names(workspace_id(), ids)
    return {wf_id: url_for("quick_rules.index") if wf_id in rules else url_for("automations.edit_workflow", workflow_id=wf_id)
            for wf_id in ids}


def row_links(page) -> dict:
    """The runs table's links: editor_urls, and quick_rules ({workflow_id: rule name} for runs that came
    from a Quick Rule, labelled as such), from one Quick Rules lookup."""
    if page is None:
        return {"editor_urls": {}, "quick_rules": {}, "gone_resolvers": set()}
    ids = {run.workflow_id for run in page.runs if run.workflow_id}
    rules = quick_rules_service.quick_rule_names(workspace_id(), ids)
    return {"editor_urls": editor_urls(ids, rules), "quick_rules": rules,
            "gone_resolvers": run_history_service.gone_resolvers(workspace_id(), page.runs)}


def period_days() -> int:
    raw = request.args.get("period", "")
    return int(raw) if is_plain_int(raw) and int(raw) in run_history_service.PERIOD_CHOICES else run_history_service.DEFAULT_PERIOD_DAYS


def parse_listing() -> tuple[RunFilter, int | None, int | None]:
    errors = {}
    try:
        run_filter = run_history_service.parse_filter(workspace_id(), request.args)
    except ValidationFailed as failure:
        errors.update(failure.errors)
        run_filter = None
    try:
        before = run_history_service.parse_cursor(request.args.get("before"))
        after = run_history_service.parse_cursor(request.args.get("after"))
    except ValidationFailed as failure:
        errors.update(failure.errors)
        before = after = None
    if errors:
        raise ValidationFailed(errors)
    return run_filter, before, after


# -- the Runs tab -----------------------------------------------------------------------------------
@bp.get("")
def index():
    ws_id = workspace_id()
    try:
        run_filter, before, after = parse_listing()
    except ValidationFailed as failure:
        return _index_page(RunFilter(), None, failure.errors, 422)
    page = run_history_service.list_runs(ws_id, run_filter, before=before, after=after)
    if request.htmx and request.htmx.target == RUNS_TABLE_TARGET:
        counts = _tab_counts(run_filter)
        return render_template("runs/_partials/_runs_table.html", page=page, run_filter=run_filter,
                               can_manage=has_role(Role.ADMIN), match_total=_match_total(run_filter, counts),
                               queued=run_queue_service.queued_reasons(workspace_id(), page.runs), **row_links(page))
    return _index_page(run_filter, page)


def _tab_counts(run_filter: RunFilter) -> dict | None:
    """The status tabs' numbers; none while searching run data or listing test runs (the rollups count neither)."""
    if run_filter.search or run_filter.mode == RunMode.TEST:
        return None
    return run_history_service.status_counts(workspace_id(), run_filter.without_status())


def _match_total(run_filter: RunFilter, counts: dict | None) -> int | None:
    """How many runs the list's filter matches (the "select all N matching" box), when the tabs know it."""
    return None if counts is None else counts.get(run_filter.status or "all")


def _index_page(run_filter: RunFilter, page, errors=None, status=200):
    ws_id = workspace_id()
    scope = run_filter.workflow_id
    workflows, all_workflows_listed = run_history_service.workflow_filter_choices(ws_id, scope, PLAIN_WORKFLOW_SELECT_MAX)
    counts = _tab_counts(run_filter)
    return render_template(
        "runs/index.html",
        run_filter=run_filter, page=page, errors=errors or {}, form=request.args,
        tabs=TABS, counts=counts, match_total=_match_total(run_filter, counts),
        COMPLETED_WITH_ERRORS=run_history_service.COMPLETED_WITH_ERRORS,
        stats=run_history_service.stats(ws_id, period_days(), workflow_id=scope),
        period_choices=run_history_service.PERIOD_CHOICES,
        chart=run_history_service.daily_chart(ws_id, days=period_days(), workflow_id=scope),
        workflows=workflows, all_workflows_listed=all_workflows_listed,
        **row_links(page),
        queued=run_queue_service.queued_reasons(ws_id, page.runs if page else []),
        can_manage=has_role(Role.ADMIN),
    ), status


@bp.get("/workflows")
def workflow_options():
    """JSON for the workflow filter's search: {"workflows": [{"id", "name"}]}, at most 20, names containing `q`."""
    choices = run_history_service.workflow_choices(workspace_id(), request.args.get("q", ""), limit=WORKFLOW_SEARCH_LIMIT)
    return jsonify({"workflows": [{"id": wf_id, "name": name} for wf_id, name in choices]})


# -- one run ---------------------------------------------------------------------------------------
@bp.get("/<int:execution_id>")
def detail(execution_id):
    execution = workspace_get_or_404(WorkflowExecution, execution_id)
    if request.htmx and request.htmx.target == RUN_BODY_TARGET:
        return render_template("runs/_partials/_run_body.html", **_detail_context(execution))
    return _detail_page(execution)


def _detail_context(execution: WorkflowExecution) -> dict:
    ws_id = workspace_id()
    workflow_exists = execution.workflow_id is not None and execution.workflow is not None
    steps = run_history_service.timeline(execution)
    return {
        "run": execution,
        "queued": run_queue_service.queued_reasons(ws_id, [execution]).get(execution.id),
        "steps": steps,
        "replays": run_history_service.replays_of(ws_id, execution.id),
        "gone_resolvers": run_history_service.gone_resolvers(ws_id, [execution]),
        "editor_url": editor_urls([execution.workflow_id]).get(execution.workflow_id) if workflow_exists else None,
        "workflow_exists": workflow_exists,
        "can_manage": has_role(Role.ADMIN),
        "can_replay": execution.status in replay_service.REPLAYABLE,
        "can_replay_failed_step": replay_service.can_replay_from_failed_step(execution),
        "can_cancel": execution.status in CANCELLABLE_RUN_STATUSES,
        # the timeline position of the first failed step (a step inside a branch has no index of its own)
        "failed_step": next((position for position, step in enumerate(steps) if step["status"] == "failed"), None),
    }


def _detail_page(execution: WorkflowExecution, status: int = 200, messages=None):
    return render_template("runs/detail.html", messages=messages or [], **_detail_context(execution)), status


@bp.post("/<int:execution_id>/replay")
@require_role(Role.ADMIN)
def replay(execution_id):
    original = workspace_get_or_404(WorkflowExecution, execution_id)
    try:
        options = replay_service.parse_options(request.form)
        execution = replay_service.replay_execution(original, options, actor())
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        return _detail_page(workspace_get_or_404(WorkflowExecution, execution_id), 422, error_messages(failure.errors))
    except NotFound as missing:
        db.session.rollback()
        return _detail_page(workspace_get_or_404(WorkflowExecution, execution_id), 404, [str(missing)])
    flash(f"Run #{original.id} is being replayed as run #{execution.id}.", "success")
    return redirect(url_for("runs.detail", execution_id=execution.id))


@bp.post("/<int:execution_id>/cancel")
@require_role(Role.ADMIN)
def cancel(execution_id):
    execution = workspace_get_or_404(WorkflowExecution, execution_id)
    cancelled = execution_service.cancel_execution(execution, actor())
    db.session.commit()
    if cancelled:
        flash(f"Run #{execution.id} cancelled. A running step finishes; no further step starts.", "success")
    else:
        flash(f"Run #{execution.id} had already finished ({execution.status}); nothing to cancel.", "warning")
    return redirect(url_for("runs.detail", execution_id=execution.id))


# -- bulk replay ------------------------------------------------------------------------------------
@bp.get("/replay-failed")
@require_role(Role.ADMIN)
def confirm_bulk_replay():
    try:
        run_filter, _before, _after = parse_listing()
    except ValidationFailed as failure:
        return _index_page(RunFilter(), None, failure.errors, 422)
    candidates = replay_service.bulk_replay_candidates(workspace_id(), run_filter)
    return render_template(
        "runs/bulk_replay.html", run_filter=run_filter, count=len(candidates),
        total=replay_service.count_bulk_replay_candidates(workspace_id(), run_filter),
        limit=replay_service.BULK_REPLAY_LIMIT, up_to_id=candidates[-1] if candidates else None,
        filter_args=run_filter.query_args(),
        workflow_name=run_history_service.workflow_name(workspace_id(), run_filter.workflow_id),
    )


@bp.post("/replay-failed")
@require_role(Role.ADMIN)
def bulk_replay():
    try:
        run_filter = run_history_service.parse_filter(workspace_id(), request.form)
        up_to_id = run_history_service.parse_cursor(request.form.get("up_to_id"))
        options = replay_service.parse_options(request.form)
        result = replay_service.bulk_replay(workspace_id(), run_filter, options, up_to_id, actor())
        db.session.commit()
    except ValidationFailed as failure:
        db.session.rollback()
        flash("Nothing was replayed: " + " ".join(error_messages(failure.errors)), "danger")
        return redirect(url_for("runs.index", status=RunStatus.FAILED.value))
    message = f"Replaying {len(result.replays)} failed run{'s' if len(result.replays) != 1 else ''}."
    if result.skipped:
        first_id, reason = next(iter(result.skipped.items()))
        message += f" {len(result.skipped)} could not be replayed that way (e.g. run #{first_id}: {reason})"
    flash(message, "warning" if result.skipped else "success")
    return redirect(url_for("runs.index", **run_filter.without_status().query_args()))


# -- bulk actions on selected runs (or every run matching the filter) --------------------------------------
@bp.get("/bulk")
@require_role(Role.ADMIN)
def confirm_bulk_action():
    try:
        action = run_bulk_service.parse_action(request.args.get("action"))
        selection = run_bulk_service.parse_selection(workspace_id(), request.args)
    except ValidationFailed as failure:
        flash("Nothing to do: " + " ".join(error_messages(failure.errors)), "warning")
        return redirect(url_for("runs.index", **_kept_filter_args(request.args)))
    preview = run_bulk_service.preview(workspace_id(), selection, action)
    return render_template(
        "runs/bulk_confirm.html", action=action, action_label=run_bulk_service.ACTIONS[action], selection=selection,
        preview=preview, filter_args=selection.run_filter.query_args(),
        status_label=dict(TABS).get(selection.run_filter.status) if selection.run_filter.status else None,
        workflow_name=run_history_service.workflow_name(workspace_id(), selection.run_filter.workflow_id),
    )


@bp.post("/bulk")
@require_role(Role.ADMIN)
def bulk_action():
    try:
        action = run_bulk_service.parse_action(request.form.get("action"))
        selection = run_bulk_service.parse_selection(workspace_id(), request.form)
        options = replay_service.parse_options(request.form)
        outcome = run_bulk_service.apply(workspace_id(), selection, action, actor(), options)
    except ValidationFailed as failure:
        db.session.rollback()
        flash("Nothing was done: " + " ".join(error_messages(failure.errors)), "danger")
        return redirect(url_for("runs.index", **_kept_filter_args(request.form)))
    flash(*_bulk_message(outcome))
    return redirect(url_for("runs.index", **_kept_filter_args(request.form)))


def _kept_filter_args(args) -> dict:
    try:
        return run_history_service.parse_filter(workspace_id(), args).query_args()
    except ValidationFailed:
        return {}


def _bulk_message(outcome) -> tuple[str, str]:
    verb = {"replay": "Replaying", "cancel": "Cancelled", "delete": "Deleted"}[outcome.action]
    message = f"{verb} {outcome.done:,} run{'s' if outcome.done != 1 else ''}."
    if outcome.remaining:
        message += " The rest continue in the background; reload to see them."
    if outcome.skipped:
        first_id, reason = next(iter(outcome.skipped.items()))
        message += f" {len(outcome.skipped):,} could not be replayed that way (e.g. run #{first_id}: {reason})"
    return message, "warning" if outcome.skipped else "success"

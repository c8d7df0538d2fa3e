"""RQ job functions, enqueued by dotted path with ids only. They run inside the app context that the
worker class (engine.runtime.worker) pushes around every job, and leave the session clean.

Every job works within ENGINE_JOB_BUDGET_SECONDS: after that (or once the worker was asked to stop) it
takes no new run, finishes the step under way, gives back what it claimed and did not run, and queues
another wake job for the rest. RQ's own job_timeout (RQ_JOB_TIMEOUT_SECONDS) stays far above the budget;
if it ever fires, JobTimeoutException goes through the runner to RQ untouched (never a step's failure).
"""
import logging

from flask import current_app
from redis import RedisError
from rq import get_current_job

from engine.runtime.budget import WorkBudget
from engine.runtime.handoff import SWEEP_JOB, count_runs, job_options, push_back, rq_queue, take_due_ids, wake_more
from engine.runtime.runner import default_worker_id, run_claimed_batch, run_execution
from engine.runtime.sweep import fair_pick, sweep_pending_executions
from models import db

log = logging.getLogger(__name__)


def _budget(app) -> WorkBudget:
    return WorkBudget(app.config["ENGINE_JOB_BUDGET_SECONDS"])


def _worker_name() -> str:
    job = get_current_job()
    return (job.worker_name if job is not None else None) or default_worker_id()


def run_execution_job(execution_id: int):
    """Run one execution again at its time (a wait, a delay or a retry)."""
    app = current_app._get_current_object()
    budget = _budget(app)
    try:
        with budget.active():
            status = run_execution(execution_id)
        if status == "pending" and budget.spent():  # handed back between two steps: a woken worker goes on
            push_back(app, [execution_id])
        return status
    finally:
        db.session.remove()


def wake_job(slot: int | None = None):
    """A wake-up: pop batches of handed-over execution ids, claim each batch at once and run it, until none is
    left or the budget is spent; then give back what was not run and wake another worker for the rest."""
    app = current_app._get_current_object()
    batch = max(1, app.config["ENGINE_CLAIM_BATCH"])
    owner = default_worker_id()
    worker = _worker_name()
    totals: dict = {}
    handed_back: list[int] = []
    budget = _budget(app)
    try:
        with budget.active():
            ids = take_due_ids(app, slot, batch)
            while ids:
                wake_more(app)  # ids may still wait behind these: let idle workers join in
                counts = run_claimed_batch(ids, owner)
                if ids and not counts["claimed"]:  # all held back (caps): take the fairest due runs instead
                    counts = _merge(counts, run_claimed_batch(fair_pick(batch), owner))
                back = counts.pop("handed_back", [])
                handed_back += back
                count_runs(app, worker, counts["claimed"] - len(back))
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
                db.session.remove()
                if budget.spent():
                    break
                ids = take_due_ids(app, None, batch)
        if handed_back:
            push_back(app, handed_back)
        elif budget.spent():
            wake_more(app)  # the rest of the list, for whoever is free
        totals["handed_back"] = len(handed_back)
        return totals
    finally:
        db.session.remove()


def _merge(counts: dict, more: dict) -> dict:
    merged = dict(counts)
    for key, value in more.items():
        merged[key] = merged.get(key, 0) + value if not isinstance(value, list) else merged.get(key, []) + value
    return merged


def sweep_job():
    """The periodic sweep: with Redis it hands the due runs to every worker; run here (Redis refused them), what
    the budget left is swept by another sweep job queued at once."""
    app = current_app._get_current_object()
    try:
        with _budget(app).active():
            counts = sweep_pending_executions()
        if counts["left"]:
            try:
                rq_queue(app).enqueue(SWEEP_JOB, **job_options(app, result_ttl=60))
            except RedisError as error:  # the periodic sweep comes again anyway
                log.warning("Could not queue the rest of the sweep (%s)", error)
        return counts
    finally:
        db.session.remove()

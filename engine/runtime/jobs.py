"""RQ job functions, enqueued by dotted path with ids only. They run inside the app context that the
worker class (engine.runtime.worker) pushes around every job, and leave the session clean.

Every job works within ENGINE_JOB_BUDGET_SECONDS: after that (or once the worker was asked to stop) it
takes no new run, finishes the step under way, gives back what it claimed and did not run, and queues
another wake job for the rest. RQ's own job_timeout (RQ_JOB_TIMEOUT_SECONDS) stays far above the budget;
if it ever fires, JobTimeoutException goes through the runner to RQ untouched (never a step's failure).
"""
import logging
import threading
import time

from flask import current_app
from redis import RedisError
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from engine.runtime.budget import WorkBudget
from engine.runtime.crew import RunnerCrew
from engine.runtime.handoff import (SWEEP_JOB, count_runs, job_options, listen, push_back, queued_jobs,
                                    rq_queue, stop_listening, take_due_ids, wait_for_due_ids, wake_more)
from engine.runtime.runner import default_worker_id, run_execution
from engine.runtime.sweep import sweep_pending_executions
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
    """A wake-up: a coordinator (this job's thread) pops batches of handed-over ids and gives each to a free
    runner thread of this process (WORKER_RUNNER_THREADS), so one slow step never holds the others. While it
    has a free thread it listens on the list itself (a blocking pop; hand-offs queue no wake job meanwhile),
    and it stays awake ENGINE_WAKE_LINGER_SECONDS after the last run, unless other jobs wait in the queue.
    Once the budget is spent (or the worker is stopping) every thread finishes its step; what was claimed and
    not run goes back to the list, and another worker is woken for the rest."""
    app = current_app._get_current_object()
    budget = _budget(app)
    tally = _Tally(app, _worker_name())
    crew = RunnerCrew(app, app.config["WORKER_RUNNER_THREADS"], "workestra-runner", budget, on_batch=tally.add)
    try:
        try:
            ids = take_due_ids(app, slot, max(1, app.config["ENGINE_CLAIM_BATCH"]))
            not_started = _coordinate(app, crew, tally, ids, budget)
        except JobTimeoutException:  # RQ stops the job: the steps under way stop unrecorded, as they would here
            crew.interrupt(JobTimeoutException)
            raise
        except BaseException:  # Redis went away under the coordinator: the threads finish what they took
            crew.stop()
            raise
        finally:
            stop_listening(app, tally.worker)
        left = crew.stop()
        handed_back = not_started + tally.handed_back + left
        if handed_back:
            push_back(app, handed_back)
        elif budget.spent():
            wake_more(app)  # the rest of the list, for whoever is free
        return dict(tally.totals, handed_back=len(handed_back))
    finally:
        db.session.remove()


LISTEN_POLL_SECONDS = 0.5  # a blocking pop's wait: how often the coordinator looks at its budget


def _coordinate(app, crew: RunnerCrew, tally: "_Tally", ids: list[int], budget: WorkBudget) -> list[int]:
    """Hand the popped ids to the crew until the budget is spent; returns the ids popped and not handed to it (the
    budget ran out between the pop and the hand-over): the caller gives them back, first in line."""
    worker = tally.worker
    batch = max(1, app.config["ENGINE_CLAIM_BATCH"])
    linger = max(0.0, app.config["ENGINE_WAKE_LINGER_SECONDS"])
    idle_since = None
    listening_until = 0.0
    while not budget.spent():
        if ids:
            crew.submit(ids)
            if len(ids) == batch:
                wake_more(app)  # ids may still wait behind these: let idle workers join in
            ids, idle_since = [], None
            continue
        if not crew.free():  # every thread busy: others must be woken for what comes now
            if listening_until:
                stop_listening(app, worker)
                listening_until = 0.0
                wake_more(app)
            crew.wait_for_free(LISTEN_POLL_SECONDS)
            continue
        if crew.idle():
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since >= linger or (now - idle_since >= LISTEN_POLL_SECONDS and queued_jobs(app)):
                stop_listening(app, worker)  # then one last look: a hand-off that saw us listening pushed these
                listening_until = 0.0
                ids = take_due_ids(app, None, batch)
                if not ids:
                    return []
                continue
        else:
            idle_since = None
        if time.monotonic() >= listening_until - 2 * LISTEN_POLL_SECONDS:
            listen(app, worker, 6 * LISTEN_POLL_SECONDS)
            listening_until = time.monotonic() + 6 * LISTEN_POLL_SECONDS
            ids = take_due_ids(app, None, batch)  # pushed before we listened: no wake job was queued for them either
            if ids:
                continue
        ids = wait_for_due_ids(app, batch, LISTEN_POLL_SECONDS)
    return ids


class _Tally:
    """What the runner threads of one wake job did (they report from their own threads)."""

    def __init__(self, app, worker: str):
        self.app = app
        self.worker = worker
        self.lock = threading.Lock()
        self.totals: dict = {}
        self.handed_back: list[int] = []

    def add(self, counts: dict) -> None:
        back = counts.pop("handed_back", [])
        try:  # at once: operators and bench/ read it as soon as the runs are finished
            count_runs(self.app, self.worker, counts["claimed"] - len(back))
        except RedisError as error:  # the count is for bench/ and operators only
            log.debug("Runs per worker not counted: %s", error)
        with self.lock:
            self.handed_back += back
            for key, value in counts.items():
                self.totals[key] = self.totals.get(key, 0) + value


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

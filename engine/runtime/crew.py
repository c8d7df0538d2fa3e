"""Runner threads inside one RQ worker process: the wake job hands batches of execution ids to a RunnerCrew,
so one slow step (a receiver trickling its answer up to the outgoing deadline) holds one thread, never the
whole process. (The embedded runner, engine.runtime.embedded, still has its own threads.)

Each thread pushes its own app context (its own session) and runs `run_claimed_batch` under its own lease
owner (engine.runtime.runner.default_worker_id carries the thread). A crew given a WorkBudget activates it
in every thread, so a spent budget or a warm shutdown stops each thread at its next step boundary and the
runs it claimed and did not start are handed back.
"""
import contextlib
import ctypes
import logging
import queue as stdlib_queue
import threading
import time

from engine.runtime.budget import WorkBudget
from engine.runtime.handoff import push_back, take_due_ids
from engine.runtime.runner import run_claimed_batch
from engine.runtime.sweep import fair_pick, held_back
from models import db

log = logging.getLogger(__name__)


class RunnerCrew:
    """`size` threads taking batches from one queue. `submit` never blocks; `free()` says how many threads
    have nothing to do (submitted batches count as taken until they are done)."""

    def __init__(self, app, size: int, name: str, budget: WorkBudget | None = None, on_batch=None):
        self.app = app
        self.size = max(1, size)
        self.budget = budget
        self.on_batch = on_batch  # called in the thread with the counts of each batch it ran
        self.work: stdlib_queue.SimpleQueue = stdlib_queue.SimpleQueue()
        self.outstanding = 0
        self.changed = threading.Condition()
        self.threads = [threading.Thread(target=self._loop, name=f"{name}-{n}", daemon=True) for n in range(self.size)]
        for thread in self.threads:
            thread.start()

    # -- the caller's side ------------------------------------------------------------------
    def submit(self, execution_ids: list[int]) -> None:
        with self.changed:
            self.outstanding += 1
        self.work.put(list(execution_ids))

    def free(self) -> int:
        with self.changed:
            return self.size - self.outstanding

    def idle(self) -> bool:
        return self.free() == self.size

    def wait_for_free(self, timeout: float) -> bool:
        """Block until a thread is free (True) or the timeout passes."""
        with self.changed:
            return self.changed.wait_for(lambda: self.outstanding < self.size, timeout)

    def stop(self, timeout: float | None = None) -> list[int]:
        """Let every thread finish what it took (a spent budget makes that one step), end them; the ids of
        batches no thread had taken yet are returned unclaimed."""
        left = []
        for _ in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join(timeout)
        while True:
            try:
                batch = self.work.get_nowait()
            except stdlib_queue.Empty:
                return left
            if batch is not None:
                left += batch

    def interrupt(self, exception_type: type[BaseException]) -> None:
        """Raise `exception_type` in every live thread (RQ's job timeout reaching the steps under way: they stop
        without recording anything, as a step in the job's own thread would). Delivered when the thread next
        runs Python code."""
        for thread in self.threads:
            if thread.is_alive() and thread.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                           ctypes.py_object(exception_type))
        for _ in self.threads:  # a thread that was between batches ends too
            self.work.put(None)

    # -- the threads' side -------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                batch = self.work.get()
                if batch is None:
                    return
                try:
                    self._run(batch)
                finally:
                    with self.changed:
                        self.outstanding -= 1
                        self.changed.notify_all()
        except BaseException as error:  # RQ's job timeout delivered by interrupt(): the job is over already
            log.warning("Runner thread %s stopped: %s", threading.current_thread().name, type(error).__name__)

    def _run(self, batch: list[int]) -> None:
        with self.app.app_context():
            try:
                with self.budget.active() if self.budget is not None else contextlib.nullcontext():
                    counts = run_claimed_batch(batch)
                    if batch and not counts["claimed"]:  # all held back by full caps: the fairest due runs instead
                        sift(self.app)
                        counts = _merged(counts, run_claimed_batch(fair_pick(len(batch))))
                if self.on_batch is not None:
                    self.on_batch(counts)
            except Exception:
                log.exception("Runner thread failed on executions %s; the sweep will retry them", batch)
            finally:
                db.session.remove()


SIFT_CHUNK = 1000  # ids looked at by one sift
IDLE_SIFT_PAUSE_SECONDS = 1.0  # after a sift that dropped nothing, this process does not sift for this long
_IDLE_SIFT = {"until": 0.0}


def sift(app) -> None:
    """Issue #22: a batch all held back by full caps means a capped burst fills the head of the due list (one
    workspace's 5,000 runs ahead of another's 10). Take the next SIFT_CHUNK ids off the list, drop those a full
    cap holds back now (one query; a claim would drop them too, and a freed slot or the sweep hands them over),
    and put the rest back first in line: the runs that can start come up at once instead of behind the burst, and
    the workers do not claim their way through it 20 at a time. Nothing is lost: a run dropped here stays pending
    in the database, and a sift that fails puts every id back (a process dying mid-sift leaves them to the sweep)."""
    if time.monotonic() < _IDLE_SIFT["until"]:
        return
    ids = take_due_ids(app, None, SIFT_CHUNK)
    if not ids:
        return
    try:
        dropped = set(held_back(ids)) if ids else set()
    except Exception:
        log.warning("Could not sift the due list; %s ids go back as they were", len(ids), exc_info=True)
        db.session.rollback()
        dropped = set()
    keep = [execution_id for execution_id in ids if execution_id not in dropped]
    push_back(app, keep)
    if not dropped:  # no cap held these back (the batch's ids were taken by others): look again in a while
        _IDLE_SIFT["until"] = time.monotonic() + IDLE_SIFT_PAUSE_SECONDS


def _merged(counts: dict, more: dict) -> dict:
    merged = dict(counts)
    for key, value in more.items():
        merged[key] = merged.get(key, [] if isinstance(value, list) else 0) + value
    return merged

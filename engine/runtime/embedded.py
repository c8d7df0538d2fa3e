"""The embedded default's runner: a few worker threads in the web process, a timer thread for waits
and retries, and a periodic sweep. Each thread pushes an app context and uses its own session."""
import heapq
import logging
import queue as stdlib_queue
import threading
import time
from datetime import datetime, timezone

from engine.runtime.runner import run_claimed_batch
from engine.runtime.sweep import sweep_pending_executions
from models import db

log = logging.getLogger(__name__)

EMBEDDED_RUNNER_KEY = "workestra_embedded_runner"


def embedded_runner(app) -> "EmbeddedRunner":
    runner = app.extensions.get(EMBEDDED_RUNNER_KEY)
    if runner is None:
        with _CREATE_LOCK:
            runner = app.extensions.get(EMBEDDED_RUNNER_KEY)
            if runner is None:
                runner = EmbeddedRunner(app)
                app.extensions[EMBEDDED_RUNNER_KEY] = runner
                runner.start()
    return runner


_CREATE_LOCK = threading.Lock()


class EmbeddedRunner:
    """A few worker threads, a timer thread for waits and retries, and a periodic sweep."""

    def __init__(self, app):
        self.app = app
        self.size = max(1, app.config["EMBEDDED_WORKERS"])
        self.batch_size = max(1, app.config["ENGINE_CLAIM_BATCH"])
        self.sweep_interval = app.config["SWEEP_INTERVAL_SECONDS"]
        self.work: stdlib_queue.Queue = stdlib_queue.Queue()
        self.timers: list[tuple[float, int]] = []
        self.timers_changed = threading.Condition()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.busy = 0
        self.busy_lock = threading.Lock()
        self.backlog = 0  # ids submitted and not yet run (waiting, or in a batch under way)
        self.room = threading.Condition()
        self.local = threading.local()  # .runner: True in this runner's own threads

    def start(self) -> None:
        for n in range(self.size):
            self._spawn(self._work_loop, f"workestra-runner-{n}")
        self._spawn(self._timer_loop, "workestra-timers")
        if self.sweep_interval > 0:
            self._spawn(self._sweep_loop, "workestra-sweeper")

    def _spawn(self, target, name):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def submit(self, execution_id: int) -> None:
        with self.room:
            self.backlog += 1
        self.work.put(execution_id)

    def wait_for_room(self, limit: int, timeout: float) -> bool:
        """Block the calling (request) thread while more than `limit` runs wait for this runner, at most `timeout`
        seconds: in a burst the front door slows to the runner's pace instead of queueing runs for seconds.
        Never blocks the runner's own threads (a step's event hands over runs too). False on timeout."""
        if limit <= 0 or getattr(self.local, "runner", False):
            return True
        with self.room:
            return self.room.wait_for(lambda: self.backlog <= limit or self.stopping.is_set(), timeout)

    def submit_at(self, execution_id: int, when: datetime) -> None:
        with self.timers_changed:
            heapq.heappush(self.timers, (when.astimezone(timezone.utc).timestamp(), execution_id))
            self.timers_changed.notify()

    def idle(self) -> bool:
        with self.busy_lock:
            return self.work.empty() and self.busy == 0

    def stop(self, timeout: float = 5.0) -> None:
        with self.timers_changed:
            self.stopping.set()
            self.timers_changed.notify_all()
        with self.room:
            self.room.notify_all()
        for _ in range(self.size):
            self.work.put(None)
        for thread in self.threads:
            thread.join(timeout=timeout)

    def _take_batch(self) -> list[int] | None:
        """Block for one id, then take whatever else is already waiting (up to the claim batch)."""
        first = self.work.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                more = self.work.get_nowait()
            except stdlib_queue.Empty:
                break
            if more is None:  # stop() asked this thread to end: finish this batch first
                self.work.put(None)
                break
            batch.append(more)
        return batch

    def _work_loop(self) -> None:
        self.local.runner = True
        while not self.stopping.is_set():
            batch = self._take_batch()
            if batch is None:
                return
            with self.busy_lock:
                self.busy += 1
            try:
                with self.app.app_context():
                    try:
                        run_claimed_batch(batch)
                    finally:
                        db.session.remove()
            except Exception:
                log.exception("Embedded runner failed on executions %s; the sweep will retry them", batch)
            finally:
                with self.busy_lock:
                    self.busy -= 1
                with self.room:
                    self.backlog -= len(batch)
                    self.room.notify_all()

    def _timer_loop(self) -> None:
        while True:
            with self.timers_changed:
                # Checked under the lock, so stop() can never slip in between the check and the wait.
                if self.stopping.is_set():
                    return
                if not self.timers:
                    self.timers_changed.wait()
                    continue
                due_at, execution_id = self.timers[0]
                delay = due_at - time.time()
                if delay > 0:
                    self.timers_changed.wait(timeout=delay)
                    continue
                heapq.heappop(self.timers)
            self.submit(execution_id)

    def _sweep_loop(self) -> None:
        while not self.stopping.wait(self.sweep_interval):
            try:
                with self.app.app_context():
                    try:
                        sweep_pending_executions()
                    finally:
                        db.session.remove()
            except Exception:
                log.exception("Embedded sweep failed")

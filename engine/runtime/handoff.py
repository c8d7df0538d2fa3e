"""Hand executions to whoever runs them: RQ when REDIS_URL is set, in-process threads otherwise.

Nothing here is needed for correctness: a row left pending (queue down, process killed) is run by
the sweep. The queue only makes runs start right away.
"""
import atexit
import heapq
import logging
import os
import queue as stdlib_queue
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone

log = logging.getLogger(__name__)

RQ_QUEUE_NAME = "workestra"
RUN_JOB = "engine.runtime.jobs.run_execution_job"
WAKE_JOB = "engine.runtime.jobs.wake_job"
SWEEP_JOB = "engine.runtime.jobs.sweep_job"
EXTENSION_KEY = "workestra_embedded_runner"
REDIS_KEY = "workestra_redis"
HAND_OFF_KEY = "workestra_hand_off_script"
HAND_OFF_THREAD_KEY = "workestra_hand_off_thread"

# RQ as a wake-up (issue #11): the hand-off pushes ids onto one Redis list and makes sure a few wake
# jobs are queued; a woken worker pops a batch of ids, claims them in one statement and runs them,
# until the list is empty. A slot key per queued wake job (freed when the job starts) keeps the number
# of queued wake jobs at RQ_WAKE_SLOTS however many events arrive; the TTL heals a lost job.
DUE_LIST_KEY = "workestra:due-executions"
WAKE_SLOT_KEY = "workestra:wake-slot:{}"
WAKE_SLOT_TTL_SECONDS = 15


def enqueue_executions(app, execution_ids: list[int]) -> None:
    if not execution_ids or app.config.get("ENGINE_HANDOFF") == "sweep":
        return
    if app.config.get("REDIS_URL"):
        _enqueue_rq(app, execution_ids)
    else:
        runner = embedded_runner(app)
        for execution_id in execution_ids:
            runner.submit(execution_id)


def enqueue_execution_at(app, execution_id: int, when: datetime) -> None:
    """Run the execution again at `when` (a wait, a delay or a retry)."""
    if app.config.get("ENGINE_HANDOFF") == "sweep":
        return
    if app.config.get("REDIS_URL"):
        _enqueue_rq(app, [execution_id], at=when)
    else:
        embedded_runner(app).submit_at(execution_id, when)


# -- RQ -------------------------------------------------------------------------------------
def redis_connection(app):
    """One Redis client (and connection pool) per app: a new client per call would connect per event."""
    from redis import Redis

    client = app.extensions.get(REDIS_KEY)
    if client is None:
        client = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        app.extensions[REDIS_KEY] = client
    return client


def rq_queue(app):
    from rq import Queue

    return Queue(RQ_QUEUE_NAME, connection=redis_connection(app))


# RPUSH the ids, then SET NX EX each slot key; returns the slots this call took. One command for what
# was a pipeline of 1 + RQ_WAKE_SLOTS: the hand-off runs in the request after every commit (B3).
HAND_OFF_SCRIPT = """
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
local won = {}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], 'queued', 'NX', 'EX', ARGV[1]) then
    table.insert(won, i - 2)
  end
end
return won
"""
HAND_OFF_CHUNK = 1000  # ids per call: Lua's unpack() takes a few thousand arguments at most


def _hand_off_script(app):
    script = app.extensions.get(HAND_OFF_KEY)
    if script is None:
        script = redis_connection(app).register_script(HAND_OFF_SCRIPT)
        app.extensions[HAND_OFF_KEY] = script
    return script


def _wake_workers(app, execution_ids: list[int]) -> None:
    slots = int(app.config.get("RQ_WAKE_SLOTS", 4))
    slot_keys = [WAKE_SLOT_KEY.format(slot) for slot in range(slots)]
    script = _hand_off_script(app)
    won = []
    for start in range(0, len(execution_ids), HAND_OFF_CHUNK):
        chunk = execution_ids[start:start + HAND_OFF_CHUNK]
        won += script(keys=[DUE_LIST_KEY, *slot_keys], args=[WAKE_SLOT_TTL_SECONDS, *chunk])
    if won:
        q = rq_queue(app)
        for slot in won:
            q.enqueue(WAKE_JOB, slot, result_ttl=0, failure_ttl=86400)


class HandOff:
    """Pushes handed-over ids to Redis from one background thread per process and app (issue #11, B3).

    The request that committed the executions does not wait for Redis, and ids handed over while a
    push is under way go together in the next one. A process that dies before its push leaves the
    rows pending, which the sweep runs: the same as a push failing, and Redis is only a wake-up.
    """

    def __init__(self, app):
        self.app = app
        self.pid = os.getpid()
        self.ids: stdlib_queue.SimpleQueue = stdlib_queue.SimpleQueue()
        self.pending = 0
        self.changed = threading.Condition()
        threading.Thread(target=self.loop, name="workestra-hand-off", daemon=True).start()

    def put(self, execution_ids: list[int]) -> None:
        with self.changed:
            self.pending += 1
        self.ids.put(list(execution_ids))

    def loop(self) -> None:
        from redis import RedisError

        while True:
            batches = [self.ids.get()]
            while True:
                try:
                    batches.append(self.ids.get_nowait())
                except stdlib_queue.Empty:
                    break
            stopping = None in batches
            batches = [batch for batch in batches if batch is not None]
            execution_ids = [execution_id for batch in batches for execution_id in batch]
            try:
                if execution_ids:
                    _wake_workers(self.app, execution_ids)
            except RedisError as error:
                log.warning("Queue unreachable (%s); executions %s stay pending for the sweep", error, execution_ids)
            except Exception:  # never let the thread die: the sweep runs whatever was not pushed
                log.exception("Hand-off of executions %s failed; they stay pending for the sweep", execution_ids)
            with self.changed:
                self.pending -= len(batches)
                self.changed.notify_all()
            if stopping:
                return

    def stop(self) -> None:
        """Push what is left and end the thread (the app shuts down)."""
        self.drain(2.0)
        self.ids.put(None)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every id handed over so far has been pushed; False on timeout."""
        with self.changed:
            return self.changed.wait_for(lambda: self.pending == 0, timeout)


_HAND_OFF_LOCK = threading.Lock()
_LIVE_HAND_OFFS: "weakref.WeakSet[HandOff]" = weakref.WeakSet()


@atexit.register
def _push_before_exit() -> None:  # a CLI command (flask demo) exits right after its last commit
    for hand_off in list(_LIVE_HAND_OFFS):
        if hand_off.pid == os.getpid():
            hand_off.drain(2.0)


def _hand_off(app) -> HandOff:
    hand_off = app.extensions.get(HAND_OFF_THREAD_KEY)
    if hand_off is None or hand_off.pid != os.getpid():  # a forked process starts its own thread
        with _HAND_OFF_LOCK:
            hand_off = app.extensions.get(HAND_OFF_THREAD_KEY)
            if hand_off is None or hand_off.pid != os.getpid():
                hand_off = HandOff(app)
                app.extensions[HAND_OFF_THREAD_KEY] = hand_off
                _LIVE_HAND_OFFS.add(hand_off)
    return hand_off


def drain_hand_offs(app, timeout: float = 5.0) -> bool:
    """Wait until this process has pushed every id handed to Redis so far (tests; shutdown)."""
    hand_off = app.extensions.get(HAND_OFF_THREAD_KEY)
    return hand_off.drain(timeout) if hand_off is not None and hand_off.pid == os.getpid() else True


def take_due_ids(app, slot: int | None, count: int) -> list[int]:
    """For a wake job: free its slot (the first call), then pop up to `count` handed-over ids."""
    connection = redis_connection(app)
    if slot is not None:
        connection.delete(WAKE_SLOT_KEY.format(slot))
    return [int(raw) for raw in connection.lpop(DUE_LIST_KEY, count) or []]


def _enqueue_rq(app, execution_ids: list[int], at: datetime | None = None) -> None:
    from redis import RedisError

    if at is None:
        _hand_off(app).put(execution_ids)
        return
    # RQ's scheduler keeps whole seconds and may fire up to a second early: round up.
    at = at.replace(microsecond=0) + timedelta(seconds=1) if at.microsecond else at
    try:
        q = rq_queue(app)
        for execution_id in execution_ids:
            options = {"job_id": _job_id(execution_id, at), "result_ttl": 60, "failure_ttl": 86400}
            q.enqueue_at(at, RUN_JOB, execution_id, **options)
    except RedisError as error:
        log.warning("Queue unreachable (%s); executions %s stay pending for the sweep", error, execution_ids)


def _job_id(execution_id: int, at: datetime | None) -> str:
    # One job per execution (and per resume time), so a double hand-off does not queue it twice.
    return f"execution-{execution_id}" if at is None else f"execution-{execution_id}-at-{int(at.timestamp())}"


# -- embedded ---------------------------------------------------------------------------------
def embedded_runner(app) -> "EmbeddedRunner":
    runner = app.extensions.get(EXTENSION_KEY)
    if runner is None:
        with _CREATE_LOCK:
            runner = app.extensions.get(EXTENSION_KEY)
            if runner is None:
                runner = EmbeddedRunner(app)
                app.extensions[EXTENSION_KEY] = runner
                runner.start()
    return runner


def shutdown(app) -> None:
    hand_off = app.extensions.pop(HAND_OFF_THREAD_KEY, None)
    if hand_off is not None and hand_off.pid == os.getpid():
        hand_off.stop()
    runner = app.extensions.pop(EXTENSION_KEY, None)
    if runner is not None:
        runner.stop()


_CREATE_LOCK = threading.Lock()


class EmbeddedRunner:
    """A few worker threads, a timer thread for waits and retries, and a periodic sweep."""

    def __init__(self, app):
        self.app = app
        self.size = max(1, int(app.config.get("EMBEDDED_WORKERS", 2)))
        self.batch_size = max(1, int(app.config.get("ENGINE_CLAIM_BATCH", 20)))
        self.sweep_interval = float(app.config.get("SWEEP_INTERVAL_SECONDS", 30))
        self.work: stdlib_queue.Queue = stdlib_queue.Queue()
        self.timers: list[tuple[float, int]] = []
        self.timers_changed = threading.Condition()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.busy = 0
        self.busy_lock = threading.Lock()

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
        self.work.put(execution_id)

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
        from engine.runtime.runner import run_claimed_batch
        from models import db

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
        from engine.runtime.runner import sweep_pending_executions
        from models import db

        while not self.stopping.wait(self.sweep_interval):
            try:
                with self.app.app_context():
                    try:
                        sweep_pending_executions()
                    finally:
                        db.session.remove()
            except Exception:
                log.exception("Embedded sweep failed")

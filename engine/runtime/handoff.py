"""The hand-off's two implementations (engine.core.handoff.HandOff): RQ when REDIS_URL is set,
the in-process runner's threads otherwise; `install(app)` puts the right one on the app.

Nothing here is needed for correctness: a row left pending (queue down, process killed) is run by
the sweep. The queue only makes runs start right away. Jobs are enqueued by dotted path with ids only.
"""
import atexit
import logging
import os
import queue as stdlib_queue
import threading
import weakref
from datetime import datetime, timedelta

from flask import Flask
from redis import RedisError
from rq import Queue
from rq.utils import import_attribute

from engine.core import handoff as handoff_port
from engine.core.redis_client import redis_connection
from engine.runtime.embedded import EMBEDDED_RUNNER_KEY, embedded_runner

log = logging.getLogger(__name__)

RQ_QUEUE_NAME = "workestra"
RUN_JOB = "engine.runtime.jobs.run_execution_job"
WAKE_JOB = "engine.runtime.jobs.wake_job"
SWEEP_JOB = "engine.runtime.jobs.sweep_job"
HAND_OFF_KEY = "workestra_hand_off_script"
HAND_OFF_THREAD_KEY = "workestra_hand_off_thread"

# RQ as a wake-up (issue #11): the hand-off pushes ids onto one Redis list and makes sure a few wake
# jobs are queued; a woken worker pops a batch of ids, claims them in one statement and runs them,
# until the list is empty. A slot key per queued wake job (freed when the job starts) keeps the number
# of queued wake jobs at RQ_WAKE_SLOTS however many events arrive; the TTL heals a lost job.
DUE_LIST_KEY = "workestra:due-executions"
WAKE_SLOT_KEY = "workestra:wake-slot:{}"
WAKE_SLOT_TTL_SECONDS = 15


class RQHandOff:
    """Runs go to Redis: now through the hand-off thread and a wake job, later through RQ's scheduler."""

    def __init__(self, app: Flask):
        self.app = app

    def hand_over(self, execution_ids: list[int]) -> None:
        _redis_pusher(self.app).put(execution_ids)

    def hand_over_at(self, execution_id: int, when: datetime) -> None:
        _enqueue_at(self.app, [execution_id], when)


class EmbeddedHandOff:
    """Runs go to this process's runner threads (started on first use)."""

    def __init__(self, app: Flask):
        self.app = app

    def hand_over(self, execution_ids: list[int]) -> None:
        runner = embedded_runner(self.app)
        for execution_id in execution_ids:
            runner.submit(execution_id)

    def hand_over_at(self, execution_id: int, when: datetime) -> None:
        embedded_runner(self.app).submit_at(execution_id, when)


class RQJobs:
    """Background jobs (mail delivery) on the RQ queue; a delay goes through RQ's scheduler."""

    def __init__(self, app: Flask):
        self.app = app

    def run_job(self, path: str, args: list, delay_seconds: float = 0) -> None:
        options = {"result_ttl": 0, "failure_ttl": 86400}
        if delay_seconds > 0:
            rq_queue(self.app).enqueue_in(timedelta(seconds=delay_seconds), path, *args, **options)
        else:
            rq_queue(self.app).enqueue(path, *args, **options)


class EmbeddedJobs:
    """Background jobs in this process: a timer thread per job, in the app context."""

    def __init__(self, app: Flask):
        self.app = app
        self.timers: "weakref.WeakSet[threading.Timer]" = weakref.WeakSet()

    def run_job(self, path: str, args: list, delay_seconds: float = 0) -> None:
        timer = threading.Timer(max(0.0, delay_seconds), self._run, (path, args))
        timer.daemon = True
        self.timers.add(timer)
        timer.start()

    def stop(self) -> None:
        for timer in list(self.timers):
            timer.cancel()

    def _run(self, path: str, args: list) -> None:
        with self.app.app_context():
            try:
                import_attribute(path)(*args)
            except Exception:  # the job's rows stay queued: `flask emails deliver` and the Retry button remain
                log.exception("Background job %s%s failed", path, tuple(args))


def install(app: Flask) -> None:
    """Put the app's hand-off in place: RQ with REDIS_URL, else embedded (unused while ENGINE_HANDOFF=sweep)."""
    hand_off = RQHandOff(app) if app.config["REDIS_URL"] else EmbeddedHandOff(app)
    app.extensions[handoff_port.EXTENSION_KEY] = hand_off
    app.extensions[handoff_port.JOBS_EXTENSION_KEY] = RQJobs(app) if app.config["REDIS_URL"] else EmbeddedJobs(app)


def enqueue_executions(app: Flask, execution_ids: list[int]) -> None:
    """Hand these executions over now (they are committed already)."""
    if execution_ids:
        handoff_port.hand_off_of(app).hand_over(execution_ids)


# -- RQ -------------------------------------------------------------------------------------
def rq_queue(app):
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
    slots = app.config["RQ_WAKE_SLOTS"]
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


class RedisPusher:
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
_LIVE_HAND_OFFS: "weakref.WeakSet[RedisPusher]" = weakref.WeakSet()


@atexit.register
def _push_before_exit() -> None:  # a CLI command (flask demo) exits right after its last commit
    for hand_off in list(_LIVE_HAND_OFFS):
        if hand_off.pid == os.getpid():
            hand_off.drain(2.0)


def _redis_pusher(app) -> RedisPusher:
    hand_off = app.extensions.get(HAND_OFF_THREAD_KEY)
    if hand_off is None or hand_off.pid != os.getpid():  # a forked process starts its own thread
        with _HAND_OFF_LOCK:
            hand_off = app.extensions.get(HAND_OFF_THREAD_KEY)
            if hand_off is None or hand_off.pid != os.getpid():
                hand_off = RedisPusher(app)
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


def _enqueue_at(app, execution_ids: list[int], at: datetime) -> None:
    # RQ's scheduler keeps whole seconds and may fire up to a second early: round up.
    at = at.replace(microsecond=0) + timedelta(seconds=1) if at.microsecond else at
    try:
        q = rq_queue(app)
        for execution_id in execution_ids:
            options = {"job_id": _job_id(execution_id, at), "result_ttl": 60, "failure_ttl": 86400}
            q.enqueue_at(at, RUN_JOB, execution_id, **options)
    except RedisError as error:
        log.warning("Queue unreachable (%s); executions %s stay pending for the sweep", error, execution_ids)


def _job_id(execution_id: int, at: datetime) -> str:
    # One job per execution and resume time, so a double hand-off does not queue it twice.
    return f"execution-{execution_id}-at-{int(at.timestamp())}"


def shutdown(app) -> None:
    """Push what is left to Redis and stop this process's runner threads (the app shuts down)."""
    hand_off = app.extensions.pop(HAND_OFF_THREAD_KEY, None)
    if hand_off is not None and hand_off.pid == os.getpid():
        hand_off.stop()
    runner = app.extensions.pop(EMBEDDED_RUNNER_KEY, None)
    if runner is not None:
        runner.stop()
    jobs = app.extensions.get(handoff_port.JOBS_EXTENSION_KEY)
    if isinstance(jobs, EmbeddedJobs):
        jobs.stop()  # jobs not started yet stay undone: their rows stay queued



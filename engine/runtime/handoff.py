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
import time
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

# Issue #17: every RQ worker writes a heartbeat (its name → unix time) every WORKER_HEARTBEAT_SECONDS.
# The number of wake slots is the larger of RQ_WAKE_SLOTS and the live workers, so every worker of a
# burst gets a wake job however many machines there are; a woken worker that leaves ids behind queues
# another wake job (a free slot permitting), so the wake-ups spread as far as the backlog goes.
WORKER_HEARTBEATS_KEY = "workestra:worker-heartbeats"
WORKER_RUNS_KEY = "workestra:worker-runs"  # runs claimed per worker name (bench/, operators)
LIVE_HEARTBEATS = 3  # a worker is live while its last heartbeat is younger than this many intervals
SLOTS_CACHE_SECONDS = 2.0
LISTENERS_KEY = "workestra:listeners"  # awake wake jobs popping the list themselves (issue #24)


class RQHandOff:
    """Runs go to Redis: now through the hand-off thread and a wake job, later through RQ's scheduler."""

    def __init__(self, app: Flask):
        self.app = app

    def hand_over(self, execution_ids: list[int]) -> None:
        _redis_pusher(self.app).put(execution_ids)

    def hand_over_at(self, execution_id: int, when: datetime) -> None:
        _enqueue_at(self.app, [execution_id], when)

    def hand_over_from_sweep(self, execution_ids: list[int]) -> bool:
        """The sweep's due runs go to every worker through the same list; False when Redis does not answer."""
        try:
            _wake_workers(self.app, execution_ids, force=True, first_in_line=True)  # recovery never waits on a listener
            return True
        except RedisError as error:
            log.warning("Queue unreachable (%s); the sweep runs the %s due executions itself", error, len(execution_ids))
            return False

    def hand_over_next(self, execution_ids: list[int]) -> None:
        try:
            _wake_workers(self.app, execution_ids, first_in_line=True)
        except RedisError as error:  # they stay pending: the sweep hands them over
            log.warning("Queue unreachable (%s); executions %s wait for the sweep", error, execution_ids)


EMBEDDED_BACKPRESSURE_SECONDS = 5.0  # the longest a request waits for the embedded runner's backlog to shrink


class EmbeddedHandOff:
    """Runs go to this process's runner threads (started on first use)."""

    def __init__(self, app: Flask):
        self.app = app

    def hand_over(self, execution_ids: list[int]) -> None:
        runner = embedded_runner(self.app)
        for execution_id in execution_ids:
            runner.submit(execution_id)
        runner.wait_for_room(self.app.config["EMBEDDED_MAX_BACKLOG"], EMBEDDED_BACKPRESSURE_SECONDS)

    def hand_over_at(self, execution_id: int, when: datetime) -> None:
        embedded_runner(self.app).submit_at(execution_id, when)

    def hand_over_from_sweep(self, execution_ids: list[int]) -> bool:
        return False  # one process: the sweep runs them itself

    def hand_over_next(self, execution_ids: list[int]) -> None:
        self.hand_over(execution_ids)


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
# Issue #24: while a worker listens on the list (an awake wake job with a free runner thread, in the
# LISTENERS_KEY sorted set until its score, a unix time, passes), no wake job is queued: it pops the ids
# itself. A listener that pops a full batch calls wake_more (force=1), so a burst still wakes every worker.
# KEYS: the list, the listeners, the slots; ARGV: slot TTL, now, force (0/1), RPUSH or LPUSH, ids...
HAND_OFF_SCRIPT = """
if #ARGV > 4 then
  redis.call(ARGV[4], KEYS[1], unpack(ARGV, 5))
elseif redis.call('LLEN', KEYS[1]) == 0 then
  return {}
end
if ARGV[3] == '0' and redis.call('ZCOUNT', KEYS[2], ARGV[2], '+inf') > 0 then
  return {}
end
local won = {}
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], 'queued', 'NX', 'EX', ARGV[1]) then
    table.insert(won, i - 3)
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


def _wake_workers(app, execution_ids: list[int], force: bool = False, first_in_line: bool = False) -> None:
    """Push these ids (none: only wake more workers if ids wait) and queue a wake job per free slot, unless a
    worker listens on the list (`force`: even then; a listener asking for help with a burst).
    `first_in_line`: in front of the ids already waiting (the sweep's: the oldest due runs, in rounds across
    workspaces, so a waiting workspace never queues behind another's backlog; issue #22)."""
    push = "LPUSH" if first_in_line else "RPUSH"
    slots = wake_slots(app)
    keys = [DUE_LIST_KEY, LISTENERS_KEY, *(WAKE_SLOT_KEY.format(slot) for slot in range(slots))]
    head = [WAKE_SLOT_TTL_SECONDS, f"{time.time():.3f}", "1" if force else "0", push]
    script = _hand_off_script(app)
    won = []
    if not execution_ids:
        won += script(keys=keys, args=head)
    chunks = [execution_ids[start:start + HAND_OFF_CHUNK] for start in range(0, len(execution_ids), HAND_OFF_CHUNK)]
    if first_in_line:  # LPUSH puts its last argument first: push reversed, the last chunk first
        chunks = [list(reversed(chunk)) for chunk in reversed(chunks)]
    for chunk in chunks:
        won += script(keys=keys, args=[*head, *chunk])
    if won:
        q = rq_queue(app)
        for slot in won:
            q.enqueue(WAKE_JOB, slot, **job_options(app, result_ttl=0, failure_ttl=86400))


def job_options(app, **options) -> dict:
    """Every job the engine enqueues carries an explicit job_timeout (RQ's default is 180 s)."""
    return {"job_timeout": app.config["RQ_JOB_TIMEOUT_SECONDS"], **options}


def wake_more(app) -> None:
    """From a wake job: if ids still wait, queue wake jobs for the free slots (more workers join in)."""
    _wake_workers(app, [], force=True)


def push_back(app, execution_ids: list[int]) -> None:
    """Ids a stopping or out-of-time job claimed and did not run: first in line again, and a worker woken for them."""
    if execution_ids:
        redis_connection(app).lpush(DUE_LIST_KEY, *reversed(execution_ids))
        wake_more(app)


# -- worker heartbeats ------------------------------------------------------------------------
def beat(connection, worker_name: str) -> None:
    """A worker's heartbeat, on the Redis connection of its queue."""
    connection.hset(WORKER_HEARTBEATS_KEY, worker_name, f"{time.time():.3f}")


def forget_worker(connection, worker_name: str) -> None:
    connection.hdel(WORKER_HEARTBEATS_KEY, worker_name)


def heartbeats(app) -> dict[str, float]:
    """Worker name → seconds since its last heartbeat; workers silent for an hour are forgotten."""
    connection = redis_connection(app)
    now = time.time()
    ages = {}
    for name, raw in connection.hgetall(WORKER_HEARTBEATS_KEY).items():
        name = name.decode() if isinstance(name, bytes) else name
        try:
            ages[name] = max(0.0, now - float(raw))
        except ValueError:
            ages[name] = float("inf")
    stale = [name for name, age in ages.items() if age > 3600]
    if stale:
        connection.hdel(WORKER_HEARTBEATS_KEY, *stale)
    return ages


def live_workers(app) -> int:
    limit = LIVE_HEARTBEATS * max(0.5, app.config["WORKER_HEARTBEAT_SECONDS"])
    return sum(1 for age in heartbeats(app).values() if age <= limit)


_SLOTS_CACHE: dict = {}


def wake_slots(app) -> int:
    """max(RQ_WAKE_SLOTS, live workers), read from Redis at most every SLOTS_CACHE_SECONDS per app."""
    cached = _SLOTS_CACHE.get(id(app))
    now = time.monotonic()
    if cached is None or now - cached[0] > SLOTS_CACHE_SECONDS:
        cached = _SLOTS_CACHE[id(app)] = (now, max(1, app.config["RQ_WAKE_SLOTS"], live_workers(app)))
    return cached[1]


def count_runs(app, worker_name: str, claimed: int) -> None:
    """Runs claimed per worker name (kept a day after the last count: worker names change at every start)."""
    if claimed:
        pipeline = redis_connection(app).pipeline(transaction=False)
        pipeline.hincrby(WORKER_RUNS_KEY, worker_name, claimed)
        pipeline.expire(WORKER_RUNS_KEY, 86400)
        pipeline.execute()


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


def wait_for_due_ids(app, count: int, timeout: float) -> list[int]:
    """Block up to `timeout` seconds for handed-over ids; up to `count` of them in one command (BLMPOP, Redis 7)."""
    popped = redis_connection(app).blmpop(timeout, 1, DUE_LIST_KEY, direction="LEFT", count=count)
    return [int(raw) for raw in popped[1]] if popped else []


def listen(app, worker_name: str, seconds: float) -> None:
    """This worker pops the list itself for the next `seconds`: hand-offs queue no wake job meanwhile."""
    now = time.time()
    pipeline = redis_connection(app).pipeline(transaction=False)
    pipeline.zadd(LISTENERS_KEY, {worker_name: now + seconds})
    pipeline.zremrangebyscore(LISTENERS_KEY, "-inf", now - 60)  # listeners that died without leaving
    pipeline.execute()


def stop_listening(app, worker_name: str) -> None:
    redis_connection(app).zrem(LISTENERS_KEY, worker_name)


def queued_jobs(app) -> int:
    """Jobs waiting in the RQ queue (a retry, a wait's end, a sweep, another wake job)."""
    return rq_queue(app).count


def _enqueue_at(app, execution_ids: list[int], at: datetime) -> None:
    # RQ's scheduler keeps whole seconds and may fire up to a second early: round up.
    at = at.replace(microsecond=0) + timedelta(seconds=1) if at.microsecond else at
    try:
        q = rq_queue(app)
        for execution_id in execution_ids:
            options = job_options(app, job_id=_job_id(execution_id, at), result_ttl=60, failure_ttl=86400)
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



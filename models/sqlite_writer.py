"""SQLite's one writer, taken in turn (issue #24, embedded burst p99).

SQLite lets one connection write at a time; a connection that finds the write lock taken sleeps in SQLite's busy
handler, in growing steps of up to 100 ms, and retries. With two web processes' request and runner threads all
writing in a burst, a writer that went to sleep keeps losing to the ones that arrive later, and a few wait
seconds. Here a connection takes a queue of its process before its transaction's first write (an
INSERT/UPDATE/DELETE/REPLACE, DDL or BEGIN IMMEDIATE) and gives it back when the transaction ends (commit,
rollback, the outermost savepoint's RELEASE, close): the queue is handed to the next thread in line at once,
first come first served. Its holder also takes the processes' turn, an flock(2) on `<database>-writer`, which the
kernel hands to the other process's holder the moment it is given back. SQLite's busy handler is then left
with nothing to wait for, except writers that skip the queue.

Safe by construction: the queue is re-entrant per thread (a thread's second connection that writes while its
first holds the queue goes straight on and meets SQLite's lock, as before); each wait is bounded by the busy
timeout (then the connection goes on without the queue or the turn, into SQLite's busy handler, as before); a
connection only gives back what it took; the order is always queue, then turn, then SQLite's lock. `unqueued()`
lets a thread write without either: a test run holds its write transaction for its whole run
(TEST_RUN_SECONDS), and holding the queue that long would make the other writers queue behind it on top of
SQLite's wait.
"""
import fcntl
import os
import sqlite3
import threading
import time
from collections import deque
from contextlib import contextmanager

WRITE_PREFIXES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN IMMEDIATE",
                  "BEGIN EXCLUSIVE")


class _Waiter:
    __slots__ = ("ident", "lock", "granted")

    def __init__(self, ident: int):
        self.ident, self.granted = ident, False
        self.lock = threading.Lock()
        self.lock.acquire()


class ProcessTurn:
    """An exclusive flock(2) on a file beside the database: the processes take turns as the writer.

    A blocked flock is woken by the kernel the moment the lock is given back, where SQLite's busy handler would
    sleep up to 100 ms. A flock cannot time out, so a blocked one is waited for in an agent thread of this
    process, and the writer waits for the agent with a timeout (then goes on without the turn)."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.changed = threading.Condition()
        self.wanted = self.got = self.agent_blocked = False
        self.agent: threading.Thread | None = None

    def acquire(self, timeout: float) -> bool:
        with self.changed:
            if not self.agent_blocked:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    pass
            self.wanted = True
            if self.agent is None:
                self.agent = threading.Thread(target=self._agent, name="workestra-sqlite-writer-turn", daemon=True)
                self.agent.start()
            self.changed.notify_all()
            if self.changed.wait_for(lambda: self.got, timeout):
                self.got = False
                return True
            self.wanted = False
            return False

    def release(self) -> None:
        with self.changed:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def _agent(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.wanted)
                self.agent_blocked = True
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # no timeout: the writer waiting for it has one
            with self.changed:
                self.agent_blocked = False
                if self.wanted:
                    self.wanted, self.got = False, True
                    self.changed.notify_all()
                else:  # the writer stopped waiting
                    fcntl.flock(self.fd, fcntl.LOCK_UN)


class WriterQueue:
    """A re-entrant lock handed over first come first served (no barging: a release gives it to the oldest waiter);
    with a ProcessTurn, its holder also holds the database's turn among processes."""

    def __init__(self, turn: ProcessTurn | None = None):
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._count = 0
        self._waiters: deque[_Waiter] = deque()
        self._turn = turn
        self._has_turn = False

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._count += 1
                return True
            if self._owner is None:
                self._owner, self._count = me, 1
                waiter = None
            else:
                waiter = _Waiter(me)
                self._waiters.append(waiter)
        began = time.monotonic()
        if waiter is not None and not waiter.lock.acquire(timeout=timeout):
            with self._mutex:
                if not waiter.granted:  # not handed over just as the wait ran out
                    self._waiters.remove(waiter)
                    return False
        if self._turn is not None:
            self._has_turn = self._turn.acquire(max(0.0, timeout - (time.monotonic() - began)))
        return True

    def release(self) -> None:
        with self._mutex:
            self._count -= 1
            if self._count > 0:
                return
            if self._has_turn:
                self._has_turn = False
                self._turn.release()
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True
                self._owner, self._count = waiter.ident, 1
                waiter.lock.release()
            else:
                self._owner = None

    def held(self) -> bool:
        with self._mutex:
            return self._owner is not None


_queues: dict[str, WriterQueue] = {}
_queues_lock = threading.Lock()


def _turn_of(database: str) -> ProcessTurn | None:
    """The processes' turn: a lock file beside a database file (none for an in-memory or URI database, or where
    the file cannot be made: then SQLite's busy handler orders the processes, as without the queue)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    try:
        return ProcessTurn(database + "-writer")
    except OSError:
        return None


def writers_of(database: str) -> WriterQueue:
    """The queue of one database file (one per process; a forked child makes its own)."""
    key = (os.getpid(), database)
    queue = _queues.get(key)
    if queue is None:
        with _queues_lock:
            queue = _queues.get(key)
            if queue is None:
                queue = _queues[key] = WriterQueue(_turn_of(database))
    return queue


WAIT_SECONDS = 15.0  # set to the busy timeout by webapp.database
_local = threading.local()


@contextmanager
def unqueued():
    """Writes of this thread inside the block do not take the lock (a long transaction: a test run)."""
    before = getattr(_local, "unqueued", False)
    _local.unqueued = True
    try:
        yield
    finally:
        _local.unqueued = before


def _writes(sql) -> bool:
    return isinstance(sql, str) and sql.lstrip()[:15].upper().startswith(WRITE_PREFIXES)


class QueuedCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        connection = self.connection
        connection.before_statement(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            connection.after_statement()

    def executemany(self, sql, seq_of_parameters, /):
        connection = self.connection
        connection.before_statement(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            connection.after_statement()

    def executescript(self, sql_script, /):
        try:
            return super().executescript(sql_script)
        finally:
            self.connection.after_statement()


class QueuedConnection(sqlite3.Connection):
    """sqlite3.connect(factory=QueuedConnection) with .writers = writers_of(path): takes the writers' queue (and the
    processes' turn) before its transaction's first write, gives them back when the transaction ends."""

    holds_writer = False
    writers: WriterQueue | None = None  # set by webapp.database when the connection opens

    def cursor(self, factory=QueuedCursor):
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def before_statement(self, sql) -> None:
        if not self.holds_writer and self.writers is not None and _writes(sql) \
                and not getattr(_local, "unqueued", False):
            self.holds_writer = self.writers.acquire(WAIT_SECONDS)

    def after_statement(self) -> None:
        if self.holds_writer:
            try:
                ended = not self.in_transaction
            except sqlite3.ProgrammingError:  # closed
                ended = True
            if ended:
                self.holds_writer = False
                self.writers.release()

    def commit(self):
        try:
            return super().commit()
        finally:
            self.after_statement()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self.after_statement()

    def close(self):
        try:
            return super().close()
        finally:
            if self.holds_writer:
                self.holds_writer = False
                self.writers.release()

    def __del__(self):
        if self.holds_writer:
            self.holds_writer = False
            self.writers.release()

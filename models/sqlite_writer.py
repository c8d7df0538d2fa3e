"""SQLite's one writer, queued fairly among the threads of a process (issue #24, embedded burst p99).

SQLite lets one connection write at a time; a connection that finds the write lock taken sleeps in SQLite's busy
handler, in growing steps of up to 100 ms, and retries. With a web process's request threads and runner threads
all writing in a burst, a writer that went to sleep keeps losing to the ones that arrive later, and a few wait
seconds. Here every connection of a process takes one in-process lock, first come first served, before its
transaction's first write (an INSERT/UPDATE/DELETE/REPLACE, DDL or BEGIN IMMEDIATE outside a write it already
holds), and gives it back when its transaction ends (commit, rollback, the outermost savepoint's RELEASE, close).
The threads of one process then queue on a lock that is handed to the next in line at once instead of
sleeping in the busy handler; SQLite's own lock (and busy timeout) still orders the processes.

Safe by construction: the lock is re-entrant per thread (a thread's second connection that writes while its
first holds the lock goes straight on and meets SQLite's lock, as before); a wait for it is bounded (after the
busy timeout the connection goes on without it, into SQLite's busy handler, as before); a connection only ever
releases what it took. `unqueued()` lets a thread write without it: a test run holds its write transaction for
its whole run (TEST_RUN_SECONDS), and holding this lock that long would make the process's other writers queue
behind it on top of SQLite's wait.
"""
import sqlite3
import threading
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


class WriterQueue:
    """A re-entrant lock handed over first come first served (no barging: a release gives it to the oldest waiter)."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._count = 0
        self._waiters: deque[_Waiter] = deque()

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner is None or self._owner == me:
                self._owner = me
                self._count += 1
                return True
            waiter = _Waiter(me)
            self._waiters.append(waiter)
        if waiter.lock.acquire(timeout=timeout):
            return True
        with self._mutex:
            if waiter.granted:  # handed over just as the wait ran out
                return True
            self._waiters.remove(waiter)
            return False

    def release(self) -> None:
        with self._mutex:
            self._count -= 1
            if self._count > 0:
                return
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


WRITERS = WriterQueue()
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
    """sqlite3.connect(factory=QueuedConnection): takes WRITERS before its transaction's first write."""

    holds_writer = False

    def cursor(self, factory=QueuedCursor):
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def before_statement(self, sql) -> None:
        if not self.holds_writer and _writes(sql) and not getattr(_local, "unqueued", False):
            self.holds_writer = WRITERS.acquire(WAIT_SECONDS)

    def after_statement(self) -> None:
        if self.holds_writer:
            try:
                ended = not self.in_transaction
            except sqlite3.ProgrammingError:  # closed
                ended = True
            if ended:
                self.holds_writer = False
                WRITERS.release()

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
                WRITERS.release()

    def __del__(self):
        if self.holds_writer:
            self.holds_writer = False
            WRITERS.release()

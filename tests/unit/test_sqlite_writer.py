"""The SQLite writer queue (models.sqlite_writer): taken at a transaction's first write, given back when it ends,
first come first served, re-entrant per thread, bounded, skipped by unqueued() (test runs); and the processes'
turn (a flock beside the database) that its holder takes."""
import sqlite3
import threading
import time

import pytest

from models import sqlite_writer
from models.sqlite_writer import ProcessTurn, QueuedConnection, WriterQueue


@pytest.fixture
def writers():
    return WriterQueue()


@pytest.fixture
def connect(tmp_path, writers):
    path = str(tmp_path / "writers.db")
    opened = []

    def open_one(timeout=5.0):
        connection = sqlite3.connect(path, factory=QueuedConnection, timeout=timeout, check_same_thread=False)
        connection.writers = writers
        connection.execute("PRAGMA journal_mode=WAL")
        opened.append(connection)
        return connection

    first = open_one()
    first.execute("CREATE TABLE t (x INTEGER)")
    yield open_one
    for connection in opened:
        connection.close()


def test_taken_at_the_first_write_and_given_back_at_commit_or_rollback(connect, writers):
    connection = connect()
    connection.execute("SELECT count(*) FROM t").fetchall()
    assert not writers.held()
    connection.execute("INSERT INTO t VALUES (1)")
    connection.execute("UPDATE t SET x = 2")
    assert writers.held() and connection.holds_writer
    connection.commit()
    assert not writers.held()
    connection.execute("BEGIN IMMEDIATE")
    assert writers.held()
    connection.rollback()
    assert not writers.held()


def test_a_savepoint_holds_it_from_its_first_write_until_the_outermost_release(connect, writers):
    connection = connect()
    connection.execute("SAVEPOINT outer_one")
    assert not writers.held()  # a read transaction so far
    connection.execute("INSERT INTO t VALUES (1)")
    connection.execute("SAVEPOINT inner_one")
    connection.execute("ROLLBACK TO SAVEPOINT inner_one")
    connection.execute("RELEASE SAVEPOINT inner_one")
    assert writers.held()
    connection.execute("RELEASE SAVEPOINT outer_one")  # commits
    assert not writers.held()


def test_writers_of_one_process_take_turns_first_come_first_served(connect, writers):
    holder = connect()
    holder.execute("INSERT INTO t VALUES (0)")
    order = []

    def write(n):
        connection = connect()
        connection.execute("INSERT INTO t VALUES (?)", (n,))
        order.append(n)
        connection.commit()

    threads = []
    for n in range(1, 5):
        threads.append(threading.Thread(target=write, args=(n,)))
        threads[-1].start()
        time.sleep(0.05)  # each is in line before the next arrives
    holder.commit()
    for thread in threads:
        thread.join(10)
    assert order == [1, 2, 3, 4]
    assert not writers.held()


def test_re_entrant_in_one_thread_so_a_second_connection_meets_sqlites_own_lock_as_before(connect, writers):
    first, second = connect(), connect(timeout=0.1)
    first.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("INSERT INTO t VALUES (2)")  # not a wait on itself: SQLite's busy timeout answers
    second.rollback()
    assert writers.held()
    first.commit()
    assert not writers.held()


def test_a_wait_is_bounded_then_the_writer_goes_on_without_it(connect, writers, monkeypatch):
    monkeypatch.setattr(sqlite_writer, "WAIT_SECONDS", 0.1)
    holder = connect()
    holder.execute("INSERT INTO t VALUES (1)")
    outcome = {}

    def write():
        connection = connect(timeout=0.1)
        try:
            connection.execute("INSERT INTO t VALUES (2)")
        except sqlite3.OperationalError as error:
            outcome["error"] = str(error)
        outcome["holds"] = connection.holds_writer
        connection.rollback()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(5)
    assert outcome == {"error": "database is locked", "holds": False}
    holder.commit()
    assert not writers.held()


def test_unqueued_writes_and_closed_connections_hold_nothing(connect, writers):
    connection = connect()
    with sqlite_writer.unqueued():
        connection.execute("INSERT INTO t VALUES (1)")
        assert not writers.held()
    connection.commit()
    other = connect()
    other.execute("INSERT INTO t VALUES (2)")
    assert writers.held()
    other.close()
    assert not writers.held()


def test_the_processes_turn_is_handed_over_at_once_and_a_wait_for_it_is_bounded(tmp_path):
    # flock(2) locks belong to an open file, so two opens in one process stand for two processes
    ours, theirs = ProcessTurn(str(tmp_path / "db-writer")), ProcessTurn(str(tmp_path / "db-writer"))
    assert ours.acquire(1.0)
    began = time.monotonic()
    assert not theirs.acquire(0.1)
    assert time.monotonic() - began < 1.0
    got = {}
    waiting = threading.Thread(target=lambda: got.update(turn=theirs.acquire(5.0), at=time.monotonic()))
    waiting.start()
    time.sleep(0.1)
    released = time.monotonic()
    ours.release()
    waiting.join(5)
    assert got["turn"] and got["at"] - released < 0.5
    assert not ours.acquire(0.05)
    theirs.release()
    assert ours.acquire(1.0)
    ours.release()


def test_a_queue_with_a_turn_gives_the_turn_back_before_the_next_writer_of_the_process(tmp_path):
    path = str(tmp_path / "db-writer")
    queue, other_process = WriterQueue(ProcessTurn(path)), ProcessTurn(path)
    assert queue.acquire(1.0)
    assert not other_process.acquire(0.05)
    queue.release()
    assert other_process.acquire(1.0)
    other_process.release()

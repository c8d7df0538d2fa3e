"""Test runs (issue #20, DESIGN "Test runs"): what the runner does differently for a run with mode "test".

A test run goes through the same runner as a live run (engine.runtime.runner). Its steps run in one database
transaction that is rolled back when the run closes; each step inside a SAVEPOINT of it, so a failed step
undoes only itself and the next steps still see what the earlier ones would have created. Executors whose
effects leave the database (email, webhook, notifications) read `StepContext.test` and describe what they
would do instead of doing it; a wait is not waited. `TestRunWriter` keeps the step records in memory and
writes them, with the run's end, after the rollback: the only row a test run leaves is its own execution.
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event, inspect as inspect_object

from engine.core.wording import duration_words  # noqa: F401 (the runner's words for a skipped wait)
from models import db

# Tables whose writes a test step's output does not list: the engine's own bookkeeping.
UNLISTED_TABLES = {"workflow_executions", "event_samples"}
MAX_LISTED_CHANGES = 50


@dataclass
class TestOptions:
    """Stored in the test run's snapshot as definition["test_options"]."""
    call_webhooks: bool = False   # "really call webhooks in this test" (still behind the SSRF guard)
    stop_after: str | None = None  # "Test this step": the id of the step the test ends with
    seconds: float = 30.0          # the time limit (TEST_RUN_SECONDS)

    @classmethod
    def of(cls, definition: dict) -> "TestOptions":
        raw = definition.get("test_options") if isinstance(definition.get("test_options"), dict) else {}
        return cls(call_webhooks=raw.get("call_webhooks") is True,
                   stop_after=raw.get("stop_after") if isinstance(raw.get("stop_after"), str) else None,
                   seconds=float(raw.get("seconds") or 30.0))

    def as_json(self) -> dict:
        return {"call_webhooks": self.call_webhooks, "stop_after": self.stop_after, "seconds": self.seconds}


class TestClock:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def message(self) -> str:
        return (f"The test took longer than its limit of {self.seconds:g} s (TEST_RUN_SECONDS) and was stopped; "
                "nothing it did was kept.")


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def _row_values(instance) -> dict:
    state = inspect_object(instance)
    return {attr.key: _plain(getattr(instance, attr.key)) for attr in state.mapper.column_attrs
            if getattr(instance, attr.key) not in (None, "", [], {})}


def _row_changes(instance) -> dict:
    state = inspect_object(instance)
    changes = {}
    for prop in state.mapper.column_attrs:
        history = state.attrs[prop.key].history
        if history.added:
            changes[prop.key] = {"from": _plain(history.deleted[0]) if history.deleted else None,
                                 "to": _plain(history.added[0])}
    return changes


def _statement_values(statement, parameters) -> dict:
    values = {}
    try:
        values.update(statement.compile().params)
    except Exception:  # a statement that cannot compile alone: its parameters still say something
        pass
    if isinstance(parameters, dict):
        values.update(parameters)
    elif isinstance(parameters, list) and parameters and isinstance(parameters[0], dict):
        values.update(parameters[0])
    return {key: _plain(value) for key, value in values.items() if value not in (None, "", [], {})}


@contextmanager
def recorded_changes():
    """Collect what the session writes inside this block: rows created, changed and deleted (ORM flushes and
    INSERT/UPDATE/DELETE statements), as [{"change": "create"|"update"|"delete", "record": table, ...}]."""
    session = db.session()
    changes: list = []

    def after_flush(flushed, _context):
        for instance in flushed.new:
            changes.append({"change": "create", "record": instance.__table__.name, "values": _row_values(instance)})
        for instance in flushed.dirty:
            if flushed.is_modified(instance):
                changes.append({"change": "update", "record": instance.__table__.name,
                                "id": _plain(inspect_object(instance).identity[0]) if inspect_object(instance).identity else None,
                                "changes": _row_changes(instance)})
        for instance in flushed.deleted:
            changes.append({"change": "delete", "record": instance.__table__.name, "values": _row_values(instance)})

    def on_execute(state):
        if not (state.is_insert or state.is_update or state.is_delete):
            return
        table = getattr(state.statement, "table", None)
        kind = "create" if state.is_insert else "update" if state.is_update else "delete"
        changes.append({"change": kind, "record": getattr(table, "name", "?"),
                        "values": _statement_values(state.statement, state.parameters)})

    event.listen(session, "after_flush", after_flush)
    event.listen(session, "do_orm_execute", on_execute)
    try:
        yield changes
    finally:
        event.remove(session, "after_flush", after_flush)
        event.remove(session, "do_orm_execute", on_execute)


def describe_changes(changes: list) -> dict:
    """The step output's account of its database writes: would_create / would_change / would_delete."""
    listed = [change for change in changes if change["record"] not in UNLISTED_TABLES][:MAX_LISTED_CHANGES]
    described: dict = {}
    for key, kind in (("would_create", "create"), ("would_change", "update"), ("would_delete", "delete")):
        entries = [{name: value for name, value in change.items() if name != "change"}
                   for change in listed if change["change"] == kind]
        if entries:
            described[key] = entries
    return described

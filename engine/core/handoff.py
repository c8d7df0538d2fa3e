"""The port through which new and resumed runs reach whoever runs them.

engine.runtime.handoff installs the implementation on the app (embedded threads, or RQ on Redis);
the core only knows this interface, so starting a run never imports the runtime. Nothing here is
needed for correctness: a run that is never handed over stays pending and the sweep runs it.
"""
from datetime import datetime
from typing import Protocol

from flask import Flask

from engine.core.transactions import after_commit

EXTENSION_KEY = "workestra_hand_off"


class HandOff(Protocol):
    def hand_over(self, execution_ids: list[int]) -> None:
        """Run these executions as soon as possible."""

    def hand_over_at(self, execution_id: int, when: datetime) -> None:
        """Run this execution again at `when` (a wait, a delay or a retry)."""

    def hand_over_from_sweep(self, execution_ids: list[int]) -> bool:
        """Give the sweep's due runs to every worker; False when the caller (the sweep) must run them itself."""

    def hand_over_next(self, execution_ids: list[int]) -> None:
        """Run these first, before the runs handed over earlier (waiting runs a freed cap slot lets start)."""


class SweepOnly:
    """No hand-off: runs wait for the sweep (ENGINE_HANDOFF=sweep, or an app without a runtime)."""

    def hand_over(self, execution_ids: list[int]) -> None:
        pass

    def hand_over_at(self, execution_id: int, when: datetime) -> None:
        pass

    def hand_over_from_sweep(self, execution_ids: list[int]) -> bool:
        return False

    def hand_over_next(self, execution_ids: list[int]) -> None:
        pass


_SWEEP_ONLY = SweepOnly()


def hand_off_of(app: Flask) -> HandOff:
    """The app's hand-off; none while ENGINE_HANDOFF is `sweep` (read each time: a CLI command may switch it)."""
    if app.config["ENGINE_HANDOFF"] == "sweep":
        return _SWEEP_ONLY
    return app.extensions.get(EXTENSION_KEY, _SWEEP_ONLY)


# -- Background jobs other than runs (the outbox's mail delivery) ------------------------------------
JOBS_EXTENSION_KEY = "workestra_jobs"


class Jobs(Protocol):
    def run_job(self, path: str, args: list, delay_seconds: float = 0) -> None:
        """Run the function at dotted `path` with `args` in the app context, after `delay_seconds`."""


def jobs_of(app: Flask) -> Jobs | None:
    """The app's background jobs: RQ with REDIS_URL, the embedded runner's timer threads otherwise; None while
    ENGINE_HANDOFF is `sweep` or no runtime is installed (the caller then does the work itself)."""
    if app.config["ENGINE_HANDOFF"] == "sweep":
        return None
    return app.extensions.get(JOBS_EXTENSION_KEY)


def hand_over_after_commit(execution_ids: list[int]) -> None:
    """Hand these executions over once the current transaction commits (never before: it may roll back)."""
    if execution_ids:
        after_commit(_hand_over_committed, execution_ids)


def _hand_over_committed(app: Flask, execution_ids: list[int]) -> None:
    hand_off_of(app).hand_over(execution_ids)


def hand_over_later_after_commit(due: list[tuple[int, datetime]]) -> None:
    """Hand these (execution id, due time) pairs over at their time, once the current transaction commits."""
    if due:
        after_commit(_hand_over_later_committed, due)


def _hand_over_later_committed(app: Flask, due: list[tuple[int, datetime]]) -> None:
    hand_off = hand_off_of(app)
    for execution_id, when in due:
        hand_off.hand_over_at(execution_id, when)

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


class SweepOnly:
    """No hand-off: runs wait for the sweep (ENGINE_HANDOFF=sweep, or an app without a runtime)."""

    def hand_over(self, execution_ids: list[int]) -> None:
        pass

    def hand_over_at(self, execution_id: int, when: datetime) -> None:
        pass


_SWEEP_ONLY = SweepOnly()


def hand_off_of(app: Flask) -> HandOff:
    """The app's hand-off; none while ENGINE_HANDOFF is `sweep` (read each time: a CLI command may switch it)."""
    if app.config["ENGINE_HANDOFF"] == "sweep":
        return _SWEEP_ONLY
    return app.extensions.get(EXTENSION_KEY, _SWEEP_ONLY)


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

"""How long a job may go on taking work, and the worker's request to stop (SIGTERM).

A wake or sweep job runs under a WorkBudget (ENGINE_JOB_BUDGET_SECONDS): once it is spent, or once the
worker was asked to stop, the job takes no new run and no new step; what it claimed and did not start goes
back to the hand-off for another worker. The step under way always finishes first.
"""
import threading
import time
from contextlib import contextmanager

# Set by the worker class's warm-shutdown handler (engine.runtime.worker); never set in a web process.
STOP_REQUESTED = threading.Event()

_local = threading.local()


class WorkBudget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + max(0.0, seconds)

    def spent(self) -> bool:
        return STOP_REQUESTED.is_set() or time.monotonic() >= self.deadline

    @contextmanager
    def active(self):
        """Make this the budget of the work done in this thread (the runner checks it between steps)."""
        previous = getattr(_local, "budget", None)
        _local.budget = self
        try:
            yield self
        finally:
            _local.budget = previous


def should_yield() -> bool:
    """True when the work of this thread should stop at the next step boundary and be handed back."""
    budget = getattr(_local, "budget", None)
    return budget is not None and budget.spent()

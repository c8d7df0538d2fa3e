"""Action executors: one small module per action type, registered by its catalog key.

An executor is `execute(step: StepContext) -> dict`. It receives the step's config already
rendered (field mapping applied) and cleaned by the catalog's schema, does its work through a
service, and returns a JSON-able output (ids of what it created or changed). It raises
StepError for an expected failure. It must not commit: the runner commits the step's effects
and its record together, so a crash re-runs the step without a duplicate record.
"""
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Callable

from engine.core.catalog import ACTIONS


class StepError(Exception):
    """An action failed. `retryable=False` for failures a retry cannot fix (bad config, missing record)."""

    def __init__(self, message: str, retryable: bool = True, output: dict | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.output = output or {}


@dataclass
class StepContext:
    workspace_id: int
    execution_id: int
    workflow_id: int | None
    step_index: int
    action_type: str
    config: dict
    payload: dict
    attempt: int = 1
    claim_count: int | None = None  # how often the execution was claimed; None when unknown (a direct call)
    config_cleaned: bool = False  # the runner has checked `config` against the catalog already
    steps: dict = field(default_factory=dict)  # earlier steps' outputs, {id or index: {"output": {...}}} (branch conditions)
    test: bool = False  # a test run (issue #20): describe effects outside the database instead of having them
    test_calls_webhooks: bool = False  # ... except webhooks, when the person testing asked for real calls

    @property
    def may_have_run_before(self) -> bool:
        """False only on the first attempt of the first claim: no earlier attempt can have written anything."""
        return self.attempt > 1 or self.claim_count != 1

    @property
    def idempotency_key(self) -> str:
        """Stable per (execution, step): the same on every retry and redelivery."""
        return f"exec-{self.execution_id}-step-{self.step_index}"


Executor = Callable[[StepContext], dict]
EXECUTORS: dict[str, Executor] = {}

# One module per action type under engine/executors/, named after the type.
EXECUTOR_MODULES = tuple(ACTIONS)


def register(action_type: str):
    if action_type not in ACTIONS:
        raise KeyError(f"{action_type!r} is not an action of the catalog")

    def decorator(function: Executor) -> Executor:
        EXECUTORS[action_type] = function
        return function

    return decorator


def load_executors() -> dict[str, Executor]:
    """Import every executor module once; fails loudly when the catalog and the registry disagree."""
    if len(EXECUTORS) < len(EXECUTOR_MODULES):
        for action_type in EXECUTOR_MODULES:
            try:
                import_module(f"engine.executors.{action_type}")
            except ModuleNotFoundError as missing:
                if missing.name != f"engine.executors.{action_type}":
                    raise
    return EXECUTORS


def executor_for(action_type: str) -> Executor | None:
    return load_executors().get(action_type)


def missing_executors() -> list[str]:
    return sorted(set(ACTIONS) - set(load_executors()))


def as_jsonable(value: Any) -> Any:
    """Outputs are stored in JSON columns: keep them plain."""
    if isinstance(value, dict):
        return {str(k): as_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)

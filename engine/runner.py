"""The contract's names for the runner (DESIGN.md): they live in engine.runtime.runner and engine.runtime.sweep."""
from engine.runtime.runner import run_execution
from engine.runtime.sweep import sweep_pending_executions

__all__ = ["run_execution", "sweep_pending_executions"]

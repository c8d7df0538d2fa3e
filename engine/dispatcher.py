"""The contract's name for dispatch (DESIGN.md): fire_workflow_event lives in engine.core.runs."""
from engine.core.runs import fire_workflow_event

__all__ = ["fire_workflow_event"]

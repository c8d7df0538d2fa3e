"""Branch: decide which path runs (DESIGN.md "Definition v2"). The runner records the steps of the other path
as skipped; this step's output says which path it took."""
from engine.core.conditions import conditions_hold
from engine.executors import StepContext, register


@register("branch")
def branch(step: StepContext) -> dict:
    matched = conditions_hold(step.config["conditions"], step.payload, step.config.get("match") or "all", step.steps)
    return {"matched": matched, "path": "then" if matched else "else"}

"""Wait / Delay: the runner pauses the execution before this step; on resume the step completes."""
from engine.executors import StepContext, register


@register("wait_delay")
def wait_delay(step: StepContext) -> dict:
    return {"waited_seconds": step.config["seconds"]}

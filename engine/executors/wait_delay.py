"""Wait / Delay: the runner pauses the execution before this step; on resume the step completes."""
from engine.executors import StepContext, register
from engine.core.wording import duration_words


@register("wait_delay")
def wait_delay(step: StepContext) -> dict:
    if step.test:  # a test does not wait
        return {"would_wait_seconds": step.config["seconds"], "would_wait": duration_words(step.config["seconds"])}
    return {"waited_seconds": step.config["seconds"]}

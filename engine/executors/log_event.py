"""Log Event: write a custom event to the audit log."""
from engine.executors import StepContext, register
from services import audit_service


@register("log_event")
def log_event(step: StepContext) -> dict:
    event = step.config["event"]
    audit_event_id = audit_service.write_event(
        step.workspace_id,
        event,
        step.config.get("message", ""),
        actor_label=f"Workflow #{step.workflow_id}" if step.workflow_id else "Workflow",
        execution_id=step.execution_id,
        data={"step": step.step_index},
    )
    return {"audit_event_id": audit_event_id, "event": event}

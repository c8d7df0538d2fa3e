"""Send Template Email: through the email service (outbox always; SMTP or Resend after the commit)."""
from engine.executors import StepContext, register
from engine.executors._common import config_of, link, origin, service_errors
from services import email_service


@register("send_template_email")
def send_template_email(step: StepContext) -> dict:
    config = config_of(step)
    if step.test:  # rendered, not sent and not queued
        with service_errors():
            email = email_service.preview_email(step.workspace_id, config["to"], config["subject"], config["body"],
                                                template=config.get("template") or "")
        return {"would_send": email, "sent": False}
    with service_errors():
        email = email_service.send_email(
            step.workspace_id, config["to"], config["subject"], config["body"],
            template=config.get("template") or "", actor=None, origin=origin(step),
            idempotency_key=step.idempotency_key,
        )
    return {"email_id": email.id, "to": email.to, "subject": email.subject, "backend": email.backend,
            "status": email.status, "link": link("email", email.id)}

"""Call Webhook: POST a signed JSON payload (the trigger payload unless one is given) behind the SSRF guard."""
from engine.executors import StepContext, StepError, register
from engine.executors._common import config_of
from services import webhook_service


@register("call_webhook")
def call_webhook(step: StepContext) -> dict:
    config = config_of(step)
    payload = config.get("payload") or step.payload
    try:
        if step.test and not step.test_calls_webhooks:  # rendered (URL, headers, body), not called
            return {"would_call": webhook_service.preview_signed(
                config["url"], payload, webhook_id=step.idempotency_key, headers=config.get("headers") or {}),
                "called": False}
        return webhook_service.post_signed(config["url"], payload, webhook_id=step.idempotency_key,
                                           headers=config.get("headers") or {})
    except webhook_service.WebhookError as failure:
        raise StepError(str(failure), retryable=failure.retryable, output=failure.output) from None

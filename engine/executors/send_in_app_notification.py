"""Send In-App Notification: to a user, everyone with a role, or the owner of the trigger's record."""
from engine.executors import StepContext, StepError, register
from engine.executors._common import config_of, origin, resolve_user, service_errors
from services import common, notification_service


def recipients(step: StepContext, config: dict) -> list[int]:
    kind = config["recipient"]
    if kind == "user":
        return [resolve_user(step, config["user_id"]).id]
    if kind == "role":
        users = common.members_with_roles(step.workspace_id, (config["role"],))
        if not users:
            raise StepError(f"Nobody in this workspace has the {config['role']} role.", retryable=False)
        return [user.id for user in users]
    return [resolve_user(step, "record_owner").id]


@register("send_in_app_notification")
def send_in_app_notification(step: StepContext) -> dict:
    config = config_of(step)
    earlier = notification_service.created_by_step(step.workspace_id, origin(step))
    if earlier:
        notifications = earlier
    else:
        user_ids = recipients(step, config)
        with service_errors():
            notifications = notification_service.notify(
                step.workspace_id, user_ids, config["title"], config.get("body", ""), config.get("link", ""),
                origin=origin(step))
    return {"notification_ids": [n.id for n in notifications], "user_ids": [n.user_id for n in notifications],
            "count": len(notifications)}

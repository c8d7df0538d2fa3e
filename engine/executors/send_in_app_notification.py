"""Send In-App Notification: to a user, everyone with a role, or the owner of the trigger's record."""
from engine.executors import StepContext, StepError, register
from engine.executors._common import config_of, origin, record_owner_id, service_errors
from services import common, notification_service


def recipients(step: StepContext, config: dict) -> list[int]:
    """The user ids to notify. A single user is not looked up here: notify_members only writes to members,
    and an empty result says the user is not one."""
    kind = config["recipient"]
    if kind == "role":
        users = common.members_with_roles(step.workspace_id, (config["role"],))
        if not users:
            raise StepError(f"Nobody in this workspace has the {config['role']} role.", retryable=False)
        return [user.id for user in users]
    if kind == "user" and config["user_id"] == "owner":
        owner = common.workspace_owner(step.workspace_id)
        if owner is None:
            raise StepError("This workspace has no owner.", retryable=False)
        return [owner.id]
    user_id = config["user_id"] if kind == "user" else "record_owner"
    if user_id == "record_owner":
        user_id = record_owner_id(step.payload or {})
        if user_id is None:
            raise StepError("The trigger's record has no owner (record_owner).", retryable=False)
    if not common.is_plain_int(str(user_id)):
        raise StepError(f"User {user_id} is not a member of this workspace.", retryable=False)
    return [int(user_id)]


@register("send_in_app_notification")
def send_in_app_notification(step: StepContext) -> dict:
    config = config_of(step)
    earlier = notification_service.created_by_step(step.workspace_id, origin(step)) if step.may_have_run_before else []
    if earlier:
        sent = [(notification.id, notification.user_id) for notification in earlier]
    else:
        user_ids = recipients(step, config)
        with service_errors():
            sent = notification_service.notify_members(
                step.workspace_id, user_ids, config["title"], config.get("body", ""), config.get("link", ""),
                origin=origin(step))
        if not sent:
            raise StepError(f"User {user_ids[0]} is not a member of this workspace.", retryable=False)
    return {"notification_ids": [notification_id for notification_id, _ in sent],
            "user_ids": [user_id for _, user_id in sent], "count": len(sent)}

"""Send In-App Notification: to a user, everyone with a role, or the owner of the trigger's record."""
from engine.executors import StepContext, StepError, register
from engine.executors._common import config_of, origin, service_errors, user_id_of
from services import common, notification_service


def recipients(step: StepContext, config: dict) -> list[int]:
    """The user ids to notify. A single user's membership is checked by notify_members, which writes
    only to members: an empty result says the user is not one."""
    if config["recipient"] == "role":
        users = common.members_with_roles(step.workspace_id, (config["role"],))
        if not users:
            raise StepError(f"Nobody in this workspace has the {config['role']} role.", retryable=False)
        return [user.id for user in users]
    return [user_id_of(step, config["user_id"] if config["recipient"] == "user" else "record_owner")]


@register("send_in_app_notification")
def send_in_app_notification(step: StepContext) -> dict:
    config = config_of(step)
    if step.test:  # not delivered: who would get what
        members = common.member_ids(step.workspace_id, recipients(step, config))
        if not members:
            raise StepError("None of the recipients is a member of this workspace.", retryable=False)
        return {"would_notify": {"user_ids": members, "title": config["title"], "body": config.get("body", ""),
                                 "link": notification_service.safe_link(config.get("link", ""))},
                "delivered": False, "count": len(members)}
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

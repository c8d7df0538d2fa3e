"""Notify ATS: a notification to the recruiting team.

The recruiting team is every owner and admin of the workspace, plus the recruiter of the
candidate's applications when the config names a candidate."""
from engine.executors import StepContext, StepError, register
from engine.executors._common import config_of, link, origin, service_errors
from models.vocabulary import Role
from services import application_service, common, notification_service


def recruiting_team(workspace_id: int, candidate=None) -> list[int]:
    user_ids = [user.id for user in common.members_with_roles(workspace_id, (Role.OWNER, Role.ADMIN))]
    if candidate is not None:
        user_ids += [a.recruiter_id for a in candidate.applications if a.recruiter_id]
    return list(dict.fromkeys(user_ids))


@register("notify_ats")
def notify_ats(step: StepContext) -> dict:
    config = config_of(step)
    candidate = None
    with service_errors():
        if config.get("candidate_id"):
            candidate = application_service.get_candidate(step.workspace_id, config["candidate_id"])
    if step.test:  # not delivered: who would get what
        team = recruiting_team(step.workspace_id, candidate)
        if not team:
            raise StepError("This workspace has no recruiting team (owners and admins) to notify.", retryable=False)
        return {"would_notify": {"user_ids": team, "title": config["title"], "body": config.get("body", "")},
                "delivered": False, "candidate_id": candidate.id if candidate else None, "count": len(team)}
    notifications = []
    if step.may_have_run_before:
        notifications = notification_service.created_by_step(step.workspace_id, origin(step))
    if not notifications:
        team = recruiting_team(step.workspace_id, candidate)
        if not team:
            raise StepError("This workspace has no recruiting team (owners and admins) to notify.", retryable=False)
        target = ""
        if candidate is not None and candidate.applications:
            target = link("application", candidate.applications[-1].id)
        with service_errors():
            notifications = notification_service.notify(step.workspace_id, team, config["title"],
                                                        config.get("body", ""), target, origin=origin(step))
    return {"notification_ids": [n.id for n in notifications], "user_ids": [n.user_id for n in notifications],
            "candidate_id": candidate.id if candidate else None, "count": len(notifications)}

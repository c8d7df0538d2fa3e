"""Recruiting: candidates and their applications through the ApplicationStage (ApplicationService)."""
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from models import Application, Candidate, User, db
from models.vocabulary import ApplicationStage, values
from services.common import Stripped, fire, get_in_workspace, load, optional_member_id
from services.errors import ValidationFailed


class CandidateSchema(Schema):
    name = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                    error_messages={"required": "Name is required."})
    email = fields.Email(required=True, error_messages={"invalid": "Enter a valid email address.",
                                                        "required": "Email is required."})
    phone = Stripped(load_default="", validate=validate.Length(max=50))
    notes = Stripped(load_default="", validate=validate.Length(max=20000))


class ApplicationSchema(Schema):
    position = Stripped(required=True, validate=validate.Length(max=200, error="At most 200 characters."),
                        error_messages={"required": "Position is required."})
    recruiter_id = fields.Integer(load_default=None, error_messages={"invalid": "Choose a member of this workspace."})


def build_candidate_payload(candidate: Candidate) -> dict:
    return {"id": candidate.id, "name": candidate.name, "email": candidate.email}


def build_application_payload(application: Application) -> dict:
    return {"id": application.id, "position": application.position, "stage": application.stage}


def get_candidate(workspace_id: int, candidate_id) -> Candidate:
    return get_in_workspace(Candidate, workspace_id, candidate_id, "Candidate")


def get_application(workspace_id: int, application_id) -> Application:
    return get_in_workspace(Application, workspace_id, application_id, "Application")


def list_applications(workspace_id: int) -> list[Application]:
    return list(db.session.scalars(
        select(Application).where(Application.workspace_id == workspace_id).order_by(Application.id.desc())))


def create_candidate(workspace_id: int, data: dict, actor: User | None) -> Candidate:
    clean = load(CandidateSchema(), data)
    candidate = Candidate(workspace_id=workspace_id, **clean)
    db.session.add(candidate)
    db.session.flush()
    return candidate


def create_application(workspace_id: int, candidate_id, data: dict, actor: User | None) -> Application:
    """Submit an application; fires candidate_applied."""
    candidate = get_candidate(workspace_id, candidate_id)
    clean = load(ApplicationSchema(), data)
    clean["recruiter_id"] = optional_member_id(workspace_id, clean.get("recruiter_id"), "recruiter_id")
    application = Application(workspace_id=workspace_id, candidate_id=candidate.id, stage=ApplicationStage.APPLIED, **clean)
    db.session.add(application)
    db.session.flush()
    fire(workspace_id, "candidate_applied", actor, candidate=build_candidate_payload(candidate),
         application=build_application_payload(application))
    return application


def create_candidate_with_application(workspace_id: int, data: dict, actor: User | None) -> Application:
    """The recruiting form: a new candidate and their first application, validated together."""
    errors = {}
    for schema in (CandidateSchema(), ApplicationSchema()):
        try:
            load(schema, data)
        except ValidationFailed as failure:
            errors.update(failure.errors)
    if errors:
        raise ValidationFailed(errors)
    candidate = create_candidate(workspace_id, data, actor)
    return create_application(workspace_id, candidate.id, data, actor)


def update_application_status(workspace_id: int, application_id, stage: str, actor: User | None) -> Application:
    """Move an application to another stage; fires candidate_stage_change."""
    if stage not in values(ApplicationStage):
        raise ValidationFailed({"stage": ["Choose " + ", ".join(values(ApplicationStage)) + "."]})
    application = get_application(workspace_id, application_id)
    previous = application.stage
    if previous == stage:
        return application
    application.stage = stage
    db.session.flush()
    fire(workspace_id, "candidate_stage_change", actor, candidate=build_candidate_payload(application.candidate),
         application=build_application_payload(application), from_stage=previous, to_stage=stage)
    return application

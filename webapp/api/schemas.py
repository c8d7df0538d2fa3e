"""Request and response schemas of /api/v1 (marshmallow; the OpenAPI document is generated from them).

Request bodies reuse the schemas the services validate with (one set of rules for pages and API);
the few schemas defined here only describe the API's own shapes: action bodies, query strings,
list envelopes and the objects it returns.
"""
from datetime import timezone

from marshmallow import Schema, fields, validate

from engine.core.schemas import (ActionSchema, ConditionSchema, ExecutionSchema, TriggerSchema,
                            WorkflowDefinitionSchema)
from models.vocabulary import (ApplicationStage, ConditionsMatch, DealStage, DealStatus, ErrorStrategy, InvoiceStatus, ProjectStatus, ReplayFrom,
                               ReplayOn, RunSource, RunStatus, TaskStatus, TicketPriority, TicketStatus, WorkflowStatus,
                               values)
from services import workflow_settings
from services.application_service import ApplicationSchema, CandidateSchema
from services.contact_service import ContactSchema
from services.deal_service import DealSchema
from services.invoice_service import InvoiceSchema
from services.payment_service import PaymentSchema, RefundSchema
from services.project_service import ProjectSchema
from services.task_service import TaskSchema
from services.ticket_service import TicketSchema

MAX_PAGE = 100
DEFAULT_PAGE = 50
REPLAY_FROM = values(ReplayFrom)
REPLAY_DEFINITION = values(ReplayOn)

__all__ = [
    "ContactSchema", "DealSchema", "InvoiceSchema", "PaymentSchema", "RefundSchema", "ProjectSchema",
    "TicketSchema", "WorkflowDefinitionSchema",
]


def _enum(values) -> dict:
    return {"enum": list(values)}


# --- Request bodies -------------------------------------------------------------------------

SETTINGS_DESCRIPTION = ("Operating settings, not part of the definition (no version is added; owners and admins): "
                        "`alert_on_failure`, `auto_pause_after_failures` (null: the workspace's default; 0: never), "
                        "`max_concurrent_runs` (1 to 1000; null = no limit; the others wait as pending). "
                        "GET /workflows/{id}/settings shows the values that apply.")


class WorkflowPatchSchema(WorkflowDefinitionSchema):
    """Only the given fields change; the result must still be a valid definition. A change adds a version,
    with the optional `note`."""
    note = fields.String(validate=validate.Length(max=500), metadata={"description": "Why (kept with the version)."})
    settings = fields.Dict(keys=fields.String(), metadata={"description": SETTINGS_DESCRIPTION})


class RunSchema(Schema):
    payload = fields.Dict(keys=fields.String(), metadata={
        "description": "The trigger payload to run with; default: the trigger's sample payload."})


class TestSchema(Schema):
    payload = fields.Dict(keys=fields.String(), metadata={
        "description": "The trigger payload to test with; default: `sample`."})
    sample = fields.String(load_default=None, metadata={
        "enum": ["recent", "catalog"],
        "description": "Without `payload`: `recent`, the newest real event of the trigger in this workspace (the "
                       "catalog's sample when there is none), or `catalog`, the catalog's sample (the default)."})
    call_webhooks = fields.Boolean(load_default=False, metadata={
        "description": "Really call the webhooks of Call Webhook steps (still only public addresses)."})
    step = fields.String(load_default=None, metadata={
        "description": "Test this step: run the steps before it as a test and end with it (a step id). A step on "
                       "a branch path this payload does not take ends the test there, recorded as skipped with "
                       "output {\"reason\": \"branch not taken\"} (the branch's record says which path it took)."})


class DefinitionTestSchema(TestSchema):
    definition = fields.Dict(required=True, metadata={"description": "The (unsaved) workflow definition to test."})


class ReplaySchema(Schema):
    from_ = fields.String(data_key="from", load_default=ReplayFrom.FAILED_STEP.value, metadata=_enum(REPLAY_FROM))
    definition = fields.String(load_default=ReplayOn.SNAPSHOT.value, metadata=_enum(REPLAY_DEFINITION))


class DealStageSchema(Schema):
    stage = fields.String(required=True, metadata=_enum(values(DealStage)))


class TaskStatusSchema(Schema):
    status = fields.String(required=True, metadata=_enum(values(TaskStatus)))


class ApplicationStageSchema(Schema):
    stage = fields.String(required=True, metadata=_enum(values(ApplicationStage)))


class TaskCreateSchema(TaskSchema):
    project_id = fields.Integer(required=True, metadata={"description": "The project the task belongs to."})


class ApplicationCreateSchema(CandidateSchema, ApplicationSchema):
    """A new candidate and their application, as the recruiting form takes them."""


class EmptySchema(Schema):
    """No fields: the body is empty or {}."""


# --- Query strings ---------------------------------------------------------------------------

class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 time with a time zone, read as UTC; one that UTC cannot hold (0001-01-01T00:00+05:00)
    is invalid rather than an error deeper down."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None


class ExecutionQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(values(RunStatus)))
    workflow_id = fields.Integer(strict=False, validate=validate.Range(min=1, max=2**31 - 1))
    since = UtcDateTime(default_timezone=None, metadata={
        "description": "Only runs created at or after this time (ISO 8601 with a time zone)."})
    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.String(validate=validate.Length(max=200), metadata={
        "description": "The next_cursor of the previous page."})


class WorkflowQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(values(WorkflowStatus)))


class TaskQuerySchema(Schema):
    project_id = fields.Integer(strict=False, validate=validate.Range(min=1, max=2**31 - 1))


# --- Responses -----------------------------------------------------------------------------

class ErrorSchema(Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata={
        "description": "Messages by dotted field path, like actions.0.config.to."})


class WorkflowOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    trigger = fields.Nested(TriggerSchema)
    conditions = fields.List(fields.Nested(ConditionSchema))
    conditions_match = fields.String(metadata=_enum(values(ConditionsMatch)))
    actions = fields.List(fields.Nested(ActionSchema))
    error_strategy = fields.String(metadata=_enum(values(ErrorStrategy)))
    status = fields.String(metadata=_enum(values(WorkflowStatus)))
    paused_reason = fields.String(allow_none=True, metadata={
        "description": "Why the engine paused it (after failed runs in a row); null when a person set the status."})
    version = fields.Integer()
    settings = fields.Function(workflow_settings.settings_of, metadata={"description": SETTINGS_DESCRIPTION})
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class WorkflowSettingsOut(Schema):
    alert_on_failure = fields.Boolean(metadata={"description": "A failed run notifies the owners and admins."})
    auto_pause_after_failures = fields.Integer(allow_none=True, metadata={
        "description": "The workflow's own threshold; null: the workspace's default applies."})
    auto_pause_after_failures_effective = fields.Integer(metadata={
        "description": "Failed runs in a row after which the workflow pauses (0 = never)."})
    max_concurrent_runs = fields.Integer(allow_none=True, metadata={
        "description": "At most this many runs at once; the others wait as pending. null: no limit."})


class ExecutionOut(ExecutionSchema):
    """DESIGN.md's execution shape, plus where the run came from and what it ran with."""
    workflow_id = fields.Integer(allow_none=True)
    version = fields.Integer(attribute="workflow_version", allow_none=True, metadata={
        "description": "The workflow version this run ran (GET /workflows/{id}/versions/{n})."})
    workflow_name = fields.String()
    status = fields.String(metadata=_enum(values(RunStatus)))
    source = fields.String(metadata=_enum(values(RunSource)))
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    resume_at = fields.DateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    replay_of_id = fields.Integer(allow_none=True)
    mode = fields.String(metadata={"description": "`live`, or `test` for a test run (nothing sent or kept)."})
    trigger_payload = fields.Dict()
    definition = fields.Dict()


class EventSampleOut(Schema):
    id = fields.Integer()
    trigger_type = fields.String()
    summary = fields.String(metadata={"description": "What the event was about, e.g. Deal 'Acme — 50 seats'."})
    payload = fields.Dict()
    created_at = fields.DateTime()


class ExecutionPageOut(Schema):
    data = fields.List(fields.Nested(ExecutionOut))
    next_cursor = fields.String(allow_none=True)


class ContactOut(Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    company = fields.String()
    owner_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class DealOut(Schema):
    id = fields.Integer()
    title = fields.String()
    value = fields.Float()
    currency = fields.String()
    stage = fields.String(metadata=_enum(values(DealStage)))
    status = fields.String(metadata=_enum(values(DealStatus)))
    probability = fields.Integer()
    notes = fields.String()
    contact_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    stage_changed_at = fields.DateTime()


class ProjectOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    status = fields.String(metadata=_enum(values(ProjectStatus)))
    lead_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class TaskOut(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    title = fields.String()
    description = fields.String()
    status = fields.String(metadata=_enum(values(TaskStatus)))
    assignee_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)


class TicketOut(Schema):
    id = fields.Integer()
    subject = fields.String()
    description = fields.String()
    requester_email = fields.String()
    priority = fields.String(metadata=_enum(values(TicketPriority)))
    status = fields.String(metadata=_enum(values(TicketStatus)))
    owner_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class InvoiceOut(Schema):
    id = fields.Integer()
    number = fields.String()
    customer_name = fields.String()
    customer_email = fields.String()
    amount = fields.Float()
    currency = fields.String()
    status = fields.String(metadata=_enum(values(InvoiceStatus)))
    paid_amount = fields.Float()
    refunded_amount = fields.Float()
    balance = fields.Float()
    deal_id = fields.Integer(allow_none=True)
    due_on = fields.Date(allow_none=True)
    notes = fields.String()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)


class PaymentOut(Schema):
    id = fields.Integer()
    invoice_id = fields.Integer()
    amount = fields.Float()
    reference = fields.String()
    created_at = fields.DateTime()
    invoice = fields.Nested(InvoiceOut)


class RefundOut(Schema):
    id = fields.Integer()
    invoice_id = fields.Integer()
    amount = fields.Float()
    reason = fields.String()
    created_at = fields.DateTime()
    invoice = fields.Nested(InvoiceOut)


class CandidateOut(Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    phone = fields.String()


class ApplicationOut(Schema):
    id = fields.Integer()
    position = fields.String()
    stage = fields.String(metadata=_enum(values(ApplicationStage)))
    recruiter_id = fields.Integer(allow_none=True)
    candidate = fields.Nested(CandidateOut)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CatalogFieldOut(Schema):
    name = fields.String()
    label = fields.String()
    type = fields.String()
    required = fields.Boolean()
    help = fields.String()
    choices = fields.Method("_choices")
    default = fields.Raw(allow_none=True)
    min = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)
    placeholder = fields.String()

    def _choices(self, field) -> list:
        return [{"value": value, "label": label} for value, label in field.choices]


class PayloadFieldOut(Schema):
    path = fields.String()
    label = fields.String()
    type = fields.String()
    example = fields.Raw(allow_none=True)


class TriggerOut(Schema):
    key = fields.String()
    label = fields.String()
    module = fields.String()
    description = fields.String()
    fire_mode = fields.String()
    config_fields = fields.List(fields.Nested(CatalogFieldOut))
    payload_fields = fields.List(fields.Nested(PayloadFieldOut))


class ActionOut(Schema):
    type = fields.String()
    label = fields.String()
    module = fields.String()
    description = fields.String()
    creates_record = fields.Boolean()
    config_fields = fields.List(fields.Nested(CatalogFieldOut), data_key="fields", attribute="fields")


class CatalogOut(Schema):
    triggers = fields.List(fields.Nested(TriggerOut))
    actions = fields.List(fields.Nested(ActionOut))


def list_of(item: type[Schema]) -> type[Schema]:
    """The list envelope {"data": [...]} of one kind of object, as a named schema for the document."""
    name = item.__name__.removesuffix("Out") + "ListSchema"
    return Schema.from_dict({"data": fields.List(fields.Nested(item))}, name=name)


class TemplateOut(Schema):
    """A template of the gallery: a system one (workspace null) or this workspace's own."""
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    description = fields.String()
    category = fields.String()
    featured = fields.Boolean()
    usage_count = fields.Integer()
    workspace_id = fields.Integer(allow_none=True)
    definition = fields.Dict()
    source_workflow_id = fields.Integer(allow_none=True, metadata={"description": "The workflow it was published from."})
    source_workflow_version = fields.Integer(allow_none=True, metadata={
        "description": "The version of that workflow it was published from."})


class VersionSummaryOut(Schema):
    number = fields.Integer()
    note = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_by = fields.String(attribute="created_by_label")
    created_at = fields.DateTime()
    restored_from = fields.Integer(allow_none=True, metadata={"description": "The version this one restored."})


class VersionOut(VersionSummaryOut):
    definition = fields.Dict(metadata={"description": "The definition saved in this version (no status)."})


class VersionPageOut(Schema):
    data = fields.List(fields.Nested(VersionSummaryOut))
    next_before = fields.Integer(allow_none=True, metadata={"description": "Pass as ?before= for older versions."})


class VersionQuerySchema(Schema):
    before = fields.Integer(strict=False, validate=validate.Range(min=1, max=2**31 - 1))


class WorkflowFileSchema(Schema):
    """A workflow file (`<slug>.workestra.json`): DESIGN.md "Versions and files"."""
    workestra = fields.String(metadata={"enum": ["workflow"]})
    format = fields.Raw(metadata={"description": "2"})
    exported_at = fields.String()
    workflow = fields.Dict(metadata={"description": "name, description, trigger, conditions, conditions_match, "
                                                    "actions, error_strategy, settings (alert_on_failure, "
                                                    "auto_pause_after_failures, max_concurrent_runs, "
                                                    "minutes_saved_per_run; null = the default)"})
    blanked = fields.List(fields.String(), metadata={
        "description": "Field paths whose values belonged to the source workspace and were removed."})


class ImportedWorkflowOut(WorkflowOut):
    blanked = fields.List(fields.String(), metadata={"description": "Values the file left blank."})
    needs = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata={
        "description": "What the draft still needs before it can be activated, by field path."})

"""The trigger and action catalog: the single source of truth for the automations engine.

Everything else (schemas, editor, dispatcher, runner, executors) reads from here.
Pure constant data plus a few helpers; importing this module does no work.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field as dataclass_field
from typing import Any

from models.vocabulary import (STALE_AFTER_DAYS, DealStage, ErrorStrategy, Role, RunStatus, TicketPriority,
                               WorkflowStatus, choices, values)

MODULES = ("CRM", "Projects", "Support", "Finance", "Recruiting", "Platform")

FIELD_TYPES = frozenset({
    "string", "text", "email", "url", "integer", "number", "select", "user",
    "record_id", "json", "cron", "timezone", "boolean", "role", "conditions",
})

WORKFLOW_STATUSES = values(WorkflowStatus)
EXECUTION_STATUSES = values(RunStatus)
MAX_RETRIES = 3
MAX_DELAY_SECONDS = 30 * 24 * 60 * 60  # 30 days
MAX_BRANCH_DEPTH = 3  # branches inside branches, at most this many deep (DESIGN.md "Definition v2")
MATCH_CHOICES = (("all", "All conditions hold"), ("any", "Any condition holds"))

_ERROR_STRATEGY_HELP = {
    ErrorStrategy.CONTINUE: "Skip the failed action, keep executing subsequent ones.",
    ErrorStrategy.RETRY: f"Retry the action up to {MAX_RETRIES}× with backoff, then continue.",
    ErrorStrategy.STOP: "Halt the run, mark execution failed.",
}
ERROR_STRATEGIES = {strategy.value: (strategy.label, _ERROR_STRATEGY_HELP[strategy]) for strategy in ErrorStrategy}

CONDITION_OPERATORS = {
    "eq": "equals",
    "neq": "does not equal",
    "gt": "is greater than",
    "gte": "is greater than or equal to",
    "lt": "is less than",
    "lte": "is less than or equal to",
    "contains": "contains",
    "not_contains": "does not contain",
    "in": "is one of",
    "not_in": "is not one of",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}
UNARY_OPERATORS = frozenset({"is_empty", "is_not_empty"})

PIPELINE_STAGES = tuple(choices(DealStage))
TICKET_PRIORITIES = tuple(choices(TicketPriority))
ROLES = tuple(choices(Role))
USER_KEYWORDS = ("owner", "record_owner")  # literal values a "user" field accepts


@dataclass(frozen=True)
class Field:
    """One config field of a trigger or an action."""
    name: str
    label: str
    type: str
    required: bool = False
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    default: Any = None
    min: float | None = None
    max: float | None = None
    placeholder: str = ""


@dataclass(frozen=True)
class PayloadField:
    """A value the trigger's payload provides, at a dotted path."""
    path: str
    label: str
    type: str
    example: Any = dataclass_field(hash=False)  # may be a dict (webhook body)


@dataclass(frozen=True)
class Trigger:
    key: str
    label: str
    module: str
    description: str
    fire_mode: str  # "event" | "manual" | "schedule" | "webhook"
    payload_fields: tuple[PayloadField, ...]
    config_fields: tuple[Field, ...] = ()

    def defaults(self) -> dict:
        return _defaults(self.config_fields)


@dataclass(frozen=True)
class Action:
    type: str
    label: str
    module: str
    description: str
    fields: tuple[Field, ...]
    creates_record: bool = False
    icon: str = ""
    # True only when every effect is a write in the run's database transaction (an email goes to the
    # outbox, delivered after the commit), so a rollback undoes all of it: the runner lets such steps
    # share a transaction. False (the default, so a forgotten flag can never send something twice): the
    # step runs only after everything before it is committed, and is committed on its own.
    transactional: bool = False
    # What the step's output holds, as (key, label): what {{ steps.<id>.output.<key> }} can read later on.
    outputs: tuple[tuple[str, str], ...] = ()

    def defaults(self) -> dict:
        return _defaults(self.fields)


def _defaults(fields: tuple[Field, ...]) -> dict:
    return {f.name: f.default for f in fields if f.default is not None}


# --- Trigger payloads -----------------------------------------------------------------
# Each object is (name, label, type, example); _obj() prefixes the paths.

_DEAL = (
    ("id", "Deal ID", "integer", 42),
    ("title", "Deal title", "string", "Acme Corp — 50 seats"),
    ("value", "Deal value", "number", 12500.0),
    ("currency", "Currency", "string", "USD"),
    ("stage", "Stage", "string", "proposal"),
    ("status", "Status", "string", "open"),
    ("probability", "Win probability", "integer", 40),
    ("owner_id", "Owner ID", "integer", 3),
    ("owner_email", "Owner email", "email", "dana@example.com"),
    ("contact_id", "Contact ID", "integer", 17),
)
_CONTACT = (
    ("id", "Contact ID", "integer", 17),
    ("name", "Contact name", "string", "Jordan Lee"),
    ("email", "Contact email", "email", "jordan.lee@acme.example"),
    ("company", "Company", "string", "Acme Corp"),
    ("owner_id", "Owner ID", "integer", 3),
    ("owner_email", "Owner email", "email", "dana@example.com"),
)
_TASK = (
    ("id", "Task ID", "integer", 128),
    ("title", "Task title", "string", "Prepare onboarding checklist"),
    ("status", "Status", "string", "in_progress"),
    ("project_id", "Project ID", "integer", 9),
    ("assignee_id", "Assignee ID", "integer", 5),
    ("assignee_email", "Assignee email", "email", "sam@example.com"),
)
_PROJECT = (
    ("id", "Project ID", "integer", 9),
    ("name", "Project name", "string", "Acme onboarding"),
)
_TICKET = (
    ("id", "Ticket ID", "integer", 311),
    ("subject", "Subject", "string", "Cannot export invoices to CSV"),
    ("description", "Description", "text",
     "The export button spins forever since this morning."),
    ("requester_email", "Requester email", "email", "jordan.lee@acme.example"),
    ("priority", "Priority", "string", "normal"),
    ("status", "Status", "string", "open"),
    ("owner_id", "Owner ID", "integer", 4),
    ("owner_email", "Owner email", "email", "riley@example.com"),
)
_INVOICE = (
    ("id", "Invoice ID", "integer", 77),
    ("number", "Invoice number", "string", "INV-2024-0077"),
    ("customer_name", "Customer name", "string", "Acme Corp"),
    ("customer_email", "Customer email", "email", "billing@acme.example"),
    ("amount", "Amount", "number", 12500.0),
    ("currency", "Currency", "string", "USD"),
    ("status", "Status", "string", "paid"),
    ("paid_amount", "Paid amount", "number", 12500.0),
)
_REFUND = (
    ("id", "Refund ID", "integer", 12),
    ("amount", "Refund amount", "number", 2500.0),
    ("reason", "Reason", "string", "Duplicate charge"),
)
_CANDIDATE = (
    ("id", "Candidate ID", "integer", 55),
    ("name", "Candidate name", "string", "Priya Patel"),
    ("email", "Candidate email", "email", "priya.patel@example.com"),
)
_APPLICATION = (
    ("id", "Application ID", "integer", 81),
    ("position", "Position", "string", "Senior Backend Engineer"),
    ("stage", "Stage", "string", "applied"),
)
_EMAIL = (
    ("id", "Email ID", "integer", 901),
    ("to", "Recipient", "email", "jordan.lee@acme.example"),
    ("subject", "Subject", "string", "Your proposal from Northwind"),
)
_ACTOR = (
    ("id", "Actor ID", "integer", 3),
    ("name", "Actor name", "string", "Dana Whitfield"),
    ("email", "Actor email", "email", "dana@example.com"),
)
_WORKSPACE = (
    ("id", "Workspace ID", "integer", 1),
    ("name", "Workspace name", "string", "Northwind Ltd"),
)
_FAILED_WORKFLOW = (
    ("id", "Workflow ID", "integer", 7),
    ("name", "Workflow name", "string", "Deal won → thank-you email"),
    ("trigger_type", "Its trigger", "string", "deal_closed_won"),
    ("status", "Its status now", "string", "active"),
)
_FAILED_RUN = (
    ("id", "Run ID", "integer", 1042),
    ("error", "Error", "text", "Step 2 (Send Template Email) failed: 'to' is not a valid email address."),
    ("url", "Run link (path)", "string", "/automations/runs/1042"),
    ("started_at", "Started at", "datetime", "2024-05-06T09:00:01+00:00"),
    ("finished_at", "Finished at", "datetime", "2024-05-06T09:00:02+00:00"),
)


def _obj(prefix: str, spec: tuple, **examples: Any) -> tuple[PayloadField, ...]:
    """Payload fields for one nested object; keyword arguments override examples."""
    return tuple(
        PayloadField(f"{prefix}.{name}", label, type_, examples.get(name, example))
        for name, label, type_, example in spec
    )


def _change(kind: str, label: str, before: str, after: str) -> tuple[PayloadField, ...]:
    return (
        PayloadField(f"from_{kind}", f"Previous {label}", "string", before),
        PayloadField(f"to_{kind}", f"New {label}", "string", after),
    )


_COMMON = _obj("actor", _ACTOR) + _obj("workspace", _WORKSPACE)


def _trigger(key, label, module, description, *payload, fire_mode="event",
             config_fields=()) -> Trigger:
    return Trigger(key=key, label=label, module=module, description=description,
                   fire_mode=fire_mode,
                   payload_fields=tuple(f for group in payload for f in group) + _COMMON,
                   config_fields=config_fields)


_CRON_HELP = ("Five fields: minute hour day-of-month month day-of-week. Examples: "
              "\"0 9 * * *\" every day at 09:00, \"0 9 * * 1-5\" weekdays at 09:00, "
              "\"*/15 * * * *\" every 15 minutes, \"0 8 1 * *\" the 1st of each month.")

_SCHEDULE_FIELDS = (
    Field("cron", "Schedule (cron)", "cron", required=True, default="0 9 * * *",
          help=_CRON_HELP, placeholder="0 9 * * *"),
    Field("timezone", "Time zone", "timezone", default="UTC",
          help="IANA time zone name, e.g. Europe/Paris.", placeholder="UTC"),
)

_TRIGGER_LIST = (
    _trigger("deal_created", "Deal Created", "CRM", "A new deal is created",
             _obj("deal", _DEAL, stage="lead", probability=10), _obj("contact", _CONTACT)),
    _trigger("deal_stage_change", "Deal Stage Changes", "CRM",
             "An opportunity moves to a new pipeline stage",
             _obj("deal", _DEAL, stage="negotiation", probability=60),
             _obj("contact", _CONTACT), _change("stage", "stage", "proposal", "negotiation")),
    _trigger("deal_closed_won", "Deal Closed Won", "CRM", "A deal is marked as Closed Won",
             _obj("deal", _DEAL, stage="closed_won", status="won", probability=100),
             _obj("contact", _CONTACT), _change("stage", "stage", "negotiation", "closed_won")),
    _trigger("contact_created", "Contact Created", "CRM", "A new contact is added",
             _obj("contact", _CONTACT)),
    _trigger("task_status_change", "Task Status Changes", "Projects",
             "A task's status is updated",
             _obj("task", _TASK), _obj("project", _PROJECT),
             _change("status", "status", "todo", "in_progress")),
    _trigger("task_completed", "Task Completed", "Projects", "A task is marked complete",
             _obj("task", _TASK, status="done"), _obj("project", _PROJECT),
             _change("status", "status", "in_progress", "done")),
    _trigger("ticket_created", "Ticket Created", "Support", "A new support ticket is opened",
             _obj("ticket", _TICKET)),
    _trigger("ticket_escalated", "Ticket Escalated", "Support",
             "A ticket's priority is escalated",
             _obj("ticket", _TICKET, priority="urgent"),
             _change("priority", "priority", "high", "urgent")),
    _trigger("ticket_resolved", "Ticket Resolved", "Support", "A ticket is marked resolved",
             _obj("ticket", _TICKET, status="resolved")),
    _trigger("invoice_paid", "Invoice Paid", "Finance", "An invoice flips to paid status",
             _obj("invoice", _INVOICE)),
    _trigger("invoice_refunded", "Invoice Refunded", "Finance", "A refund is processed",
             _obj("invoice", _INVOICE, status="refunded"), _obj("refund", _REFUND)),
    _trigger("candidate_applied", "Candidate Applied", "Recruiting",
             "A new application is submitted",
             _obj("candidate", _CANDIDATE), _obj("application", _APPLICATION)),
    _trigger("candidate_stage_change", "Candidate Stage Changes", "Recruiting",
             "A candidate moves to a different stage",
             _obj("candidate", _CANDIDATE), _obj("application", _APPLICATION, stage="interview"),
             _change("stage", "stage", "screening", "interview")),
    _trigger("email_sent", "Email Sent", "Platform", "Any email is sent via the product",
             _obj("email", _EMAIL)),
    _trigger("scheduled", "Scheduled (Cron)", "Platform", "On a recurring schedule",
             (PayloadField("scheduled_for", "Scheduled for", "datetime",
                           "2024-05-06T09:00:00+00:00"),
              PayloadField("fired_at", "Fired at", "datetime", "2024-05-06T09:00:04+00:00"),
              PayloadField("late", "Fired late", "boolean", False)),
             fire_mode="schedule", config_fields=_SCHEDULE_FIELDS),
    _trigger("workflow_failed", "Workflow Failed", "Platform",
             "A run of another workflow of this workspace fails (never for a workflow on this trigger)",
             _obj("workflow", _FAILED_WORKFLOW), _obj("run", _FAILED_RUN),
             (PayloadField("consecutive_failures", "Failed runs in a row", "integer", 1),
              PayloadField("auto_paused", "The failure paused the workflow", "boolean", False))),
    _trigger("webhook_received", "Webhook Received", "Platform",
             "A POST request is received on the workflow's URL",
             (PayloadField("body", "Request body", "json",
                           {"event": "order.created", "order_id": "ORD-1042", "total": 99.5}),
              PayloadField("delivery_id", "Delivery ID", "string",
                           "msg_2fWq8XbN1yQ7tK3p")),
             fire_mode="webhook"),
)
TRIGGERS: dict[str, Trigger] = {t.key: t for t in _TRIGGER_LIST}


# --- Actions ------------------------------------------------------------------------

_USER_HELP = ('A user id, a value like {{ trigger.deal.owner_id }}, "owner" (the workspace '
              'owner) or "record_owner" (the owner of the trigger\'s record).')
_DEAL_ID = Field("deal_id", "Deal", "record_id", required=True,
                 default="{{ trigger.deal.id }}", help="The deal to change.")

DEAL_CHANGE_FIELDS = (
    Field("title", "Title", "string"),
    Field("stage", "Stage", "select", choices=PIPELINE_STAGES),
    Field("status", "Status", "string"),
    Field("value", "Value", "number", min=0),
    Field("currency", "Currency", "string"),
    Field("probability", "Win probability", "integer", min=0, max=100),
    Field("notes", "Notes", "text"),
)
UPDATE_DEAL_FIELDS = tuple(f.name for f in DEAL_CHANGE_FIELDS)


def _action(type_, label, module, description, *fields, icon, creates_record=False, transactional=False):
    return Action(type=type_, label=label, module=module, description=description,
                  fields=fields, creates_record=creates_record, icon=icon, transactional=transactional)


_ACTION_LIST = (
    _action("send_template_email", "Send Template Email", "Platform",
            "Send an email to a recipient",
            Field("to", "To", "email", required=True,
                  placeholder="{{ trigger.contact.email }}"),
            Field("subject", "Subject", "string", required=True),
            Field("body", "Body", "text", required=True),
            Field("template", "Template", "select",
                  choices=(("", "None"), ("welcome", "Welcome"), ("thank_you", "Thank you"),
                           ("csat_survey", "CSAT survey"), ("apology", "Apology"),
                           ("acknowledgement", "Acknowledgement")),
                  help="Optional named layout wrapped around the body."),
            icon="envelope", creates_record=True, transactional=True),
    _action("send_in_app_notification", "Send In-App Notification", "Platform",
            "Push a notification into a user's inbox",
            Field("recipient", "Recipient", "select", required=True, default="record_owner",
                  choices=(("record_owner", "Owner of the record"), ("user", "A user"),
                           ("role", "Everyone with a role"))),
            Field("user_id", "User", "user", help=_USER_HELP + ' Used when recipient is "user".'),
            Field("role", "Role", "role", choices=ROLES,
                  help='Used when recipient is "role".'),
            Field("title", "Title", "string", required=True),
            Field("body", "Body", "text"),
            Field("link", "Link", "string", placeholder="/crm/deals/{{ trigger.deal.id }}"),
            icon="bell", creates_record=True, transactional=True),
    _action("call_webhook", "Call Webhook", "Platform",
            "POST a signed payload to an external URL",
            Field("url", "URL", "url", required=True, placeholder="https://example.com/hook"),
            Field("payload", "Payload", "json",
                  help="JSON object to send. Leave empty to send the trigger payload."),
            Field("headers", "Extra headers", "json", help="JSON object of header → value."),
            icon="broadcast"),
    _action("log_event", "Log Event", "Platform", "Write a custom event to the audit log",
            Field("event", "Event", "string", required=True, help="snake_case name",
                  placeholder="deal_won"),
            Field("message", "Message", "text"),
            icon="journal-text", transactional=True),
    _action("wait_delay", "Wait / Delay", "Platform",
            "Pause for a set duration before the next action",
            Field("seconds", "Seconds", "integer", required=True, min=1, max=MAX_DELAY_SECONDS,
                  help="Up to 30 days (2592000 seconds)."),
            icon="hourglass-split", transactional=True),
    _action("branch", "Branch (If / Else)", "Platform",
            "Take the Then path when the conditions hold, the Else path otherwise; the steps after the branch run either way",
            Field("match", "Match", "select", required=True, default="all", choices=MATCH_CHOICES),
            Field("conditions", "Conditions", "conditions", required=True,
                  help="A field of the trigger (deal.value) or an earlier step's output (steps.<id>.output.x)."),
            icon="signpost-split", transactional=True),
    _action("create_deal", "Create Deal", "CRM", "Insert a new deal record",
            Field("title", "Title", "string", required=True),
            Field("value", "Value", "number", min=0),
            Field("currency", "Currency", "string", default="USD"),
            Field("stage", "Stage", "select", choices=PIPELINE_STAGES, default=DealStage.LEAD.value),
            Field("contact_id", "Contact", "record_id",
                  placeholder="{{ trigger.contact.id }}"),
            Field("owner_id", "Owner", "user", help=_USER_HELP),
            icon="briefcase", creates_record=True, transactional=True),
    _action("update_deal", "Update Deal", "CRM",
            "Update whitelisted fields (" + ", ".join(UPDATE_DEAL_FIELDS) + ")",
            _DEAL_ID,
            Field("changes", "Changes", "json", required=True,
                  help="JSON object of field → new value. Allowed fields: "
                       + ", ".join(UPDATE_DEAL_FIELDS) + ".",
                  placeholder='{"stage": "negotiation"}'),
            icon="pencil-square", transactional=True),
    _action("update_win_probability", "Update Win Probability", "CRM",
            "Set the probability field on an opportunity (0–100)",
            _DEAL_ID,
            Field("probability", "Probability (%)", "integer", required=True, min=0, max=100),
            icon="percent", transactional=True),
    _action("assign_owner", "Assign Owner", "CRM",
            "Reassign the owner of a deal, contact, ticket, task, issue, or project",
            Field("record_type", "Record type", "select", required=True,
                  choices=(("deal", "Deal"), ("contact", "Contact"), ("ticket", "Ticket"),
                           ("task", "Task"), ("issue", "Issue"), ("project", "Project"))),
            Field("record_id", "Record", "record_id", required=True,
                  placeholder="{{ trigger.deal.id }}"),
            Field("user_id", "New owner", "user", required=True, help=_USER_HELP),
            icon="person-check", transactional=True),
    _action("flag_as_stale", "Flag as Stale", "CRM",
            "Record a stale_flagged event in the audit log",
            Field("deal_id", "Deal", "record_id",
                  placeholder="{{ trigger.deal.id }}",
                  help="Leave empty to flag every open deal with no change for the number of days below "
                       "(for scheduled workflows)."),
            Field("reason", "Reason", "string"),
            Field("stale_days", "Stale after (days)", "integer", min=1, default=STALE_AFTER_DAYS),
            icon="flag", transactional=True),
    _action("create_ticket", "Create Ticket", "Support", "Open a new support ticket",
            Field("subject", "Subject", "string", required=True),
            Field("description", "Description", "text"),
            Field("requester_email", "Requester email", "email"),
            Field("priority", "Priority", "select", choices=TICKET_PRIORITIES,
                  default=TicketPriority.NORMAL.value),
            icon="life-preserver", creates_record=True, transactional=True),
    _action("create_project", "Create Project", "Projects", "Open a new project",
            Field("name", "Name", "string", required=True),
            Field("lead_id", "Lead", "user", help=_USER_HELP),
            Field("description", "Description", "text"),
            icon="kanban", creates_record=True, transactional=True),
    _action("close_sprint_cycle", "Close Sprint Cycle", "Projects",
            "Close the active sprint cycle",
            Field("project_id", "Project", "record_id", required=True,
                  placeholder="{{ trigger.project.id }}"),
            icon="check2-square", transactional=True),
    _action("create_invoice", "Create Invoice", "Finance", "Insert a draft invoice",
            Field("customer_name", "Customer name", "string", required=True),
            Field("customer_email", "Customer email", "email"),
            Field("amount", "Amount", "number", required=True, min=0),
            Field("currency", "Currency", "string", default="USD"),
            Field("deal_id", "Deal", "record_id", help="Pre-fill from deal.",
                  placeholder="{{ trigger.deal.id }}"),
            Field("due_days", "Due in (days)", "integer", min=0, default=30),
            icon="receipt", creates_record=True, transactional=True),
    _action("create_quotation", "Create Quotation", "Finance", "Insert a draft quotation",
            Field("customer_name", "Customer name", "string", required=True),
            Field("customer_email", "Customer email", "email"),
            Field("amount", "Amount", "number", required=True, min=0),
            Field("currency", "Currency", "string", default="USD"),
            icon="file-earmark-text", creates_record=True, transactional=True),
    _action("notify_ats", "Notify ATS", "Recruiting", "Send a recruiting-team notification",
            Field("title", "Title", "string", required=True),
            Field("body", "Body", "text"),
            Field("candidate_id", "Candidate", "record_id",
                  placeholder="{{ trigger.candidate.id }}"),
            icon="person-badge", creates_record=True, transactional=True),
    _action("generate_document", "Generate Document", "Platform",
            "Render a document from a template with the trigger's fields",
            Field("title", "Title", "string", required=True),
            Field("template", "Document", "text", required=True,
                  help="The document body; insert fields like {{ trigger.deal.title }}."),
            Field("format", "Format", "select", default="markdown",
                  choices=(("markdown", "Markdown"), ("text", "Plain text"))),
            icon="file-earmark-richtext", creates_record=True, transactional=True),
)
_OUTPUTS = {
    "send_template_email": (("email_id", "Email ID"), ("to", "Recipient"), ("subject", "Subject"), ("status", "Status"),
                            ("link", "Link")),
    "send_in_app_notification": (("notification_ids", "Notification IDs"), ("user_ids", "Recipients' user IDs"),
                                 ("count", "Notifications sent")),
    "call_webhook": (("status_code", "Response status code"),),
    "log_event": (("audit_event_id", "Audit event ID"), ("event", "Event")),
    "wait_delay": (("waited_seconds", "Seconds waited"),),
    "branch": (("matched", "Conditions held"), ("path", "Path taken (then / else)")),
    "create_deal": (("deal_id", "Deal ID"), ("title", "Title"), ("stage", "Stage"), ("link", "Link")),
    "update_deal": (("deal_id", "Deal ID"), ("changed", "Changed fields"), ("link", "Link")),
    "update_win_probability": (("deal_id", "Deal ID"), ("previous_probability", "Previous probability"),
                               ("probability", "Probability"), ("link", "Link")),
    "assign_owner": (("record_id", "Record ID"), ("owner_id", "New owner's ID"), ("owner_email", "New owner's email"),
                     ("link", "Link")),
    "flag_as_stale": (("flagged_count", "Deals flagged"),),
    "create_ticket": (("ticket_id", "Ticket ID"), ("subject", "Subject"), ("priority", "Priority"), ("link", "Link")),
    "create_project": (("project_id", "Project ID"), ("name", "Name"), ("lead_id", "Lead's user ID"), ("link", "Link")),
    "close_sprint_cycle": (("sprint_id", "Sprint ID"), ("name", "Sprint name"), ("status", "Status"), ("link", "Link")),
    "create_invoice": (("invoice_id", "Invoice ID"), ("number", "Number"), ("amount", "Amount"), ("link", "Link")),
    "create_quotation": (("quotation_id", "Quotation ID"), ("number", "Number"), ("amount", "Amount"), ("link", "Link")),
    "notify_ats": (("notification_ids", "Notification IDs"), ("count", "Notifications sent")),
    "generate_document": (("document_id", "Document ID"), ("title", "Title"), ("link", "Link"), ("download", "Download link")),
}
ACTIONS: dict[str, Action] = {a.type: dataclasses.replace(a, outputs=_OUTPUTS.get(a.type, ())) for a in _ACTION_LIST}


# --- Helpers --------------------------------------------------------------------------

def payload_paths(trigger_key: str) -> list[str]:
    return [f.path for f in TRIGGERS[trigger_key].payload_fields]


def sample_payload(trigger_key: str) -> dict:
    """A realistic nested payload for a trigger, built from the catalog's examples."""
    payload: dict = {}
    for field in TRIGGERS[trigger_key].payload_fields:
        *parents, leaf = field.path.split(".")
        node = payload
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _copy(field.example)
    return payload


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _by_module(items, module_of) -> list[tuple[str, list]]:
    groups = [(m, [i for i in items if module_of(i) == m]) for m in MODULES]
    return [(m, members) for m, members in groups if members]


def triggers_by_module() -> list[tuple[str, list[Trigger]]]:
    return _by_module(TRIGGERS.values(), lambda t: t.module)


def actions_by_module() -> list[tuple[str, list[Action]]]:
    return _by_module(ACTIONS.values(), lambda a: a.module)

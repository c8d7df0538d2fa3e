"""The records a workflow step creates or changes, and the page each is shown on.

One table for the engine (a step's output carries a `link` to its record) and for the run detail page
(which links every `<kind>_id` of an output). Pages are named by their endpoint; their URL paths live
only in the blueprints, and links are built from the app's own URL map.
"""
from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class RecordKind:
    key: str  # "deal": outputs name it as `deal_id`
    label: str
    endpoint: str  # the page that shows one (or the list that holds it, with `anchor`)
    argument: str | None = None  # the endpoint's URL argument for the record's id
    anchor: str | None = None  # "email-{}": the record's place on a list page


RECORD_KINDS = {kind.key: kind for kind in (
    RecordKind("deal", "Deal", "crm.deal", "deal_id"),
    RecordKind("contact", "Contact", "crm.contact", "contact_id"),
    RecordKind("ticket", "Ticket", "support.ticket", "ticket_id"),
    RecordKind("project", "Project", "projects.project", "project_id"),
    RecordKind("task", "Task", "projects.task", "task_id"),
    RecordKind("invoice", "Invoice", "finance.invoice", "invoice_id"),
    RecordKind("quotation", "Quotation", "finance.quotation", "quotation_id"),
    RecordKind("document", "Document", "platform.document", "document_id"),
    RecordKind("application", "Application", "recruiting.application", "application_id"),
    RecordKind("email", "Email", "platform.outbox", anchor="email-{}"),
)}


_ADAPTER_KEY = "workestra_record_urls"


def record_path(kind: str, record_id: int, endpoint: str | None = None) -> str:
    """The path of the record's page (`/crm/deals/42`), or of another of its pages by endpoint; works
    outside a request (a worker), since it only reads the URL map."""
    record = RECORD_KINDS[kind]
    adapter = current_app.extensions.get(_ADAPTER_KEY)
    if adapter is None:  # binding the URL map costs more than building a path: once per app
        adapter = current_app.extensions[_ADAPTER_KEY] = current_app.url_map.bind("localhost")
    values = {record.argument: record_id} if record.argument else {}
    path = adapter.build(endpoint or record.endpoint, values)
    return f"{path}#{record.anchor.format(record_id)}" if record.anchor and endpoint is None else path

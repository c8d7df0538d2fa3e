"""Security suite helpers: two workspaces full of records, and a checksum of the whole database."""
import hashlib
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from engine.core.catalog import sample_payload
from tests.factories import new_execution
from models import OutboxEmail, Workflow, db
from services import (api_token_service, document_service, incoming_webhook_service, notification_service,
                      template_service, workspace_service)
from tests import factories
from tests.conftest import owner_of
from tests.support.engine import log_step

# Columns that legitimately move on a read: the API stamps a token's last use.
VOLATILE_COLUMNS = {("api_tokens", "last_used_at")}


def db_checksum() -> str:
    """A digest of every row of every table (row counts, values, updated_at included)."""
    db.session.commit()  # see other connections' commits
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
        rows = db.session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
        digest.update(f"{table.name}:{len(rows)}:".encode())
        for row in rows:
            digest.update(repr(tuple(row)).encode())
    db.session.commit()
    return digest.hexdigest()


def table_counts() -> dict[str, int]:
    db.session.commit()
    counts = {table.name: db.session.scalar(select(db.func.count()).select_from(table)) for table in db.metadata.sorted_tables}
    db.session.commit()
    return counts


@dataclass
class Tenant:
    """One workspace and one record of every workspace-scoped kind, keyed by the URL argument that names it."""
    workspace: object
    owner: object
    ids: dict = field(default_factory=dict)


def populate(ws) -> Tenant:
    owner = owner_of(ws)
    tenant = Tenant(ws, owner)
    workflow = factories.make_workflow(ws.id, actions=[log_step()], name=f"Flow of {ws.name}")
    hook_workflow = factories.make_workflow(ws.id, trigger="webhook_received", name=f"Hook of {ws.name}")
    incoming_webhook_service.sync_endpoint(hook_workflow)
    execution = new_execution(workflow, sample_payload("deal_created"))
    execution.status = "failed"
    execution.error = "boom"
    db.session.add(execution)
    running = new_execution(workflow, sample_payload("deal_created"))
    running.status = "paused"
    db.session.add(running)
    template = template_service.publish_workflow(workflow, {"name": f"Template of {ws.name}", "category": "Sales"}, owner)
    token, _secret = api_token_service.create_token(ws, owner, "tenant token")
    document = document_service.create_document(ws.id, "Doc", "text")
    [notification] = notification_service.notify(ws.id, [owner.id], "Hello")
    db.session.commit()
    deal = factories.deal(ws)
    contact = factories.contact(ws)
    project = factories.project(ws)
    task = factories.task(ws, project)
    ticket = factories.ticket(ws)
    invoice = factories.invoice(ws, sent=True)
    factories.pay(ws, invoice, 100)
    quotation_row = _quotation(ws)
    application = factories.application(ws)
    member = factories.make_user(ws, "member")
    membership = next(m for m in member.memberships if m.workspace_id == ws.id)
    invitation = workspace_service.invite_member(ws, f"invited-{membership.id}@example.test", "member", owner)
    failed_email = OutboxEmail(workspace_id=ws.id, to="bounce@example.test", subject=f"Mail of {ws.name}", body="b",
                               backend="smtp", status="failed", error="SMTPRecipientsRefused", attempts=5)
    db.session.add(failed_email)
    db.session.commit()
    tenant.ids = {
        "workflow_id": workflow.id, "hook_workflow_id": hook_workflow.id, "execution_id": execution.id,
        "paused_execution_id": running.id, "template_id": template.id, "template_ref": template.slug,
        "token_id": token.id, "document_id": document.id, "notification_id": notification.id,
        "deal_id": deal.id, "contact_id": contact.id, "project_id": project.id, "task_id": task.id,
        "ticket_id": ticket.id, "invoice_id": invoice.id, "quotation_id": quotation_row.id,
        "application_id": application.id, "membership_id": membership.id, "invitation_id": invitation.id,
        "email_id": failed_email.id,
    }
    return tenant


def _quotation(ws):
    from services import invoice_service

    quotation = invoice_service.create_quotation(
        ws.id, {"customer_name": "Acme", "customer_email": "q@acme.example", "amount": "500"}, None)
    db.session.commit()
    return quotation


@pytest.fixture
def app(make_app):
    """The suite's `app`, but runs wait for an explicit run/sweep (ENGINE_HANDOFF=sweep): no in-process runner
    thread or rq worker (CI's PostgreSQL run) changes the database between two checksums."""
    app = make_app(ENGINE_HANDOFF="sweep")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def two_tenants(app, workspace):
    """(a, b): two populated workspaces."""
    return populate(workspace("Tenant A")), populate(workspace("Tenant B"))


def workflows_named(name):
    return db.session.scalars(select(Workflow).where(Workflow.name == name)).all()

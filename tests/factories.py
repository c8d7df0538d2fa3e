"""Factories for workspaces, users, business records, workflows and executor steps: tests read as their scenario."""
from itertools import count

from sqlalchemy import select

from engine.core.runs import NewRun
from engine.executors import StepContext, executor_for
from models import Role, User, Workflow, WorkflowExecution, Workspace, db
from services import (application_service, contact_service, deal_service, invoice_service, payment_service,
                      project_service, task_service, ticket_service, workflow_service, workspace_service)
from tests.support.engine import log_step

PASSWORD = "test-pass-2718"
_sequence = count(1)
_executions = count(900_000)


def make_workspace(name: str | None = None, owner_email: str | None = None) -> Workspace:
    """A new workspace (committed) in the current app context, with an owner who has PASSWORD."""
    n = next(_sequence)
    ws, _owner = workspace_service.create_workspace(
        name or f"Workspace {n}", owner_email or f"owner{n}@example.test", PASSWORD, f"Owner {n}"
    )
    db.session.commit()
    return ws


def make_user(ws: Workspace, role: str = "member", email: str | None = None) -> User:
    """A new member of `ws` (committed) with PASSWORD."""
    n = next(_sequence)
    role = Role(role).value
    created = workspace_service.add_user(ws, email or f"{role}{n}@example.test", PASSWORD, role, f"{role.title()} {n}")
    db.session.commit()
    return created


def make_workflow(workspace_id: int, trigger: str = "deal_created", actions: list | None = None,
                  conditions: list | None = None, status: str = "active", error_strategy: str = "continue",
                  name: str = "Test workflow", trigger_config: dict | None = None,
                  conditions_match: str = "all") -> Workflow:
    """A workflow (committed) created through workflow_service; by default active, with one log_event step."""
    workflow = workflow_service.create_workflow(workspace_id, {
        "name": name,
        "trigger": {"type": trigger, "config": trigger_config or {}},
        "conditions": conditions or [],
        "conditions_match": conditions_match,
        "actions": actions or [log_step()],
        "error_strategy": error_strategy,
        "status": status,
    })
    db.session.commit()
    return workflow


def executions_of(workflow: Workflow) -> list[WorkflowExecution]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(WorkflowExecution).where(WorkflowExecution.workflow_id == workflow.id).order_by(WorkflowExecution.id)))


def only_payload(workflow: Workflow) -> dict:
    executions = executions_of(workflow)
    assert len(executions) == 1, f"expected one execution of {workflow.trigger_type}, got {len(executions)}"
    return executions[0].trigger_payload


def contact(ws, actor=None, **fields):
    n = next(_sequence)
    data = {"name": f"Contact {n}", "email": f"contact{n}@example.test", "company": f"Company {n}", **fields}
    created = contact_service.create_contact(ws.id, data, actor)
    db.session.commit()
    return created


def deal(ws, actor=None, **fields):
    data = {"title": f"Deal {next(_sequence)}", "value": "1000", "currency": "USD", **fields}
    created = deal_service.create_deal(ws.id, data, actor)
    db.session.commit()
    return created


def project(ws, actor=None, **fields):
    created = project_service.create_project(ws.id, {"name": f"Project {next(_sequence)}", **fields}, actor)
    db.session.commit()
    return created


def task(ws, project_row=None, actor=None, **fields):
    project_row = project_row or project(ws, actor)
    created = task_service.create_task(ws.id, project_row.id, {"title": f"Task {next(_sequence)}", **fields}, actor)
    db.session.commit()
    return created


def sprint(ws, project_row, actor=None, **fields):
    created = project_service.start_sprint(ws.id, project_row.id, {"name": f"Sprint {next(_sequence)}", **fields}, actor)
    db.session.commit()
    return created


def ticket(ws, actor=None, **fields):
    data = {"subject": f"Ticket {next(_sequence)}", "requester_email": "customer@example.test", **fields}
    created = ticket_service.create_ticket(ws.id, data, actor)
    db.session.commit()
    return created


def invoice(ws, actor=None, sent=False, **fields):
    data = {"customer_name": "Acme Corp", "customer_email": "billing@acme.example", "amount": "1000", **fields}
    created = invoice_service.create_invoice(ws.id, data, actor)
    if sent:
        invoice_service.send_invoice(ws.id, created.id, actor)
    db.session.commit()
    return created


def pay(ws, invoice_row, amount, actor=None):
    payment = payment_service.record_payment(ws.id, invoice_row.id, {"amount": str(amount)}, actor)
    db.session.commit()
    return payment


def application(ws, actor=None, **fields):
    n = next(_sequence)
    data = {"name": f"Candidate {n}", "email": f"candidate{n}@example.test", "position": "Engineer", **fields}
    created = application_service.create_candidate_with_application(ws.id, data, actor)
    db.session.commit()
    return created


def step(ws, action_type: str, config: dict, payload: dict | None = None, step_index: int = 0,
         execution_id: int | None = None) -> StepContext:
    return StepContext(workspace_id=ws.id, execution_id=execution_id or next(_executions), workflow_id=None,
                       step_index=step_index, action_type=action_type, config=config, payload=payload or {})


def run(step_context: StepContext) -> dict:
    """Run an executor like the runner does: its effects are committed after it returns."""
    output = executor_for(step_context.action_type)(step_context)
    db.session.commit()
    return output


def new_execution(workflow, payload: dict, depth: int = 0, source: str = "event"):
    """A pending execution of `workflow`, built like start_runs builds one, not yet added nor handed over."""
    return WorkflowExecution(**NewRun.of(workflow, payload, source, depth).row())

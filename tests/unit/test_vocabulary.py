"""models/vocabulary.py: the CHECK constraints generated from the enums list exactly their values, in the
models and in the migrated database (migrations spell their values themselves), and the database refuses
a value outside the enum."""
import re

import pytest
from sqlalchemy import CheckConstraint, inspect, update
from sqlalchemy.exc import IntegrityError

from models import Invitation, Membership, db
from models.vocabulary import (ApplicationStage, ConditionsMatch, DealStage, DealStatus, EmailStatus, ErrorStrategy, InvoiceStatus,
                               ProjectStatus, QuotationStatus, Role, RunMode, RunStatus, SprintStatus, TaskStatus,
                               TicketPriority, TicketStatus, WorkflowStatus, check_in, choices, labels, one_of,
                               parse_bool, values)
from tests import factories
from tests.conftest import owner_of

# Every column that holds a word of the vocabulary, and its enum: each has a generated CHECK constraint.
CHECKED_COLUMNS = {
    ("workflows", "status"): WorkflowStatus,
    ("workflows", "error_strategy"): ErrorStrategy,
    ("workflows", "conditions_match"): ConditionsMatch,
    ("workflow_executions", "status"): RunStatus,
    ("workflow_executions", "mode"): RunMode,
    ("memberships", "role"): Role,
    ("invitations", "role"): Role,
    ("deals", "stage"): DealStage,
    ("deals", "status"): DealStatus,
    ("tickets", "priority"): TicketPriority,
    ("tickets", "status"): TicketStatus,
    ("projects", "status"): ProjectStatus,
    ("tasks", "status"): TaskStatus,
    ("sprint_cycles", "status"): SprintStatus,
    ("invoices", "status"): InvoiceStatus,
    ("quotations", "status"): QuotationStatus,
    ("applications", "stage"): ApplicationStage,
    ("outbox_emails", "status"): EmailStatus,
}
QUOTED = re.compile(r"'([^']*)'")


def vocabulary_checks() -> dict[tuple[str, str], CheckConstraint]:
    return {(table.name, constraint.info["column"]): constraint
            for table in db.metadata.sorted_tables for constraint in table.constraints
            if isinstance(constraint, CheckConstraint) and "vocabulary" in constraint.info}


def test_every_vocabulary_column_has_a_check_generated_from_its_enum():
    checks = vocabulary_checks()
    assert {key: check.info["vocabulary"] for key, check in checks.items()} == CHECKED_COLUMNS
    for (table, column), check in checks.items():
        sql = str(check.sqltext)
        assert sql.startswith(f"{column} IN (") and column in db.metadata.tables[table].c
        assert tuple(QUOTED.findall(sql)) == values(CHECKED_COLUMNS[table, column])
        assert check.name == f"ck_{table}_{column}_known"


def test_the_migrated_database_checks_exactly_the_enum_values(app):
    """Migrations are frozen history: changing an enum without a migration fails here."""
    inspector = inspect(db.engine)
    for (table, column), vocabulary in CHECKED_COLUMNS.items():
        reflected = {check["name"]: check["sqltext"] for check in inspector.get_check_constraints(table)}
        name = f"ck_{table}_{column}_known"
        assert name in reflected, f"{table} has no {name} in the database"
        assert tuple(QUOTED.findall(reflected[name])) == values(vocabulary), name


def _row(ws, table: str):
    """A row of `table` in the workspace, made the way the product makes it."""
    if table == "memberships":
        return db.session.get(Membership, ws.memberships[0].id)
    if table == "invitations":
        from services import workspace_service
        invitation = workspace_service.invite_member(ws, "invitee@example.test", Role.MEMBER, owner_of(ws))
        db.session.commit()
        return db.session.get(Invitation, invitation.id)
    if table == "sprint_cycles":
        return factories.sprint(ws, factories.project(ws))
    return {"deals": factories.deal, "tickets": factories.ticket, "projects": factories.project,
            "tasks": factories.task}[table](ws)


@pytest.mark.parametrize("table, column", [
    ("tickets", "status"), ("tickets", "priority"), ("deals", "status"), ("memberships", "role"),
    ("invitations", "role"), ("projects", "status"), ("tasks", "status"), ("sprint_cycles", "status"),
])
def test_the_database_refuses_a_word_outside_the_enum(workspace, table, column):
    row = _row(workspace(), table)
    model = db.metadata.tables[table]
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.execute(update(model).where(model.c.id == row.id).values({column: "not-a-word"}))
    db.session.rollback()
    db.session.execute(update(model).where(model.c.id == row.id).values({column: values(CHECKED_COLUMNS[table, column])[-1]}))
    db.session.commit()  # every word of the enum is accepted


def test_a_member_is_its_stored_value():
    assert TicketStatus.RESOLVED == "resolved" and f"{TicketStatus.RESOLVED}" == "resolved"
    assert "resolved" in {TicketStatus.RESOLVED} and {"resolved": 1}[TicketStatus.RESOLVED] == 1
    assert RunStatus("paused") is RunStatus.PAUSED and not RunStatus.PAUSED.is_terminal and RunStatus.FAILED.is_terminal
    assert Role.OWNER.rank > Role.ADMIN.rank > Role.MEMBER.rank and Role.ADMIN.plural == "Admins"


def test_helpers():
    assert choices(TaskStatus) == [("todo", "To do"), ("in_progress", "In progress"), ("done", "Done")]
    assert labels(DealStage)["closed_won"] == "Closed Won"
    assert one_of(TicketPriority) == "low, normal, high or urgent"
    assert [parse_bool(word) for word in (" Yes", "on", "1", "FALSE", "off", "0", "", "maybe")] == [
        True, True, True, False, False, False, None, None]
    assert str(check_in("stage", DealStage, name="stage_known").sqltext) == (
        "stage IN ('lead', 'qualified', 'proposal', 'negotiation', 'closed_won', 'closed_lost')")

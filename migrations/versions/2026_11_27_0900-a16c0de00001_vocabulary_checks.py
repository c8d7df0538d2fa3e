"""CHECK constraints for the vocabulary columns that had none: roles, deal status, project, task and sprint statuses

Revision ID: a16c0de00001
Revises: f6a1c0de0001
Create Date: 2026-11-27 09:00:00

The models generate these from models/vocabulary.py; this migration spells the values itself (it is
history: a later change of an enum needs a new migration, and tests/unit/test_vocabulary.py fails
until there is one).

SQLite cannot add a constraint to a table, so batch mode copies each table into a new one. Dropping
the old table would run its foreign keys' ON DELETE actions (deleting a project's tasks, unlinking a
deal's invoices), so foreign keys are off while the tables are copied, as Alembic's batch mode asks.
"""
from contextlib import contextmanager

from alembic import op


# revision identifiers, used by Alembic.
revision = 'a16c0de00001'
down_revision = 'f6a1c0de0001'
branch_labels = None
depends_on = None

ROLES = ("owner", "admin", "member")
CHECKS = (  # (table, column, values); each constraint is named ck_<table>_<column>_known
    ("memberships", "role", ROLES),
    ("invitations", "role", ROLES),
    ("deals", "status", ("open", "won", "lost")),
    ("projects", "status", ("active", "completed", "archived")),
    ("tasks", "status", ("todo", "in_progress", "done")),
    ("sprint_cycles", "status", ("active", "closed")),
)


@contextmanager
def foreign_keys_off():
    """SQLite only: PRAGMA foreign_keys=OFF around the table copies, then ON again and one check.

    The pragma does nothing inside a transaction, and pysqlite opens one at the copies' first INSERT:
    so it must come before this migration writes anything (checked), and the copies are committed
    before the keys go back on (else the pooled connection would keep them off).
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    sqlite = bind.connection.dbapi_connection
    if sqlite.in_transaction:
        raise RuntimeError("SQLite is inside a transaction: PRAGMA foreign_keys=OFF would do nothing")
    sqlite.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        sqlite.commit()
    finally:
        if sqlite.in_transaction:  # the copies failed
            sqlite.rollback()
        sqlite.execute("PRAGMA foreign_keys=ON")
    problems = sqlite.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the table copies: {problems[:5]}")


def upgrade():
    with foreign_keys_off():
        for table, column, values in CHECKS:
            listed = ", ".join(f"'{value}'" for value in values)
            with op.batch_alter_table(table) as batch:
                batch.create_check_constraint(op.f(f"ck_{table}_{column}_known"), f"{column} IN ({listed})")


def downgrade():
    with foreign_keys_off():
        for table, column, _values in reversed(CHECKS):
            with op.batch_alter_table(table) as batch:
                batch.drop_constraint(op.f(f"ck_{table}_{column}_known"), type_="check")

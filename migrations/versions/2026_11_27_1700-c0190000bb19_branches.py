"""Definition v2 (issue #19): workflows.conditions_match, the dispatch functions that snapshot it, branch templates

Revision ID: c0190000bb19
Revises: c018a0000018
Create Date: 2026-11-27 17:00:00

`conditions_match` ("all" or "any") says how a workflow's conditions hold; it is part of the definition
snapshot, so engine.core.postgresql_runs's functions are installed again from the code's column lists.
SQLite adds the column with its CHECK inline (no table copy); PostgreSQL adds the constraint after it.
Two system templates with a branch come from seeds/branch_templates.json.
"""
import sqlalchemy as sa
from alembic import op

from engine.core import postgresql_runs
from seeds.templates_loader import BRANCH_TEMPLATES_FILE, load_system_templates, read_system_templates

# revision identifiers, used by Alembic.
revision = 'c0190000bb19'
down_revision = 'c018a0000018'
branch_labels = None
depends_on = None

CHECK = "conditions_match IN ('all', 'any')"


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("ALTER TABLE workflows ADD COLUMN conditions_match VARCHAR(8) DEFAULT 'all' NOT NULL "
                   f"CONSTRAINT ck_workflows_conditions_match_known CHECK ({CHECK})")
    else:
        op.add_column("workflows", sa.Column("conditions_match", sa.String(8), nullable=False, server_default="all"))
        op.create_check_constraint(op.f("ck_workflows_conditions_match_known"), "workflows", CHECK)
    if bind.dialect.name == "postgresql":
        for statement in postgresql_runs.function_statements():
            op.execute(statement)
    load_system_templates(bind, BRANCH_TEMPLATES_FILE)


def downgrade():
    bind = op.get_bind()
    slugs = [template["slug"] for template in read_system_templates(BRANCH_TEMPLATES_FILE)]
    templates = sa.table("workflow_templates", sa.column("slug"), sa.column("workspace_id"))
    op.execute(templates.delete().where(templates.c.slug.in_(slugs), templates.c.workspace_id.is_(None)))
    if bind.dialect.name == "postgresql":
        for signature in (postgresql_runs.DISPATCH_SIGNATURE, postgresql_runs.INSERT_RUNS_SIGNATURE):
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    with op.batch_alter_table("workflows") as batch:
        if bind.dialect.name != "sqlite":
            batch.drop_constraint(op.f("ck_workflows_conditions_match_known"), type_="check")
        batch.drop_column("conditions_match")

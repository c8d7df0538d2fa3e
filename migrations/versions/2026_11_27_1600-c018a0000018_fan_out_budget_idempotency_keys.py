"""chain budget columns on workflow_executions, API idempotency keys, unverified webhook counters, webhook replay keys (issue #18)

Revision ID: c018a0000018
Revises: c0170000aa17
Create Date: 2026-11-27 16:00:00

A run caused by another run's action records the root of its chain (chain_root_id), and the root
counts the runs its chain caused (chain_runs): the fan-out budget. The PostgreSQL dispatch functions
insert chain_root_id and take the budget's limit, so they are installed again from the code.
"""
from alembic import op
import sqlalchemy as sa

from engine.core import postgresql_runs

# revision identifiers, used by Alembic.
revision = 'c018a0000018'
down_revision = 'c0170000aa17'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table('workflow_executions') as batch:
        batch.add_column(sa.Column('chain_root_id', BigId, nullable=True))
        batch.add_column(sa.Column('chain_runs', sa.Integer(), server_default='0', nullable=False))
        batch.create_index('ix_workflow_executions_chain_root', ['chain_root_id'], unique=False)
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.add_column(sa.Column('unverified_count', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('last_unverified_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.add_column(sa.Column('replay_key', sa.String(length=100), nullable=True))
        batch.create_unique_constraint('uq_webhook_deliveries_endpoint_replay', ['endpoint_id', 'replay_key'])
    op.create_table(
        'api_idempotency_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('response_body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'key', name='uq_api_idempotency_keys_workspace_id'),
    )
    op.create_index('ix_api_idempotency_keys_created', 'api_idempotency_keys', ['created_at'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in postgresql_runs.function_statements():
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for signature in (postgresql_runs.DISPATCH_SIGNATURE, postgresql_runs.INSERT_RUNS_SIGNATURE):
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")  # the portable path runs until upgraded again
    op.drop_index('ix_api_idempotency_keys_created', table_name='api_idempotency_keys')
    op.drop_table('api_idempotency_keys')
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_constraint('uq_webhook_deliveries_endpoint_replay', type_='unique')
        batch.drop_column('replay_key')
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.drop_column('last_unverified_at')
        batch.drop_column('unverified_count')
    with op.batch_alter_table('workflow_executions') as batch:
        batch.drop_index('ix_workflow_executions_chain_root')
        batch.drop_column('chain_runs')
        batch.drop_column('chain_root_id')

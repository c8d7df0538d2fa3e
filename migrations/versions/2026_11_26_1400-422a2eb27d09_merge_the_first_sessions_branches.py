"""one head for every branch of the first session

Revision ID: 422a2eb27d09
Revises: c7a1c0de0001, caa1c0de0001, c8a1c0de0001, d6a1c0de0001, e11a1c0de0001
Create Date: 2026-11-25 18:23:39.768667

"""
from alembic import op
import sqlalchemy as sa

import models.types
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))


# revision identifiers, used by Alembic.
revision = '422a2eb27d09'
down_revision = ('c7a1c0de0001', 'caa1c0de0001', 'c8a1c0de0001', 'd6a1c0de0001', 'e11a1c0de0001')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

"""the bytes a project's quota has used, kept up to date by pushes (NULL: recalculate)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 08:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL everywhere: the first push into each project recalculates its usage
    with op.batch_alter_table('quotas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_storage', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('quotas', schema=None) as batch_op:
        batch_op.drop_column('used_storage')

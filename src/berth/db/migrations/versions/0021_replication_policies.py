"""replication policies (Harbor's /replication/policies), push-based: a registry endpoint as destination

Revision ID: 0021
Revises: 0020
Create Date: 2027-01-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('replication_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('dest_registry_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replication_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_replication_policies_name')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_replication_policies_dest_registry_id'), 'replication_policies', ['dest_registry_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_replication_policies_dest_registry_id'), table_name='replication_policies')
    op.drop_table('replication_policies')

"""registry endpoints (Harbor's /registries): where replication and proxy-cache projects connect

Revision ID: 0020
Revises: 0019
Create Date: 2027-01-20 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=False),
    sa.Column('credential_type', sa.String(length=16), nullable=False),
    sa.Column('access_key', sa.Text(), nullable=False),
    sa.Column('access_secret', sa.Text(), nullable=False),
    sa.Column('insecure', sa.Boolean(), nullable=False),
    sa.Column('ca_certificate', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registries')),
    sa.UniqueConstraint('name', name=op.f('uq_registries_name')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('registries')

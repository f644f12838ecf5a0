"""the scanner's vulnerability database: OSV records by generation, and which generation is live

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vuln_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('ecosystem_prefix', sa.String(length=64), nullable=False),
    sa.Column('ecosystem', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('record_id', sa.String(length=255), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vuln_records'))
    )
    op.create_index('ix_vuln_records_lookup', 'vuln_records', ['generation', 'ecosystem_prefix', 'name'], unique=False)
    op.create_table('vuln_db_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('next_generation', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('max_modified', sa.String(length=64), nullable=True),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vuln_db_state'))
    )


def downgrade() -> None:
    op.drop_table('vuln_db_state')
    op.drop_index('ix_vuln_records_lookup', table_name='vuln_records')
    op.drop_table('vuln_records')

"""scan snapshots: each artifact's last successful vulnerability counts per day (the security trend)

Revision ID: 0022
Revises: 0021
Create Date: 2027-02-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scan_snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('digest', sa.String(length=140), nullable=False),
    sa.Column('registration_uuid', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('critical_cnt', sa.Integer(), nullable=False),
    sa.Column('high_cnt', sa.Integer(), nullable=False),
    sa.Column('medium_cnt', sa.Integer(), nullable=False),
    sa.Column('low_cnt', sa.Integer(), nullable=False),
    sa.Column('negligible_cnt', sa.Integer(), nullable=False),
    sa.Column('unknown_cnt', sa.Integer(), nullable=False),
    sa.Column('fixable_cnt', sa.Integer(), nullable=False),
    sa.Column('total_cnt', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registration_uuid'], ['scanner_registrations.uuid'],
                            name=op.f('fk_scan_snapshots_registration_uuid_scanner_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scan_snapshots')),
    sa.UniqueConstraint('day', 'digest', 'registration_uuid', name=op.f('uq_scan_snapshots_day_digest_registration_uuid')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_scan_snapshots_digest'), 'scan_snapshots', ['digest'])
    op.create_index('ix_scan_snapshots_registration_uuid_day', 'scan_snapshots', ['registration_uuid', 'day'])


def downgrade() -> None:
    op.drop_index('ix_scan_snapshots_registration_uuid_day', table_name='scan_snapshots')
    op.drop_index(op.f('ix_scan_snapshots_digest'), table_name='scan_snapshots')
    op.drop_table('scan_snapshots')

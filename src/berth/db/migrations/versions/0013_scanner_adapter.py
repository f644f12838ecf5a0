"""the scanner adapter's scan requests and rendered reports

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02 18:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scanner_scans',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('registry_url', sa.String(length=2048), nullable=False),
    sa.Column('repository', sa.String(length=255), nullable=False),
    sa.Column('digest', sa.String(length=140), nullable=False),
    sa.Column('tag', sa.String(length=255), nullable=True),
    sa.Column('mime_type', sa.String(length=255), nullable=True),
    sa.Column('produces', sa.Text(), nullable=False),
    sa.Column('had_authorization', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scanner_scans'))
    )
    op.create_index(op.f('ix_scanner_scans_state'), 'scanner_scans', ['state'], unique=False)
    op.create_index(op.f('ix_scanner_scans_updated_at'), 'scanner_scans', ['updated_at'], unique=False)
    op.create_table('scanner_reports',
    sa.Column('scan_id', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=255), nullable=False),
    sa.Column('sbom_media_type', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['scanner_scans.id'], name=op.f('fk_scanner_reports_scan_id_scanner_scans'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scan_id', 'media_type', 'sbom_media_type', name=op.f('pk_scanner_reports'))
    )


def downgrade() -> None:
    op.drop_table('scanner_reports')
    op.drop_index(op.f('ix_scanner_scans_updated_at'), table_name='scanner_scans')
    op.drop_index(op.f('ix_scanner_scans_state'), table_name='scanner_scans')
    op.drop_table('scanner_scans')

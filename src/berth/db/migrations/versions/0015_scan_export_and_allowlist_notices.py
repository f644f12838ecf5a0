"""scan data export columns (a finding's CWE ids and vendor attributes) and CVE allowlist expiry notices

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 19:00:00.000000

Findings stored before this revision have empty CWE ids and vendor attributes: Harbor's export
shows them empty too when a scanner gave none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scan_vulnerabilities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cwe_ids', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('vendor_attributes', sa.Text(), nullable=False, server_default=''))

    op.create_table('cve_allowlist_notices',
    sa.Column('scope', sa.Integer(), nullable=False),
    sa.Column('cve_id', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'cve_id', 'expires_at', name=op.f('pk_cve_allowlist_notices'))
    )


def downgrade() -> None:
    op.drop_table('cve_allowlist_notices')
    with op.batch_alter_table('scan_vulnerabilities', schema=None) as batch_op:
        batch_op.drop_column('vendor_attributes')
        batch_op.drop_column('cwe_ids')

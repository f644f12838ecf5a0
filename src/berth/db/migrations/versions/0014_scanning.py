"""scanning: scanner registrations, project scanners, scan reports and their findings

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-02 18:29:58.193085

Also makes the system CVE allowlist (Harbor's project_id 0): the one row of cve_allowlists without a
project, which GET/PUT /system/CVEAllowlist read and update in place.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scanner_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=False),
    sa.Column('auth', sa.String(length=64), nullable=False),
    sa.Column('access_credential', sa.Text(), nullable=False),
    sa.Column('skip_cert_verify', sa.Boolean(), nullable=False),
    sa.Column('use_internal_addr', sa.Boolean(), nullable=False),
    sa.Column('immutable', sa.Boolean(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scanner_registrations')),
    sa.UniqueConstraint('name', name=op.f('uq_scanner_registrations_name')),
    sa.UniqueConstraint('url', name=op.f('uq_scanner_registrations_url')),
    sa.UniqueConstraint('uuid', name=op.f('uq_scanner_registrations_uuid'))
    )
    op.create_table('scan_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=140), nullable=False),
    sa.Column('registration_uuid', sa.String(length=64), nullable=False),
    sa.Column('mime_type', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('critical_cnt', sa.Integer(), nullable=False),
    sa.Column('high_cnt', sa.Integer(), nullable=False),
    sa.Column('medium_cnt', sa.Integer(), nullable=False),
    sa.Column('low_cnt', sa.Integer(), nullable=False),
    sa.Column('negligible_cnt', sa.Integer(), nullable=False),
    sa.Column('unknown_cnt', sa.Integer(), nullable=False),
    sa.Column('fixable_cnt', sa.Integer(), nullable=False),
    sa.Column('total_cnt', sa.Integer(), nullable=False),
    sa.Column('scanner_name', sa.String(length=255), nullable=False),
    sa.Column('scanner_vendor', sa.String(length=255), nullable=False),
    sa.Column('scanner_version', sa.String(length=255), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report', sa.Text(), nullable=True),
    sa.Column('job_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registration_uuid'], ['scanner_registrations.uuid'], name=op.f('fk_scan_reports_registration_uuid_scanner_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scan_reports')),
    sa.UniqueConstraint('digest', 'registration_uuid', 'mime_type', name=op.f('uq_scan_reports_digest_registration_uuid_mime_type')),
    sa.UniqueConstraint('uuid', name=op.f('uq_scan_reports_uuid'))
    )
    with op.batch_alter_table('scan_reports', schema=None) as batch_op:
        batch_op.create_index('ix_scan_reports_registration_uuid_mime_type_status', ['registration_uuid', 'mime_type', 'status'], unique=False)

    op.create_table('project_scanners',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('registration_uuid', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_scanners_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_uuid'], ['scanner_registrations.uuid'], name=op.f('fk_project_scanners_registration_uuid_scanner_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_project_scanners'))
    )
    with op.batch_alter_table('project_scanners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_scanners_registration_uuid'), ['registration_uuid'], unique=False)

    op.create_table('scan_vulnerabilities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('cve_id', sa.String(length=128), nullable=False),
    sa.Column('package', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('fixed_version', sa.String(length=255), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('severity_code', sa.Integer(), nullable=False),
    sa.Column('cvss_v3_score', sa.Float(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('links', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['scan_reports.id'], name=op.f('fk_scan_vulnerabilities_report_id_scan_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scan_vulnerabilities'))
    )
    with op.batch_alter_table('scan_vulnerabilities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scan_vulnerabilities_cve_id'), ['cve_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scan_vulnerabilities_package'), ['package'], unique=False)
        batch_op.create_index(batch_op.f('ix_scan_vulnerabilities_report_id'), ['report_id'], unique=False)
        batch_op.create_index('ix_scan_vulnerabilities_severity_code_cvss_v3_score', ['severity_code', 'cvss_v3_score'], unique=False)

    now = datetime.now(UTC)
    op.execute(_ALLOWLISTS.insert().values(project_id=None, items="[]", created_at=now, updated_at=now))


_ALLOWLISTS = sa.table(
    "cve_allowlists", sa.column("project_id", sa.Integer()), sa.column("items", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)), sa.column("updated_at", sa.DateTime(timezone=True)),
)


def downgrade() -> None:
    op.execute(_ALLOWLISTS.delete().where(_ALLOWLISTS.c.project_id.is_(None)))
    with op.batch_alter_table('scan_vulnerabilities', schema=None) as batch_op:
        batch_op.drop_index('ix_scan_vulnerabilities_severity_code_cvss_v3_score')
        batch_op.drop_index(batch_op.f('ix_scan_vulnerabilities_report_id'))
        batch_op.drop_index(batch_op.f('ix_scan_vulnerabilities_package'))
        batch_op.drop_index(batch_op.f('ix_scan_vulnerabilities_cve_id'))

    op.drop_table('scan_vulnerabilities')
    with op.batch_alter_table('project_scanners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_scanners_registration_uuid'))

    op.drop_table('project_scanners')
    with op.batch_alter_table('scan_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_scan_reports_registration_uuid_mime_type_status')

    op.drop_table('scan_reports')
    op.drop_table('scanner_registrations')

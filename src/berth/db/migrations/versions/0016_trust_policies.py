"""trust policies per project and signature verdicts

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:00:00.000000

Verdicts are keyed by (image digest, signature digest, policy version): a policy change leaves the
old ones behind, and pulls compute the new ones as they need them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trust_policies',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('policy', sa.Text(), nullable=False),
    sa.Column('version', sa.String(length=80), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_trust_policies_project_id_projects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_trust_policies'))
    )
    op.create_table('signature_verdicts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('image_digest', sa.String(length=140), nullable=False),
    sa.Column('signature_digest', sa.String(length=140), nullable=False),
    sa.Column('policy_version', sa.String(length=80), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('signer', sa.Text(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attestation', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_verdicts')),
    sa.UniqueConstraint('image_digest', 'signature_digest', 'policy_version',
                        name=op.f('uq_signature_verdicts_image_digest_signature_digest_policy_version'))
    )


def downgrade() -> None:
    op.drop_table('signature_verdicts')
    op.drop_table('trust_policies')

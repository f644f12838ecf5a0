"""the referrers index also orders by digest, so the referrers API pages by keyset

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:40:00.000000
"""

from __future__ import annotations

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('manifests', schema=None) as batch_op:
        batch_op.create_index(
            'ix_manifests_repository_id_subject_digest_digest', ['repository_id', 'subject_digest', 'digest'],
            unique=False,
        )
        batch_op.drop_index('ix_manifests_repository_id_subject_digest')


def downgrade() -> None:
    with op.batch_alter_table('manifests', schema=None) as batch_op:
        batch_op.create_index(
            'ix_manifests_repository_id_subject_digest', ['repository_id', 'subject_digest'], unique=False
        )
        batch_op.drop_index('ix_manifests_repository_id_subject_digest_digest')

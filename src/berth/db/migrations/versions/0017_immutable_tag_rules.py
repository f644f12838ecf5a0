"""tag immutability rules per project

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10 10:00:00.000000

Harbor's immutable_tag_rule keeps the whole rule as one JSON text unique per project; berth keeps the
selectors as JSON columns and a fingerprint of them, unique per project.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('immutable_tag_rules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('tag_selectors', sa.Text(), nullable=False),
    sa.Column('scope_selectors', sa.Text(), nullable=False),
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('creation_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('update_time', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_immutable_tag_rules_project_id_projects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_immutable_tag_rules')),
    sa.UniqueConstraint('project_id', 'fingerprint', name=op.f('uq_immutable_tag_rules_project_id_fingerprint')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('immutable_tag_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_immutable_tag_rules_project_id'), ['project_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('immutable_tag_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_immutable_tag_rules_project_id'))
    op.drop_table('immutable_tag_rules')

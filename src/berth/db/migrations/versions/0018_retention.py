"""tag retention policies

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10 10:00:00.000000

One policy per project (Harbor's `retention_id` project metadata points at it); its executions,
tasks and logs are the job tables' (vendor type RETENTION, vendor id the policy).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('retention_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_retention_policies_project_id_projects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_policies')),
    sa.UniqueConstraint('project_id', name=op.f('uq_retention_policies_project_id')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('retention_policies')

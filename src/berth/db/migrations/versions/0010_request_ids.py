"""the request id behind a job and an audit row (X-Request-Id, or the one berth made), for the logs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('tasks', 'audit_logs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('request_id', sa.String(length=128), nullable=True))


def downgrade() -> None:
    for table in ('audit_logs', 'tasks'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('request_id')

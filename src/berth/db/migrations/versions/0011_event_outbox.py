"""the event outbox: change events written with the change, delivered from there

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:21:48.381047
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_outbox')),
    sqlite_autoincrement=True
    )
    # columns and indexes only (no constraint): SQLite adds them without copying a big audit table
    op.add_column('audit_logs', sa.Column('event_id', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_audit_logs_event_id'), 'audit_logs', ['event_id'], unique=True)
    op.add_column('executions', sa.Column('event_id', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_executions_event_id'), 'executions', ['event_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_executions_event_id'), table_name='executions')
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_column('event_id')
    op.drop_index(op.f('ix_audit_logs_event_id'), table_name='audit_logs')
    with op.batch_alter_table('audit_logs', schema=None) as batch_op:
        batch_op.drop_column('event_id')
    op.drop_table('event_outbox')

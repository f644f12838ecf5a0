"""online garbage collection: a blob being deleted carries the time the collector marked it

Revision ID: 0019
Revises: 0018
Create Date: 2027-01-10 10:00:00.000000

A marked blob is on its way out: no push may link it until the collector has removed its bytes and
its row (a push that meets one waits, then stores its own bytes anew).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('blobs') as batch:
        batch.add_column(sa.Column('gc_marked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('blobs') as batch:
        batch.drop_column('gc_marked_at')

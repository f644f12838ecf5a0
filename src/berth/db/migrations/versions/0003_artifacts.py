"""artifacts: Harbor's artifact type and media type on manifests, pull counts and times, descriptions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:24:33.399363
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from berth.artifact_types import artifact_media_types, artifact_type

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _backfill_types() -> None:
    """Give manifests pushed before this revision their Harbor type and media type."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, media_type, content FROM manifests")).all()
    for manifest_id, manifest_media_type, content in rows:
        try:
            doc = json.loads(bytes(content))
        except ValueError:
            continue
        media_type, kind = artifact_media_types(manifest_media_type, doc if isinstance(doc, dict) else {})
        conn.execute(
            sa.text("UPDATE manifests SET type = :t, config_media_type = :m WHERE id = :i"),
            {"t": artifact_type(media_type, kind), "m": media_type[:255], "i": manifest_id},
        )


def upgrade() -> None:
    with op.batch_alter_table('manifests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('type', sa.String(length=32), nullable=False, server_default='UNKNOWN'))
        batch_op.add_column(sa.Column('config_media_type', sa.String(length=255), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('pull_time', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('pull_count', sa.BigInteger(), nullable=False, server_default='0'))

    _backfill_types()


def downgrade() -> None:
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.drop_column('pull_count')
        batch_op.drop_column('description')

    with op.batch_alter_table('manifests', schema=None) as batch_op:
        batch_op.drop_column('pull_time')
        batch_op.drop_column('config_media_type')
        batch_op.drop_column('type')

"""The quota events pushes record (webhooks turn them into QUOTA_EXCEED / QUOTA_WARNING): observed
through the event outbox, over SQLite and PostgreSQL, with the registry's real services."""

from __future__ import annotations

import hashlib
import os

import pytest

from berth.config import Settings
from berth.db.session import run_migrations
from berth.events.outbox import OutboxDispatcher
from berth.events.types import QuotaExceeded, QuotaWarning
from berth.quotas import format_size, warning_message
from berth.references import parse_digest
from berth.services.quotas import QuotaExceededError
from berth.services.registry import Registry
from tests.conftest import _fresh_postgres_database

from .helpers import build_image


@pytest.fixture
def settings(database, database_urls, tmp_path) -> Settings:
    url = None
    if database == "postgresql":
        url = _fresh_postgres_database(database_urls["postgresql"], "berth_quota_events")
    settings = Settings(data_dir=tmp_path, database_url=url)
    run_migrations(settings.effective_database_url)
    return settings


async def chunks(data: bytes):
    yield data


def digest(data: bytes):
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


async def test_refusals_record_quota_exceeded_and_pushes_at_85_percent_record_quota_warning(settings):
    registry = Registry.open(settings)
    seen = []

    async def record(_conn, batch):
        seen.extend(item.event for item in batch if isinstance(item.event, QuotaExceeded | QuotaWarning))

    outbox = OutboxDispatcher(registry.db)
    outbox.subscribe("test", record)
    try:
        image = build_image(seed=401, layers=1)
        blobs = sum(len(blob) for blob in image.blobs)
        hard = blobs + len(image.manifest) - 1
        await registry.projects.create("events", None, storage_limit=hard)
        for blob in image.blobs:
            await registry.uploads.monolithic("events/app", digest(blob), chunks(blob), len(blob))
        with pytest.raises(QuotaExceededError) as refused:
            await registry.manifests.put("events/app", "v1", image.manifest, image.media_type)
        message = (f"adding {format_size(len(image.manifest))} of storage resource, which when updated to current "
                   f"usage of {format_size(blobs)} will exceed the configured upper limit of {format_size(hard)}.")
        assert refused.value.message == message
        await outbox.drain()
        # the blobs took usage to >= 85% of the limit: each of those pushes warned, as Harbor's do
        exceeded = seen[-1]
        assert isinstance(exceeded, QuotaExceeded)
        assert (exceeded.project, exceeded.repository, exceeded.digest, exceeded.message) == (
            "events", "events/app", image.digest, message)
        warnings = [event for event in seen if isinstance(event, QuotaWarning)]
        assert warnings and warnings[-1].message == warning_message(hard, blobs) and warnings[-1].digest == ""

        seen.clear()
        quota = next(q for q in (await registry.quotas.list(limit=100))[0] if q.project_name == "events")
        await registry.quotas.set_hard(quota.id, hard * 10)
        await registry.manifests.put("events/app", "v1", image.manifest, image.media_type)
        await outbox.drain()
        assert seen == []  # usage now far below 85%: no warning

        await registry.quotas.set_hard(quota.id, blobs + len(image.manifest))
        extra = os.urandom(10)
        with pytest.raises(QuotaExceededError):
            await registry.uploads.monolithic("events/app", digest(extra), chunks(extra), len(extra))
        # pushing what the project holds asks for nothing: neither refused nor warned
        await registry.uploads.monolithic("events/other", digest(image.blobs[0]), chunks(image.blobs[0]),
                                          len(image.blobs[0]))
        await outbox.drain()
        assert [type(event) for event in seen] == [QuotaExceeded]
        assert seen[0].digest == "" and seen[0].repository == "events/app"

        # a plain upload start asks for 0 bytes: at 100% of the limit it is allowed, and warns (as Harbor's)
        seen.clear()
        await registry.uploads.start("events/app")
        await outbox.drain()
        assert [event.message for event in seen] == [warning_message(blobs + len(image.manifest),
                                                                     blobs + len(image.manifest))]
    finally:
        await registry.close()

"""Fixtures for the storage driver conformance suite.

`driver` is parametrised over every driver: filesystem, obstore's in-memory
store, S3 on a moto server and Azure Blob on Azurite (servers from tests/object_stores.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from berth.storage import StorageDriver, make_driver
from berth.storage.objectstore import from_url
from tests.object_stores import (
    AZURE_ACCOUNT,
    AZURE_CONTAINER,
    AZURE_KEY,
    S3_BUCKET,
    S3_CREDENTIALS,
    Server,
)

DRIVERS = ["filesystem", "memory", "s3", "azure"]


def build_driver(kind: str, request: pytest.FixtureRequest, tmp_path: Path, **tuning: int) -> StorageDriver:
    """A fresh, empty driver of the given kind; object stores get a unique key prefix."""
    prefix = f"test-{uuid.uuid4().hex}"
    if kind == "filesystem":
        return make_driver("filesystem", {"root": tmp_path / "store"})
    if kind == "memory":
        return make_driver("objectstore", {"url": "memory://", "prefix": prefix, **tuning})
    if kind == "s3":
        server: Server = request.getfixturevalue("moto_server")
        options = {"endpoint": server.endpoint, "allow_http": True, **S3_CREDENTIALS, **tuning}
        return from_url(f"s3://{S3_BUCKET}", options, prefix=prefix)
    if kind == "azure":
        server = request.getfixturevalue("azurite_server")
        options = {
            "account_name": AZURE_ACCOUNT,
            "account_key": AZURE_KEY,
            "endpoint": f"{server.endpoint}/{AZURE_ACCOUNT}",
            "allow_http": True,
            **tuning,
        }
        return from_url(f"az://{AZURE_CONTAINER}", options, prefix=prefix)
    raise ValueError(kind)


@pytest.fixture(params=DRIVERS)
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    """Every driver in turn; restrict a test with @pytest.mark.parametrize("driver", [...], indirect=True)."""
    instance = build_driver(request.param, request, tmp_path)
    yield instance
    await instance.close()


@pytest.fixture
def s3_client(moto_server: Server):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint,
        aws_access_key_id=S3_CREDENTIALS["access_key_id"],
        aws_secret_access_key=S3_CREDENTIALS["secret_access_key"],
        region_name=S3_CREDENTIALS["region"],
    )

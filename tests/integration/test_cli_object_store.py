"""Short `berth` commands against an S3 object store exit cleanly, every time.

obstore hands results over from tokio threads; before `berth.cli.main.main` one of them could still
be waiting for the GIL when the interpreter finalized, and the process aborted (exit code 134) in
about one run in five.
"""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import BERTH
from tests.object_stores import S3_BUCKET, S3_CREDENTIALS

RUNS = 25


def test_migrate_against_s3_exits_zero_every_time(tmp_path, moto_server) -> None:
    options = {"url": f"s3://{S3_BUCKET}", "endpoint": moto_server.endpoint, "allow_http": True, **S3_CREDENTIALS}
    env = {**os.environ, "BERTH_STORAGE_DRIVER": "objectstore", "BERTH_STORAGE_OPTIONS": json.dumps(options)}
    results = [subprocess.run([BERTH, "migrate", "--data-dir", str(tmp_path / "data")], env=env,
                              capture_output=True, text=True, timeout=60) for _ in range(RUNS)]
    assert [r.returncode for r in results] == [0] * RUNS, [r.stderr[-500:] for r in results if r.returncode]
    assert all("blob storage (objectstore) answers" in r.stdout for r in results)


def test_migrate_names_an_unreachable_blob_store(tmp_path) -> None:
    from tests.conftest import free_port

    options = {"url": "s3://nowhere", "endpoint": f"http://127.0.0.1:{free_port()}", "allow_http": True,
               "access_key_id": "x", "secret_access_key": "y", "region": "us-east-1",
               "client_options": {"timeout": "2s", "connect_timeout": "1s"}}
    env = {**os.environ, "BERTH_STORAGE_DRIVER": "objectstore", "BERTH_STORAGE_OPTIONS": json.dumps(options)}
    result = subprocess.run([BERTH, "migrate", "--data-dir", str(tmp_path / "data")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "cannot reach the blob storage (objectstore)" in result.stderr

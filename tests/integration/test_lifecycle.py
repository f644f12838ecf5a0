"""The server process: start, configuration, clean shutdown with requests in flight."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.certs import write_self_signed
from tests.conftest import BERTH, start_berth


def test_sigterm_lets_an_inflight_upload_finish_then_exits_cleanly(tmp_path) -> None:
    server = start_berth(tmp_path / "data")
    try:
        with server.client() as client:
            location = client.post("/v2/library/slow/blobs/uploads/").headers["location"]
            data = os.urandom(4 * 1024 * 1024)
            started = threading.Event()

            def slow_body():
                for i in range(0, len(data), 256 * 1024):
                    if i == 256 * 1024:
                        started.set()
                    time.sleep(0.05)
                    yield data[i : i + 256 * 1024]

            result: dict[str, httpx.Response] = {}

            def patch() -> None:
                result["patch"] = client.patch(
                    location, content=slow_body(), headers={"Content-Type": "application/octet-stream"}
                )

            thread = threading.Thread(target=patch)
            thread.start()
            assert started.wait(10)
            server.process.send_signal(signal.SIGTERM)
            thread.join(30)
            assert result["patch"].status_code == 202, result["patch"].text
            assert result["patch"].headers["range"] == f"0-{len(data) - 1}"
        # uvicorn re-raises the signal once shut down, the convention for a clean SIGTERM exit
        assert server.process.wait(30) in (0, -signal.SIGTERM)
        assert "berth stopped" in server.log()
        assert "Traceback" not in server.log()
    finally:
        server.stop()
    # after a restart on the same data the upload is still there and can be closed
    again = start_berth(tmp_path / "data", port=server.port)
    try:
        with again.client() as client:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            done = client.put(location, params={"digest": digest})
            assert done.status_code == 201, done.text
            assert client.get(f"/v2/library/slow/blobs/{digest}").content == data
    finally:
        again.stop()


def test_settings_come_from_the_config_file_and_environment(tmp_path) -> None:
    config = tmp_path / "berth.yaml"
    config.write_text("log_level: warning\nstorage_redirect: true\ntag_cache_ttl: 2\n")
    env = {**os.environ, "BERTH_TAG_CACHE_TTL": "5", "BERTH_DATABASE_URL": "postgresql+asyncpg://u:hunter2@db/x"}
    out = subprocess.run([BERTH, "config", "--config", str(config)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "log_level: warning" in out.stdout
    assert "storage_redirect: true" in out.stdout
    assert "tag_cache_ttl: 5.0" in out.stdout  # the environment beats the file
    assert "hunter2" not in out.stdout and "u:***@db/x" in out.stdout


def test_bad_settings_get_a_one_line_error(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [1, 2]\n")
    for args in (["serve", "--config", str(bad)], ["serve", "--port", "99999"], ["config", "--config", str(tmp_path / "none.yaml")]):
        out = subprocess.run([BERTH, *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("berth:"), out.stderr


def test_help_explains_every_command() -> None:
    out = subprocess.run([BERTH, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("serve", "worker", "migrate", "config", "version"):
        assert command in out.stdout
    serve = subprocess.run([BERTH, "serve", "--help"], capture_output=True, text=True)
    for option in ("--host", "--port", "--data-dir", "--config", "--workers", "--no-jobs", "BERTH_",
                   "[default: 5000]"):
        assert option in serve.stdout


def _self_signed(tmp_path):
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert_path, key_path)
    return cert_path, key_path


def test_https_with_the_configured_certificate_and_public_url_in_locations(tmp_path) -> None:
    import ssl

    from tests.conftest import ADMIN_PASSWORD, free_port

    admin = ("admin", ADMIN_PASSWORD)
    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "BERTH_TLS_CERT": str(cert),
        "BERTH_TLS_KEY": str(key),
        "BERTH_PUBLIC_URL": "https://registry.example.test",
        "BERTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    with (tmp_path / "tls.log").open("wb") as log:
        process = subprocess.Popen(
            [BERTH, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")], env=env, stdout=log, stderr=log
        )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/v2/", verify=context, auth=admin)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "tls.log").read_text()
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"
        started = httpx.post(f"https://127.0.0.1:{port}/v2/library/x/blobs/uploads/", verify=context, auth=admin)
        assert started.status_code == 202
        assert started.headers["location"].startswith("https://registry.example.test/v2/library/x/blobs/uploads/")
        # a blob pulled over TLS goes through the SSL object (sendfile is for plain TCP only)
        blob = os.urandom(3 << 20)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        pushed = httpx.post(f"https://127.0.0.1:{port}/v2/library/x/blobs/uploads/", params={"digest": digest},
                            content=blob, verify=context, auth=admin)
        assert pushed.status_code == 201, pushed.text
        pulled = httpx.get(f"https://127.0.0.1:{port}/v2/library/x/blobs/{digest}", verify=context, auth=admin)
        assert pulled.status_code == 200 and pulled.content == blob
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
    finally:
        process.terminate()
        process.wait(30)


def test_abandoned_uploads_expire_and_leave_nothing_behind(tmp_path) -> None:
    env = {"BERTH_UPLOAD_EXPIRY_HOURS": str(1 / 3600)}  # one second
    server = start_berth(tmp_path / "data", env)
    try:
        with server.client() as client:
            location = client.post("/v2/library/gone/blobs/uploads/").headers["location"]
            assert client.patch(location, content=b"x" * 1000).status_code == 202
    finally:
        server.stop()
    uploads = tmp_path / "data" / "storage" / "uploads"
    assert any(p.is_file() for p in uploads.rglob("*"))
    time.sleep(1.5)
    server = start_berth(tmp_path / "data", env, port=server.port)  # the purge runs at start
    try:
        with server.client() as client:
            deadline = time.monotonic() + 10
            while client.get(location).status_code != 404:
                assert time.monotonic() < deadline, "the expired upload was not purged"
                time.sleep(0.1)
            assert client.get(location).json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        assert not any(p.is_file() for p in uploads.rglob("*"))
    finally:
        server.stop()

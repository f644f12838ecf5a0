"""Whole blobs leave berth's uvicorn server from a thread of their own: intact, and a client that
walks away mid-transfer costs the server nothing (the next pull on a new connection is served)."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import httpx

from .helpers import V2, sha256, unique

MIB = 1 << 20


def test_whole_blob_range_and_head_are_served_intact(fresh_berth) -> None:
    data = os.urandom(24 * MIB + 123)
    with V2(fresh_berth.url, auth=fresh_berth.auth) as v2:
        name = f"{v2.create_project(unique('send'))}/blob"
        digest = v2.push_blob(name, data)
        whole = v2.http.get(f"/v2/{name}/blobs/{digest}")
        assert whole.status_code == 200
        assert whole.headers["Content-Length"] == str(len(data))
        assert sha256(whole.content) == digest
        part = v2.http.get(f"/v2/{name}/blobs/{digest}", headers={"Range": f"bytes={5 * MIB}-{9 * MIB - 1}"})
        assert part.status_code == 206 and part.content == data[5 * MIB : 9 * MIB]
        head = v2.http.head(f"/v2/{name}/blobs/{digest}")
        assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data)) and not head.content
        # several whole pulls on one keep-alive connection, one after the other
        for _ in range(3):
            assert hashlib.sha256(v2.http.get(f"/v2/{name}/blobs/{digest}").content).hexdigest() == digest[7:]


def test_client_leaving_mid_transfer_leaves_the_server_serving(fresh_berth) -> None:
    data = os.urandom(64 * MIB)
    with V2(fresh_berth.url, auth=fresh_berth.auth) as v2:
        name = f"{v2.create_project(unique('send'))}/blob"
        digest = v2.push_blob(name, data)
        token = v2.http.get(
            "/service/token", params={"service": "harbor-registry", "scope": f"repository:{name}:pull"}
        ).json()["token"]
        for _ in range(4):
            with socket.create_connection(("127.0.0.1", fresh_berth.port)) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                raw.sendall(
                    f"GET /v2/{name}/blobs/{digest} HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n".encode()
                )
                received = 0
                while received < MIB:
                    received += len(raw.recv(65536))
            # closed with most of the 64 MiB unsent
        time.sleep(0.5)
        with httpx.Client(base_url=fresh_berth.url, auth=fresh_berth.auth, timeout=60) as fresh:
            assert sha256(fresh.get(f"/v2/{name}/blobs/{digest}").content) == digest
    log = fresh_berth.log_path.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log

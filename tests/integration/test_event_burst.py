"""1,000 pushes in a burst: every one gives an audit row and a webhook delivery, none lost, while the
server keeps answering. The figures are printed (pytest -s), never asserted as timings."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import _fresh_postgres_database

from .helpers import OCI_MANIFEST, V2, build_image, canonical_json
from .test_audit_log import wait_for

PUSHES = 1000


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_burst_of_pushes_gives_every_audit_row_and_webhook_delivery(database, database_urls, start_server) -> None:
    env = {"BERTH_JOB_POLL_SECONDS": "0.2", "BERTH_WORKERS": "8"}
    if database == "postgresql":
        if not database_urls["postgresql"]:
            pytest.skip("PostgreSQL not configured (run through make test)")
        env["BERTH_DATABASE_URL"] = _fresh_postgres_database(database_urls["postgresql"], "berth_burst")
    server = start_server(env=env)
    _Receiver.bodies = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        with server.client() as http:
            assert http.post("/api/v2.0/projects", json={"project_name": "burst"}).status_code == 201
            policy = http.post("/api/v2.0/projects/burst/webhook/policies", json={
                "name": "all-pushes", "enabled": True, "event_types": ["PUSH_ARTIFACT"],
                "targets": [{"type": "http", "address": f"http://127.0.0.1:{receiver.server_port}/hook"}],
            })
            assert policy.status_code == 201, policy.text
            policy_path = policy.headers["Location"]
        base = build_image(7, layers=1)
        with V2(server.url, auth=server.auth) as v2:
            for blob in base.blobs:
                v2.push_blob("burst/app", blob)
        manifests = []
        for i in range(PUSHES):
            doc = json.loads(base.manifest)
            doc["annotations"] = {"burst": str(i)}
            manifests.append(canonical_json(doc))

        probe_latencies: list[float] = []
        done = threading.Event()

        def probe() -> None:
            with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as client:
                while not done.is_set():
                    started = time.monotonic()
                    assert client.get("/v2/").status_code == 200
                    probe_latencies.append(time.monotonic() - started)
                    time.sleep(0.05)

        def push(i: int) -> float:
            started = time.monotonic()
            response = clients[i % len(clients)].put(
                f"/v2/burst/app/manifests/t{i}", content=manifests[i], headers={"Content-Type": OCI_MANIFEST})
            assert response.status_code == 201, response.text
            return time.monotonic() - started

        clients = [httpx.Client(base_url=server.url, auth=server.auth, timeout=60) for _ in range(8)]
        prober = threading.Thread(target=probe)
        prober.start()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            latencies = sorted(pool.map(push, range(PUSHES)))
        pushed_in = time.monotonic() - started
        for client in clients:
            client.close()

        deadline = time.monotonic() + 180
        while len({body["event_data"]["resources"][0]["tag"] for body in _Receiver.bodies}) < PUSHES:
            assert time.monotonic() < deadline, f"{len(_Receiver.bodies)} of {PUSHES} deliveries arrived"
            time.sleep(0.2)
        delivered_in = time.monotonic() - started
        done.set()
        prober.join()

        tags = [body["event_data"]["resources"][0]["tag"] for body in _Receiver.bodies]
        assert sorted(tags) == sorted(f"t{i}" for i in range(PUSHES)), "a delivery was lost or doubled"
        with server.client() as http:
            executions = http.get(f"{policy_path}/executions", params={"page_size": 1})
            assert executions.headers["X-Total-Count"] == str(PUSHES)
            audit = wait_for(lambda: http.get("/api/v2.0/projects/burst/auditlog-exts",
                                              params={"q": "operation=create,resource_type=artifact", "page_size": 1}),
                             lambda r: r.status_code != 200 or r.headers["X-Total-Count"] == str(PUSHES))
            assert audit.status_code == 200, audit.text
            assert audit.headers["X-Total-Count"] == str(PUSHES)
        print(f"\n{database}: {PUSHES} manifest pushes by 8 clients in {pushed_in:.1f} s "
              f"(p50 {latencies[PUSHES // 2] * 1000:.0f} ms, p99 {latencies[PUSHES * 99 // 100] * 1000:.0f} ms); "
              f"all {PUSHES} webhooks delivered {delivered_in:.1f} s after the first push; "
              f"GET /v2/ during the burst: max {max(probe_latencies) * 1000:.0f} ms over {len(probe_latencies)} probes")
    finally:
        receiver.shutdown()

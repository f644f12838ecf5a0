#!/usr/bin/env python3
"""Benchmark berth against the CNCF distribution registry (Debian's docker-registry), side by side.

    .venv/bin/python bench/run.py [--quick] [--server uvicorn|granian] [--only ROWSPEC] [--out FILE]

Both servers are started fresh (data dirs in one temp folder, each on a free 127.0.0.1 port),
every figure is measured against berth and then the peer with the same parameters, and a markdown
table (figure | berth | peer | berth/peer) goes to stdout; progress goes to stderr.

Load generators, all external so that the client is not the bottleneck:
  * blob push: POST (open an upload session) then `curl -T FILE -X PUT LOCATION?digest=...`,
    the same two-step monolithic upload for both servers (the peer does not accept a single-POST
    upload); single client and 8 clients pushing 8 different blobs at once (aggregate MB/s).
  * chunked push (group `chunked`): POST, PATCHes of 8 MiB with Content-Range on one keep-alive
    connection (http.client, as docker and containerd push), then PUT ?digest= with no body.
  * S3 (group `s3`): a moto server with one bucket for each, berth's objectstore driver and the
    peer's s3 driver (regionendpoint) on it; one monolithic and one chunked push (--s3-size).
  * blob pull: `curl -o /dev/null`, single and 8 concurrent.
  * manifest HEAD/GET by tag, a small (4 KiB) blob GET: `hey -z DURATION -c 32`.
  * tags list of a 10,000-tag repository: the tags are pushed with httpx (8 connections),
    then `hey -c 8` on /tags/list without n (the peer ignores n/last).
  * peak RSS of each server's process tree, sampled every 100 ms over the whole run.

Fairness: blob files are random data pre-generated on disk; before every blob figure the page
cache is flushed (sync) and the files it reads (the source files for a push, the server's stored
copy for a pull) are read once so they are warm.

ROWSPEC for --only: comma-separated groups among push, pull, chunked, s3, manifest, small, tags,
artifacts, metrics, scan, sign, gc, replication, proxy, ui (peak RSS and server CPU time are always reported). `metrics` starts a second berth with
BERTH_METRIC_ENABLED=true and measures manifest GET by tag on both (what counting every request
costs), plus one /metrics scrape, in a second table: berth | berth+metrics. Pull without push still pushes the blobs
first, unmeasured.

`scan` (issue 12's targets, in a table of its own): bench/scan_corpus.py makes, from a seed, a ~300 MB
OCI layout (three gzip -1 layers: Debian 12 with a 500-package dpkg status, 100 PyPI dist-info and
100 npm package.json, padding files) and 50,000 schema-valid OSV records (Debian:12, PyPI, npm
all.zip exports; one in ten names a package of the image). It times `berth vulndb import` of them into
the running berth's database, then `berth scan oci:… --format json` three times (median), sampling the
scanning process's RSS every 50 ms. Last, it pushes the image with skopeo into enough repositories to keep
scan-all busy, takes manifest GET by tag idle, starts scan-all and takes it again: the ratio of the two.

`sign` (the signing issue's targets, berth only, in a table of its own): `berth sign generate-key-pair`
makes a cosign key pair; project `benchsign` gets an enforcing trust policy with its public key; the
same small image goes into bench/signed (no policy) and benchsign/signed, the latter signed with
`berth sign` (cosign's tag scheme). After a check that an unsigned image there is refused (412) and
a warm-up, hey takes manifest GET by tag on both, alternating which goes first, at least two rounds
(--repeat N: N), each on an idle server: the median of the rounds' ratios enforcing/no-policy. Then
`berth.sign.verify.verify` of one tag-scheme signature in-process (5,000 calls: median, p99), and ten
signatures pushed by the bench: from sending the signature's manifest PUT to its verdict showing in
GET /api/v2.0/…/artifacts/{digest}?with_accessory=true (polled every 2 ms): median, max.

`gc` (issue 14's targets, berth only, in a table of its own): bench/gc_seed.py writes 100,000 blobs
(--gc-blobs) into berth's database and storage folder the way pushes and deletes leave them (files at
their blob paths, rows, images with tags and links; half the blobs unreferenced, a day old, half of
those still linked), then `berth gc` runs as its own process while hey takes manifest GET by tag (of a
pushed image) idle and during the run: the ratio (a note says whether the run was still going when
the loaded figure ended). The run's duration and the GC process's peak RSS (sampled every 50 ms) are
taken; the same is done with a tenth of the blobs, to show that memory does not grow with the count.
Afterwards the blob files left are counted against the referenced blobs.

`replication` (issue 15's target, in a table of its own): every copy goes to a fresh berth process (its
own data folder and SQLite: no copy finds blobs an earlier one stored there); 50 images (benchrepl/img-00 … img-49:v1) of 5 distinct random layers each (200 MB in all;
gzip with stored blocks, so incompressible and seen as compressed) are pushed into the first through
/v2. Then, in the same run, a push policy (endpoint of type harbor, manual trigger, flattened into the
destination's project rpN) runs once: MB/s from the execution's start_time to its end_time; and
`skopeo sync --src yaml --dest docker --preserve-digests` copies the same 50 tags from the same source
into another fresh berth's project skN: MB/s of its wall time. The ratio is the figure (>= 1.0), with the source
berth's peak RSS during its run and the CPU seconds of both berth processes during each copy. Both
copies are checked on the destination afterwards. --repeat N: N rounds alternating which goes first;
the median round's ratio counts.
`proxy` (issue 15's targets, in a table of its own): an image of four random layers (64 MiB each; quick:
16 MiB) pushed to the peer and to an ordinary berth project; berth gets the peer as a registry endpoint
and one proxy-cache project per round (three rounds at least, --repeat N: N). Each round pulls the image
(manifest by tag, then every blob at once with curl, as a runtime does) cold through its proxy project and
from the peer directly, then again through the proxy (now cached) and from the ordinary project: the
medians of the rounds' ratios cold/direct and cached/local.

On a small machine the numbers are noisy (the client shares the CPUs with the servers):
--repeat N alternates the servers N times on every pull and hey figure and keeps the median,
--pin puts both servers on CPU 0 and the clients on the other CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import random
import re
import statistics
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
BERTH_BIN = REPO_ROOT / ".venv" / "bin" / "berth"
PEER_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"

MiB = 1 << 20
GiB = 1 << 30
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
GROUPS = ("push", "pull", "chunked", "s3", "manifest", "small", "tags", "artifacts", "metrics", "scan", "sign",
          "gc", "replication", "proxy", "ui")
CONCURRENCY = 8  # concurrent blob clients
CHUNK = 8 * MiB  # PATCH size of the chunked-push rows
HEY_CONNECTIONS = 32
TAG_CONNECTIONS = 8
# --pin: the servers on the first CPU (taskset), this script and so its clients on the others
SERVER_CPUS: set[int] = set()
CLIENT_CPUS: set[int] = set()
#: Authorization header per server base URL: berth is measured as kubelets and CI use it, with a
#: registry bearer token from /service/token; the peer runs without authentication
AUTH: dict[str, str] = {}
BENCH_REPOSITORIES = ("bench/blobs", "bench/tags", "bench/image", "bench/artifacts", "bench/scanned", "bench/signed",
                      "benchsign/signed", "bench/gc-live", "bench/proxy-local")
#: Basic credentials per server for /api/v2.0 (the Harbor API takes no registry tokens)
API_AUTH: dict[str, str] = {}
REPEAT = 1  # --repeat: rounds of the pull and hey figures (servers alternate; the median counts)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- child processes

_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    proc = subprocess.Popen(args, **kwargs)
    with _children_lock:
        _children.add(proc)
    return proc


def run_child(args: list[str], timeout: float | None = None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a client command (curl, hey), tracked so that cleanup can end it; (rc, stdout, stderr).
    `env`: variables set for it on top of this process's."""
    proc = spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                 env={**os.environ, **env} if env else None)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return -1, out, f"timed out after {timeout}s; {err}"
    finally:
        with _children_lock:
            _children.discard(proc)
    return proc.returncode, out, err


def end_children() -> None:
    with _children_lock:
        procs = list(_children)
        _children.clear()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- servers

class StartFailed(Exception):
    pass


class Server:
    def __init__(self, name: str, args: list[str], data_dir: Path, port: int, log_path: Path,
                 env: dict[str, str | None] | None = None) -> None:  # None: remove the variable
        self.name = name
        self.env = env
        self.args = args
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.peak_rss = 0
        self._log_file = None

    def start(self, timeout: float = 60.0) -> None:
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - open while the server runs
        # A session of its own: Ctrl-C in the terminal reaches the harness, which stops it in order.
        pin = ["taskset", "-c", ",".join(map(str, sorted(SERVER_CPUS)))] if SERVER_CPUS else []
        self.proc = subprocess.Popen(
            pin + self.args, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.data_dir.parent,
            env={k: v for k, v in {**os.environ, **(self.env or {})}.items() if v is not None},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartFailed(f"{self.name} exited with status {self.proc.returncode} while starting")
            try:
                status, _, _ = request(self.base, "GET", "/v2/", timeout=2)
                if status in (200, 401):  # 401: berth asks for credentials
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise StartFailed(f"{self.name} did not answer GET /v2/ within {timeout:.0f}s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _tree_sum(self, measure) -> float:  # type: ignore[no-untyped-def]
        """measure(process) summed over the server and its children; processes gone count 0."""
        if self.proc is None:
            return 0
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += measure(p)
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        return int(self._tree_sum(lambda p: p.memory_info().rss))

    def cpu_seconds(self) -> float:
        return float(self._tree_sum(lambda p: sum(p.cpu_times()[:2])))


def peer_config(root: Path, port: int) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {root}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )


class RssSampler(threading.Thread):
    def __init__(self, servers: list[Server], interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.servers = servers
        self.interval = interval
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for server in self.servers:
                server.peak_rss = max(server.peak_rss, server.rss())
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(2)


def log_in_to_berth(server: Server, password: str) -> None:
    """Create the bench projects (`bench`, and `benchsign` for the signing group) and take one bearer
    token for every bench repository."""
    basic = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    for project in dict.fromkeys(r.partition("/")[0] for r in BENCH_REPOSITORIES):
        status, _, body = request(server.base, "POST", "/api/v2.0/projects",
                                  json.dumps({"project_name": project}).encode(),
                                  {"Authorization": basic, "Content-Type": "application/json"})
        if status not in (201, 409):
            raise RuntimeError(f"creating the {project} project failed: {status} {body[:200]!r}")
    query = urllib.parse.urlencode([("service", "harbor-registry"),
                                    *(("scope", f"repository:{r}:pull,push") for r in BENCH_REPOSITORIES)])
    status, _, body = request(server.base, "GET", f"/service/token?{query}", headers={"Authorization": basic})
    if status != 200:
        raise RuntimeError(f"getting a token failed: {status} {body[:200]!r}")
    AUTH[server.base] = "Bearer " + json.loads(body)["token"]
    API_AUTH[server.base] = basic


# ---------------------------------------------------------------- HTTP helpers (small requests)

def request(base: str, method: str, path_or_url: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    url = urllib.parse.urljoin(base, path_or_url)
    parts = urllib.parse.urlsplit(url)
    headers = dict(headers or {})
    credentials = API_AUTH if parts.path.startswith("/api/") else AUTH
    if base in credentials:
        headers.setdefault("Authorization", credentials[base])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


class RequestFailed(Exception):
    def __init__(self, what: str, status: int, body: bytes = b"") -> None:
        self.status = status
        snippet = body[:200].decode("utf-8", "replace").strip()
        super().__init__(f"{what}: HTTP {status}" + (f" {snippet}" if snippet else ""))
        self.short = f"error: {status}" if status else "error: connection"


def open_upload(server: Server, repo: str) -> str:
    """POST an upload session; the absolute Location URL."""
    try:
        status, headers, body = request(server.base, "POST", f"/v2/{repo}/blobs/uploads/")
    except OSError as exc:
        raise RequestFailed(f"POST upload ({exc})", 0) from None
    if status != 202 or "location" not in headers:
        raise RequestFailed("POST /blobs/uploads/", status, body)
    return urllib.parse.urljoin(server.base, headers["location"])


def with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + urllib.parse.quote(digest, safe=":")


def push_small_blob(server: Server, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = open_upload(server, repo)
    status, _, body = request(server.base, "PUT", with_digest(location, digest), data,
                              {"Content-Type": "application/octet-stream"})
    if status != 201:
        raise RequestFailed(f"PUT blob {digest[:19]}", status, body)
    return digest


# ---------------------------------------------------------------- blob files

@dataclass
class BlobFile:
    path: Path
    size: int
    digest: str


def _generate(path: str, size: int, seed: int) -> str:
    rng = random.Random(seed)
    hasher = hashlib.sha256()
    chunk = 8 * MiB
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            data = rng.randbytes(n)
            hasher.update(data)
            f.write(data)
            left -= n
    return "sha256:" + hasher.hexdigest()


def generate_blobs(folder: Path, sizes: list[int], extra: int = 0, monolithic: bool = True) -> dict[int, list[BlobFile]]:
    """For each size: CONCURRENCY + 1 different random files (one for the single client, one per concurrent
    client; none without `monolithic`), then `extra` more (the chunked push)."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for size in sizes:
        for i in range(0 if monolithic else CONCURRENCY + 1, CONCURRENCY + 1 + extra):
            jobs.append((folder / f"blob-{size // MiB}m-{i}", size, size * 31 + i))
    total = sum(j[1] for j in jobs)
    log(f"generating {len(jobs)} random blob files ({total / GiB:.2f} GiB) in {folder}")
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(_generate, [str(j[0]) for j in jobs], [j[1] for j in jobs], [j[2] for j in jobs]))
    result: dict[int, list[BlobFile]] = {}
    for (path, size, _), digest in zip(jobs, digests):
        result.setdefault(size, []).append(BlobFile(path, size, digest))
    log(f"generated in {time.monotonic() - started:.1f}s; flushing to disk")
    os.sync()
    return result


_warm_buffer = bytearray(8 * MiB)


def warm(paths: list[Path]) -> None:
    view = memoryview(_warm_buffer)
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(view):
                pass


def stored_copies(server: Server, blobs: list[BlobFile]) -> list[Path]:
    """The server's files holding these blobs (both layouts have the hex digest in the folder name)."""
    wanted = {b.digest.split(":", 1)[1] for b in blobs}
    found = []
    for dirpath, _, filenames in os.walk(server.data_dir):
        if os.path.basename(dirpath) in wanted:
            for name in filenames:
                path = Path(dirpath, name)
                if path.stat().st_size >= min(b.size for b in blobs):
                    found.append(path)
    return found


def prepare_measurement(files: list[Path]) -> None:
    os.sync()
    warm(files)


# ---------------------------------------------------------------- results

@dataclass
class Row:
    figure: str
    unit: str
    higher_is_better: bool
    values: dict[str, float | str] = field(default_factory=dict)


class Results:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def row(self, figure: str, unit: str, higher_is_better: bool = True) -> Row:
        row = Row(figure, unit, higher_is_better)
        self.rows.append(row)
        return row

    def failure(self, server: str, what: str, detail: str) -> str:
        self.notes.append(f"{server}: {what}: {detail}")
        log(f"FAILED {server}: {what}: {detail}")
        return detail


def fmt(value: float | str | None, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def ratio(a: float | str | None, b: float | str | None) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
        return f"{a / b:.2f}"
    return "—"


def render_table(results: Results, names: tuple[str, str]) -> str:
    lines = [
        f"| figure | {names[0]} | {names[1]} | ratio {names[0]}/{names[1]} |",
        "|---|---:|---:|---:|",
    ]
    for row in results.rows:
        arrow = "↑" if row.higher_is_better else "↓"
        a, b = row.values.get(names[0]), row.values.get(names[1])
        lines.append(f"| {row.figure} ({row.unit}) {arrow} | {fmt(a, row.unit)} | {fmt(b, row.unit)} | {ratio(a, b)} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- blob push / pull

def size_label(size: int) -> str:
    return f"{size // GiB} GiB" if size % GiB == 0 else f"{size // MiB} MiB"


def _auth_args(base: str) -> list[str]:
    return ["-H", f"Authorization: {AUTH[base]}"] if base in AUTH else []


def curl_put(server: Server, location: str, blob: BlobFile) -> None:
    url = with_digest(location, blob.digest)
    rc, out, err = run_child([
        "curl", "-sS", "-X", "PUT", "-T", str(blob.path), *_auth_args(server.base),
        "-H", "Content-Type: application/octet-stream", "-H", "Expect:",
        "-o", "/dev/stderr", "-w", "%{http_code}", "--max-time", "900", url,
    ], timeout=960)
    code = int(out.strip() or 0) if out.strip().isdigit() else 0
    if rc != 0 or code != 201:
        raise RequestFailed(f"PUT {size_label(blob.size)} blob (curl rc {rc}; {err.strip()[:200]})", code)


def push_one(server: Server, repo: str, blob: BlobFile) -> None:
    curl_put(server, open_upload(server, repo), blob)


def push_chunked(server: Server, repo: str, blob: BlobFile, chunk: int = CHUNK) -> None:
    """POST, then PATCH `chunk` bytes at a time (Content-Range), then PUT ?digest= without a body;
    one keep-alive connection, as docker and containerd push a blob in chunks."""
    parts = urllib.parse.urlsplit(server.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=900)
    auth = {"Authorization": AUTH[server.base]} if server.base in AUTH else {}

    def call(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, str]:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(server.base, url))
        conn.request(method, target.path + (f"?{target.query}" if target.query else ""), body=body,
                     headers={**auth, **(headers or {}), "Content-Length": str(len(body))})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status not in (201, 202):
            raise RequestFailed(f"{method} chunked {size_label(blob.size)}", resp.status, data)
        return resp.status, resp.getheader("Location") or url

    try:
        _, location = call("POST", f"/v2/{repo}/blobs/uploads/")
        with open(blob.path, "rb", buffering=0) as f:
            offset = 0
            while data := f.read(chunk):
                _, location = call("PATCH", location, data, {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(data) - 1}"})
                offset += len(data)
        call("PUT", with_digest(location, blob.digest))
    except OSError as exc:
        raise RequestFailed(f"chunked push ({exc})", 0) from None
    finally:
        conn.close()


def curl_get(server: Server, repo: str, blob: BlobFile) -> None:
    url = f"{server.base}/v2/{repo}/blobs/{blob.digest}"
    rc, out, err = run_child(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                              *_auth_args(server.base), "--max-time", "900", url], timeout=960)
    parts = out.split()
    code = int(parts[0]) if parts and parts[0].isdigit() else 0
    got = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
    if rc != 0 or code != 200:
        raise RequestFailed(f"GET {size_label(blob.size)} blob (curl rc {rc}; {err.strip()[:200]})", code)
    if got != blob.size:
        raise RequestFailed(f"GET {size_label(blob.size)} blob: got {got} bytes, expected {blob.size}", 200)


def run_clients(fn, args_list: list[tuple]) -> tuple[float, list[Exception]]:
    """Run fn(*args) for each args at once (threads released together); (wall seconds, errors)."""
    errors: list[Exception] = []
    barrier = threading.Barrier(len(args_list) + 1)
    lock = threading.Lock()

    def worker(args: tuple) -> None:
        barrier.wait()
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(a,), daemon=True) for a in args_list]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started, errors


def short_error(exc: Exception) -> str:
    return exc.short if isinstance(exc, RequestFailed) else f"error: {type(exc).__name__}"


def blob_figures(servers: list[Server], results: Results, blobs: dict[int, list[BlobFile]],
                 measure_push: bool, measure_pull: bool, measure_chunked: bool = False) -> None:
    repo = "bench/blobs"
    pushed: dict[str, set[str]] = {s.name: set() for s in servers}

    def push_figure(size: int, files: list[BlobFile], label: str, push=push_one,  # noqa: ANN001
                    measured: bool = measure_push) -> None:
        row = results.row(label, "MB/s") if measured else None
        for server in servers:
            log(f"{server.name}: {label}")
            prepare_measurement([f.path for f in files])
            elapsed, errors = run_clients(push, [(server, repo, f) for f in files])
            if errors:
                results.failure(server.name, label, str(errors[0]))
                value: float | str = short_error(errors[0])
            else:
                value = len(files) * size / elapsed / 1e6
                pushed[server.name].update(f.digest for f in files)
                log(f"{server.name}: {value:,.0f} MB/s ({elapsed:.2f}s)")
            if row is not None:
                row.values[server.name] = value

    def pull_figure(size: int, files: list[BlobFile], label: str) -> None:
        row = results.row(label, "MB/s")
        speeds: dict[str, list[float]] = {}
        for server in servers:
            if any(f.digest not in pushed[server.name] for f in files):
                row.values[server.name] = "error: push failed"
            else:
                speeds[server.name] = []
        for round_no in range(REPEAT):
            for server in servers:
                if server.name not in speeds:
                    continue
                suffix = f", round {round_no + 1}/{REPEAT}" if REPEAT > 1 else ""
                log(f"{server.name}: {label}{suffix}")
                copies = stored_copies(server, files)
                if len(copies) < len(files):
                    log(f"{server.name}: found {len(copies)}/{len(files)} stored copies to warm")
                prepare_measurement(copies)
                elapsed, errors = run_clients(curl_get, [(server, repo, f) for f in files])
                if errors:
                    results.failure(server.name, label, str(errors[0]))
                    row.values[server.name] = short_error(errors[0])
                    del speeds[server.name]
                    continue
                speed = len(files) * size / elapsed / 1e6
                speeds[server.name].append(speed)
                log(f"{server.name}: {speed:,.0f} MB/s ({elapsed:.2f}s)")
        for name, measured in speeds.items():
            row.values[name] = sorted(measured)[(len(measured) - 1) // 2]

    for size, files in blobs.items():
        single, group = files[:1], files[1 : CONCURRENCY + 1]
        if measure_push or measure_pull:
            push_figure(size, single, f"blob push {size_label(size)}, 1 client")
            push_figure(size, group, f"blob push {size_label(size)}, {len(group)} clients")
        if measure_chunked:
            # a blob the monolithic rows did not push, so the content-addressed store has to store it
            push_figure(size, files[-1:],
                        f"blob push {size_label(size)} in {CHUNK // MiB} MiB chunks, 1 client", push_chunked, True)
    if measure_pull:
        for size, files in blobs.items():
            single, group = files[:1], files[1 : CONCURRENCY + 1]
            pull_figure(size, single, f"blob pull {size_label(size)}, 1 client")
            pull_figure(size, group, f"blob pull {size_label(size)}, {len(group)} clients")


# ---------------------------------------------------------------- blobs on S3 (moto)

def peer_s3_config(endpoint: str, bucket: str, port: int) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  s3:\n    accesskey: testing\n    secretkey: testing\n    region: us-east-1\n"
        f"    regionendpoint: {endpoint}\n    bucket: {bucket}\n    secure: false\n    v4auth: true\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )


def s3_figures(results: Results, workdir: Path, size: int, admin_password: str, server_kind: str) -> None:
    """Monolithic and chunked pushes of one blob each to berth and the peer, both on S3 in one moto server."""
    import boto3  # a test dependency, like moto

    moto_port = free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    moto_log = open(workdir / "moto.log", "wb")  # noqa: SIM115 - open while moto runs
    moto = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                 stdout=moto_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    servers: list[Server] = []
    sampler: RssSampler | None = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request(endpoint, "GET", "/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or moto.poll() is not None:
                    raise StartFailed("moto did not start") from None
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
        for bucket in ("bench-berth", "bench-peer"):
            s3.create_bucket(Bucket=bucket)
        berth_port, peer_port = free_port(), free_port()
        berth_data, peer_data = workdir / "berth-s3-data", workdir / "peer-s3-data"
        berth_data.mkdir()
        peer_data.mkdir()
        config_path = workdir / "peer-s3-config.yml"
        config_path.write_text(peer_s3_config(endpoint, "bench-peer", peer_port))
        options = {"url": "s3://bench-berth", "endpoint": endpoint, "allow_http": True, "region": "us-east-1",
                   "access_key_id": "testing", "secret_access_key": "testing"}
        berth_env = {"BERTH_ADMIN_PASSWORD": admin_password, "BERTH_STORAGE_DRIVER": "objectstore",
                     "BERTH_STORAGE_OPTIONS": json.dumps(options),
                     "BERTH_CONFIGURATIONS": json.dumps({"token_expiration": 24 * 60})}
        servers = [
            Server("berth", [str(BERTH_BIN), "serve", "--host", "127.0.0.1", "--port", str(berth_port),
                             "--data-dir", str(berth_data), "--server", server_kind],
                   berth_data, berth_port, workdir / "berth-s3.log", berth_env),
            # the Go AWS SDK cannot use a CA bundle with the peer's own HTTP transport (and needs none for moto)
            Server("peer", [PEER_BIN, "serve", str(config_path)], peer_data, peer_port, workdir / "peer-s3.log",
                   {"AWS_CA_BUNDLE": None}),
        ]
        for server in servers:
            log(f"starting {server.name} on S3 (moto) on {server.base}")
            server.start()
        log_in_to_berth(servers[0], admin_password)
        sampler = RssSampler(servers)
        sampler.start()
        files = []
        for i in range(2):
            path = workdir / f"s3-blob-{i}"
            files.append(BlobFile(path, size, _generate(str(path), size, size * 37 + i)))
        chunked_label = f"S3 (moto): blob push {size_label(size)} in {CHUNK // MiB} MiB chunks, 1 client"
        for label, push, blob in ((f"S3 (moto): blob push {size_label(size)}, 1 client", push_one, files[0]),
                                  (chunked_label, push_chunked, files[1])):
            row = results.row(label, "MB/s")
            for server in servers:
                log(f"{server.name}: {label}")
                prepare_measurement([blob.path])
                elapsed, errors = run_clients(push, [(server, "bench/blobs", blob)])
                if errors:
                    row.values[server.name] = short_error(errors[0])
                    results.failure(server.name, label, str(errors[0]))
                else:
                    row.values[server.name] = size / elapsed / 1e6
                    log(f"{server.name}: {size / elapsed / 1e6:,.0f} MB/s ({elapsed:.2f}s)")
        sampler.stop()
        rss = results.row("S3 (moto): peak RSS of these rows", "MiB", higher_is_better=False)
        for server in servers:
            rss.values[server.name] = server.peak_rss / MiB
    finally:
        if sampler is not None:
            sampler.stop()
        for server in servers:
            server.stop()
        moto.terminate()
        try:
            moto.wait(10)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()
        with _children_lock:
            _children.discard(moto)
        moto_log.close()


# ---------------------------------------------------------------- hey

@dataclass
class HeyResult:
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    codes: dict[int, int]
    errors: int
    error_text: str


def parse_hey(text: str) -> HeyResult:
    rps_match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rps = float(rps_match.group(1)) if rps_match else 0.0

    def pct(p: int) -> float | None:
        m = re.search(rf"\b{p}% in ([\d.]+) secs", text)
        return float(m.group(1)) * 1000 if m else None

    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", text)}
    errors = 0
    error_text = ""
    if "Error distribution:" in text:
        section = text.split("Error distribution:", 1)[1]
        for count, message in re.findall(r"\[(\d+)\]\s+(.+)", section):
            errors += int(count)
            error_text = error_text or message.strip()[:160]
    return HeyResult(rps, pct(50), pct(99), codes, errors, error_text)


def run_hey(url: str, duration: float, connections: int, method: str = "GET",
            accept: str | None = None) -> HeyResult:
    args = ["hey", "-z", f"{duration:g}s", "-c", str(connections), "-m", method, "-t", "20"]
    if accept:
        args += ["-H", f"Accept: {accept}"]
    credentials = API_AUTH if "/api/v2.0/" in url else AUTH
    base = next((b for b in credentials if url.startswith(b + "/")), None)
    if base is not None:
        args += ["-H", f"Authorization: {credentials[base]}"]
    rc, out, err = run_child(args + [url], timeout=duration + 120)
    if rc != 0:
        raise RuntimeError(f"hey failed (rc {rc}): {err.strip()[:300]}")
    return parse_hey(out)


def hey_figures(results: Results, servers: list[Server], label: str, url_path: str, duration: float,
                connections: int, method: str, accept: str | None, expect: int,
                broken: dict[str, str], latency: tuple[str, ...] = ("p50", "p99")) -> None:
    """req/s and latency rows; with --repeat N the servers alternate N times and the median run (by req/s) counts."""
    rps_row = results.row(f"{label} @{connections}", "req/s")
    lat_rows = {p: results.row(f"{label} @{connections} {p}", "ms", higher_is_better=False) for p in latency}

    def fill(name: str, value: str) -> None:
        for row in (rps_row, *lat_rows.values()):
            row.values[name] = value

    runnable = []
    for server in servers:
        if server.name in broken:
            fill(server.name, broken[server.name])
            continue
        # One request first, so a failure shows its body and status in the notes.
        try:
            headers = {"Accept": accept} if accept else {}
            status, _, body = request(server.base, method, url_path, headers=headers)
        except OSError as exc:
            status, body = 0, str(exc).encode()
        if status != expect:
            err = RequestFailed(f"{method} {url_path}", status, body)
            results.failure(server.name, label, str(err))
            fill(server.name, err.short)
            continue
        runnable.append(server)

    runs: dict[str, list[HeyResult]] = {s.name: [] for s in runnable}
    failed: set[str] = set()
    for round_no in range(REPEAT):
        for server in runnable:
            name = server.name
            if name in failed:
                continue
            suffix = f", round {round_no + 1}/{REPEAT}" if REPEAT > 1 else ""
            log(f"{name}: {label} @{connections} for {duration:g}s (after a 1 s warm-up){suffix}")
            run_hey(server.base + url_path, 1, connections, method, accept)
            res = run_hey(server.base + url_path, duration, connections, method, accept)
            total = sum(res.codes.values()) + res.errors
            bad = {c: n for c, n in res.codes.items() if c != expect}
            if bad or res.errors:
                what = ", ".join(f"{n}×{c}" for c, n in sorted(bad.items()))
                if res.errors:
                    what = (what + ", " if what else "") + f"{res.errors}× {res.error_text}"
                results.failure(name, label, f"{what} of {total} requests")
                if sum(bad.values()) + res.errors > 0.01 * max(total, 1):
                    first = f"error: {min(bad)}" if bad else "error: connection"
                    fill(name, f"{first} ({sum(bad.values()) + res.errors}/{total})")
                    failed.add(name)
                    continue
            runs[name].append(res)
            log(f"{name}: {res.rps:,.0f} req/s, p50 {res.p50_ms or 0:.2f} ms, p99 {res.p99_ms or 0:.2f} ms")
    for name, measured in runs.items():
        if name in failed or not measured:
            continue
        res = sorted(measured, key=lambda r: r.rps)[(len(measured) - 1) // 2]
        rps_row.values[name] = res.rps
        if "p50" in lat_rows:
            lat_rows["p50"].values[name] = res.p50_ms if res.p50_ms is not None else "n/a"
        if "p99" in lat_rows:
            lat_rows["p99"].values[name] = res.p99_ms if res.p99_ms is not None else "n/a"


# ---------------------------------------------------------------- small image, tags

@dataclass
class Image:
    manifest: bytes
    digest: str
    layer_digest: str


def make_image() -> tuple[bytes, bytes]:
    layer = random.Random(4096).randbytes(4096)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        "config": {},
    }, separators=(",", ":")).encode()
    return config, layer


def push_image(server: Server, repo: str, config: bytes, layer: bytes, tag: str) -> Image:
    config_digest = push_small_blob(server, repo, config)
    layer_digest = push_small_blob(server, repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    }, separators=(",", ":")).encode()
    status, _, body = request(server.base, "PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                              {"Content-Type": OCI_MANIFEST})
    if status != 201:
        raise RequestFailed(f"PUT manifest {repo}:{tag}", status, body)
    return Image(manifest, "sha256:" + hashlib.sha256(manifest).hexdigest(), layer_digest)


async def _push_tags(server: Server, repo: str, manifest: bytes, count: int) -> tuple[float, list[str]]:
    import httpx

    errors: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(1, count):  # t00000 came with the image
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=TAG_CONNECTIONS, max_keepalive_connections=TAG_CONNECTIONS)
    auth = {"Authorization": AUTH[server.base]} if server.base in AUTH else {}
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=60, headers=auth) as client:
        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    resp = await client.put(f"/v2/{repo}/manifests/t{i:05d}", content=manifest,
                                            headers={"Content-Type": OCI_MANIFEST})
                    if resp.status_code != 201:
                        errors.append(f"HTTP {resp.status_code} {resp.text[:160]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__} {exc}")
                if len(errors) > 20:
                    return

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(TAG_CONNECTIONS)))
        return time.perf_counter() - started, errors


def tag_figures(results: Results, servers: list[Server], config: bytes, layer: bytes, count: int,
                duration: float) -> None:
    repo = "bench/tags"
    label = f"{count:,} tags"
    put_row = results.row(f"manifest PUT by tag ({label}) @{TAG_CONNECTIONS}", "req/s")
    broken: dict[str, str] = {}
    for server in servers:
        log(f"{server.name}: pushing {count:,} tags")
        try:
            image = push_image(server, repo, config, layer, "t00000")
        except RequestFailed as exc:
            broken[server.name] = exc.short
            put_row.values[server.name] = exc.short
            results.failure(server.name, "tags setup", str(exc))
            continue
        elapsed, errors = asyncio.run(_push_tags(server, repo, image.manifest, count))
        count_pushed = count - 1
        if errors:
            put_row.values[server.name] = "error: " + errors[0].split()[1] if errors[0].startswith("HTTP") else "error"
            broken[server.name] = "error: tag push failed"
            results.failure(server.name, "tag push", f"{len(errors)}+ failures, first: {errors[0]}")
            continue
        put_row.values[server.name] = count_pushed / elapsed
        log(f"{server.name}: {count_pushed / elapsed:,.0f} tags/s")
        # Check the list is whole without n (berth might page by default).
        status, headers, body = request(server.base, "GET", f"/v2/{repo}/tags/list", timeout=60)
        if status == 200:
            tags = json.loads(body).get("tags") or []
            if len(tags) < count:
                results.failure(server.name, "tags list", f"returned {len(tags)} of {count} tags without n"
                                + (f" (Link: {headers['link']})" if "link" in headers else ""))
                broken[server.name] = f"error: {len(tags)} tags returned"
    hey_figures(results, servers, f"tags list ({label})", f"/v2/{repo}/tags/list", duration, TAG_CONNECTIONS,
                "GET", None, 200, broken)


def image_figures(results: Results, servers: list[Server], config: bytes, layer: bytes, groups: set[str],
                  duration: float) -> None:
    repo = "bench/image"
    broken: dict[str, str] = {}
    images: dict[str, Image] = {}
    for server in servers:
        try:
            images[server.name] = push_image(server, repo, config, layer, "latest")
        except RequestFailed as exc:
            broken[server.name] = exc.short
            results.failure(server.name, "image push (setup)", str(exc))
    manifest_path = f"/v2/{repo}/manifests/latest"
    if "manifest" in groups:
        hey_figures(results, servers, "manifest HEAD by tag", manifest_path, duration, HEY_CONNECTIONS,
                    "HEAD", ACCEPT, 200, broken)
        hey_figures(results, servers, "manifest GET by tag", manifest_path, duration, HEY_CONNECTIONS,
                    "GET", ACCEPT, 200, broken)
    if "small" in groups:
        layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        hey_figures(results, servers, "4 KiB blob GET", f"/v2/{repo}/blobs/{layer_digest}", duration,
                    HEY_CONNECTIONS, "GET", None, 200, broken)


def metrics_figures(results: Results, servers: list[Server], config: bytes, layer: bytes, duration: float) -> None:
    """Manifest GET by tag on berth without and with metrics (the same build, fresh data each), then
    how long one scrape of /metrics takes on the metered one."""
    repo = "bench/image"
    broken: dict[str, str] = {}
    for server in servers:
        try:
            push_image(server, repo, config, layer, "latest")
        except RequestFailed as exc:
            broken[server.name] = exc.short
            results.failure(server.name, "image push (setup)", str(exc))
    hey_figures(results, servers, "manifest GET by tag", f"/v2/{repo}/manifests/latest", duration, HEY_CONNECTIONS,
                "GET", ACCEPT, 200, broken)
    scrape = results.row("one /metrics scrape", "ms", higher_is_better=False)
    metered = servers[-1]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        status, _, body = request(metered.base, "GET", "/metrics")
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            scrape.values[metered.name] = results.failure(metered.name, "scrape", f"status {status}: {body[:100]!r}")
            return
    scrape.values[metered.name] = sorted(timings)[len(timings) // 2]


async def _push_artifacts(server: Server, repo: str, config_digest: str, config_size: int, layer_digest: str,
                          layer_size: int, count: int) -> list[str]:
    """`count` distinct image manifests, each under two tags (a00000, b00000, ...); the errors."""
    import httpx

    errors: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    auth = {"Authorization": AUTH[server.base]} if server.base in AUTH else {}
    limits = httpx.Limits(max_connections=TAG_CONNECTIONS, max_keepalive_connections=TAG_CONNECTIONS)
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=60, headers=auth) as client:
        async def worker() -> None:
            while len(errors) <= 20:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                manifest = json.dumps({
                    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
                    "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_size}],
                    "annotations": {"bench.number": str(i)},
                }, separators=(",", ":")).encode()
                for tag in (f"a{i:05d}", f"b{i:05d}"):
                    resp = await client.put(f"/v2/{repo}/manifests/{tag}", content=manifest,
                                            headers={"Content-Type": OCI_MANIFEST})
                    if resp.status_code != 201:
                        errors.append(f"HTTP {resp.status_code} {resp.text[:160]}")

        await asyncio.gather(*(worker() for _ in range(TAG_CONNECTIONS)))
    return errors


def seed_artifacts(results: Results, berth: Server, config: bytes, layer: bytes, count: int) -> bool:
    """Push `count` artifacts with two tags each into bench/artifacts (once per run); False on failures."""
    if SEEDED.get(berth.base) == count:
        return True
    log(f"berth: pushing {count:,} artifacts with {2 * count:,} tags")
    push_image(berth, ARTIFACTS_REPO, config, layer, "seed")
    errors = asyncio.run(_push_artifacts(
        berth, ARTIFACTS_REPO, "sha256:" + hashlib.sha256(config).hexdigest(), len(config),
        "sha256:" + hashlib.sha256(layer).hexdigest(), len(layer), count))
    if errors:
        results.failure("berth", "artifact push", f"{len(errors)}+ failures, first: {errors[0]}")
        return False
    SEEDED[berth.base] = count
    return True


ARTIFACTS_REPO = "bench/artifacts"
#: server base URL -> how many artifacts seed_artifacts pushed there
SEEDED: dict[str, int] = {}


def artifact_figures(results: Results, servers: list[Server], config: bytes, layer: bytes, count: int,
                     duration: float) -> None:
    """The Harbor API's artifact list of a big repository (berth only: the peer has no Harbor API)."""
    berth = next(s for s in servers if s.name == "berth")
    label = f"artifact list ({count:,} artifacts, {2 * count:,} tags), page of 100 by push time"
    if not seed_artifacts(results, berth, config, layer, count):
        return
    path = f"/api/v2.0/projects/bench/repositories/{ARTIFACTS_REPO.partition('/')[2]}/artifacts" \
           "?page=2&page_size=100&sort=-push_time"
    hey_figures(results, [berth], label, path, duration, TAG_CONNECTIONS, "GET", None, 200, {})
    for row in results.rows[-3:]:
        row.values["peer"] = "n/a"


# ---------------------------------------------------------------- web UI (issue 16)

UI_PROJECTS = 1000
UI_REQUESTS = 50


def ui_session(server: Server, password: str) -> str:
    """A Cookie header for an admin logged in through the web UI's form (its CSRF token included)."""
    def call(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", int(server.base.rsplit(":", 1)[1]), timeout=30)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response

    page = call("GET", "/login", None, {})
    csrf = page.getheader("set-cookie", "").split(";", 1)[0]
    token = re.search(rb'name="csrftoken" value="([^"]+)"', page.body)  # type: ignore[attr-defined]
    if not csrf or token is None:
        raise RuntimeError("the log-in page gave no CSRF token")
    form = urllib.parse.urlencode({"principal": "admin", "password": password, "csrftoken": token.group(1).decode()})
    answer = call("POST", "/login", form.encode(), {"Cookie": csrf, "Content-Type": "application/x-www-form-urlencoded"})
    sid = next((v.split(";", 1)[0] for k, v in answer.getheaders() if k.lower() == "set-cookie" and v.startswith("sid=")), "")
    if answer.status != 303 or not sid:
        raise RuntimeError(f"the web UI log-in failed: {answer.status}")
    return f"{csrf}; {sid}"


def ui_figures(results: Results, servers: list[Server], config: bytes, layer: bytes, count: int,
               password: str) -> None:
    """Server time of two web UI pages (berth only): a page of the artifact list of a repository with
    `count` artifacts, and of the project list with UI_PROJECTS projects. Sequential GETs on one
    keep-alive connection, as a browser asks: the median and p99 of UI_REQUESTS, after 5 unmeasured."""
    berth = next(s for s in servers if s.name == "berth")
    if not seed_artifacts(results, berth, config, layer, count):
        return
    log(f"berth: creating {UI_PROJECTS:,} projects")
    basic = API_AUTH[berth.base]
    for i in range(UI_PROJECTS):
        status, _, body = request(berth.base, "POST", "/api/v2.0/projects",
                                  json.dumps({"project_name": f"ui-bench-{i:04d}"}).encode(),
                                  {"Authorization": basic, "Content-Type": "application/json"})
        if status not in (201, 409):
            results.failure("berth", "UI projects", f"creating a project: {status} {body[:200]!r}")
            return
    cookie = ui_session(berth, password)
    pages = (
        (f"web UI: artifact list page ({count:,} artifacts)", f"/projects/bench/repositories/"
         f"{ARTIFACTS_REPO.partition('/')[2]}?page=2"),
        (f"web UI: project list page ({UI_PROJECTS:,}+ projects)", "/projects?page=2"),
        (f"web UI: project list search ({UI_PROJECTS:,}+ projects)", "/projects?name=bench-09"),
    )
    conn = http.client.HTTPConnection("127.0.0.1", int(berth.base.rsplit(":", 1)[1]), timeout=30)
    try:
        for label, path in pages:
            times = []
            for i in range(UI_REQUESTS + 5):
                started = time.perf_counter()
                conn.request("GET", path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    results.failure("berth", label, f"{response.status} for {path}")
                    break
                if i >= 5:
                    times.append((time.perf_counter() - started) * 1000)
            if len(times) != UI_REQUESTS:
                continue
            times.sort()
            median, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
            log(f"berth: {label}: median {median:.1f} ms, p99 {p99:.1f} ms")
            for figure, value in (("median", median), ("p99", p99)):
                row = results.row(f"{label} {figure}", "ms", higher_is_better=False)
                row.values["berth"], row.values["peer"] = value, "n/a"
    finally:
        conn.close()


# ---------------------------------------------------------------- scanning (issue 12)

@dataclass
class Target:
    """A figure of the scanning table with the issue's target (None: reported only)."""

    figure: str
    unit: str
    target: str
    passes: object = None  # value -> bool, or None when there is no target
    value: float | str | None = None


def run_sampled(args: list[str], interval: float = 0.05) -> tuple[float, int, int, str]:
    """Run a command, sampling its process tree's RSS from /proc every `interval` s: (seconds, peak RSS
    bytes, exit status, stderr)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = spawn(args, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        peak = 0
        try:
            root = psutil.Process(proc.pid)
            while proc.poll() is None:
                try:
                    peak = max(peak, sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]))
                except psutil.Error:
                    pass  # ended between poll() and the read
                time.sleep(interval)
        except psutil.NoSuchProcess:
            pass
        rc = proc.wait()
        seconds = time.perf_counter() - started
        err.seek(0)
        return seconds, peak, rc, err.read().decode(errors="replace")


def get_ratio_under_load(server: Server, repo: str, tag: str, start_load, duration: float) -> float:
    """Manifest GET by tag req/s while a background load runs, as a ratio to idle. `start_load()`
    starts the load on `server` and returns a callable that ends it once the loaded figure is taken."""
    path = f"/v2/{repo}/manifests/{tag}"
    run_hey(server.base + path, 1, HEY_CONNECTIONS, "GET", ACCEPT)
    idle = run_hey(server.base + path, duration, HEY_CONNECTIONS, "GET", ACCEPT)
    finish = start_load()
    try:
        loaded = run_hey(server.base + path, duration, HEY_CONNECTIONS, "GET", ACCEPT)
    finally:
        finish()
    log(f"{server.name}: manifest GET idle {idle.rps:,.0f} req/s, under load {loaded.rps:,.0f} req/s")
    return loaded.rps / idle.rps if idle.rps else 0.0


def scan_all_load(server: Server, corpus: Any, copies: int, notes: list[str]) -> Callable[[], Callable[[], None]]:
    """The scanning image pushed with skopeo as bench/scanned:1 and into `copies - 1` more repositories
    (scan-all scans each artifact), and a start_load for get_ratio_under_load: it starts scan-all
    (POST /api/v2.0/system/scanAll/schedule, Manual) and returns what checks that scan-all still ran
    when the loaded figure ended (a note says so if not) and stops it."""
    user, password = base64.b64decode(API_AUTH[server.base].split()[1]).decode().split(":", 1)
    host = urllib.parse.urlsplit(server.base).netloc
    for number in range(copies):
        repo = "bench/scanned" + (f"-{number}" if number else "")
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", f"{user}:{password}",
                        f"oci:{corpus.layout}:{corpus.tag}", f"docker://{host}/{repo}:1"], check=True)
    headers = {"Authorization": API_AUTH[server.base], "Content-Type": "application/json"}

    def stats() -> dict[str, Any]:
        status, _, body = request(server.base, "GET", "/api/v2.0/scans/all/metrics", headers=headers)
        if status != 200:
            raise RuntimeError(f"scan-all metrics: {status} {body[:200]!r}")
        return json.loads(body)

    def start() -> Callable[[], None]:
        status, _, body = request(server.base, "POST", "/api/v2.0/system/scanAll/schedule",
                                  json.dumps({"schedule": {"type": "Manual"}}).encode(), headers)
        if status != 201:
            raise RuntimeError(f"starting scan-all: {status} {body[:200]!r}")
        deadline = time.monotonic() + 30
        while not stats()["total"] and time.monotonic() < deadline:
            time.sleep(0.2)  # the lister task has queued the scans

        def finish() -> None:
            now = stats()
            notes.append(f"scan-all scanned {now['completed']} of {now['total']} artifacts while the loaded "
                         f"figure was taken" + ("" if now["ongoing"] else
                                                  " and ENDED before it: the ratio overstates"))
            request(server.base, "POST", "/api/v2.0/system/scanAll/stop", b"", headers)
        return finish
    return start


def scan_figures(workdir: Path, server: Server, database_url: str | None, duration: float,
                 runs: int = 3) -> tuple[list[Target], list[str]]:
    """`berth vulndb import` of 50,000 OSV records, then `berth scan oci:…` of a ~300 MB image (median
    of `runs`) with its peak RSS, into the database of the running berth `server`."""
    import scan_corpus

    log("scan: building the image and the OSV records (seeded)")
    started = time.perf_counter()
    corpus = scan_corpus.build(workdir / "scan")
    log(f"scan: built in {time.perf_counter() - started:.0f} s: layers {corpus.layer_bytes / 1e6:.0f} MB "
        f"({corpus.tar_bytes / 1e6:.0f} MB as tar), {corpus.records:,} records in {len(corpus.osv_zips)} zips")
    database = ["--data-dir", str(server.data_dir)] + (["--database-url", database_url] if database_url else [])
    rows = [
        Target(f"vulndb import of {corpus.records:,} OSV records", "s", "< 60", lambda v: v < 60),
        Target("peak RSS of the import process", "MiB", "—"),
        Target(f"scan of a {corpus.layer_bytes / 1e6:.0f} MB image ({corpus.os_packages} OS + "
               f"{corpus.lang_packages} language packages), median of {runs}", "s", "< 10", lambda v: v < 10),
        Target("peak RSS of the scanning process", "MiB", "< 300", lambda v: v < 300),
        Target("manifest GET req/s while scan-all runs, ratio to idle", "×", ">= 0.7", lambda v: v >= 0.7),
    ]
    notes: list[str] = []
    seconds, peak, rc, err = run_sampled([str(BERTH_BIN), "vulndb", "import", *map(str, corpus.osv_zips), *database])
    if rc != 0:
        notes.append(f"vulndb import failed (rc {rc}): {err.strip()[-300:]}")
        return rows, notes
    rows[0].value, rows[1].value = seconds, peak / MiB
    log(f"scan: import took {seconds:.1f} s, peak RSS {peak / MiB:.0f} MiB")
    timings, peaks = [], []
    args = [str(BERTH_BIN), "scan", f"oci:{corpus.layout}:{corpus.tag}", "--format", "json", *database]
    for round_no in range(runs):
        seconds, peak, rc, err = run_sampled(args)
        if rc != 0:
            notes.append(f"berth scan failed (rc {rc}): {err.strip()[-300:]}")
            return rows, notes
        timings.append(seconds)
        peaks.append(peak)
        log(f"scan: round {round_no + 1}/{runs}: {seconds:.2f} s, peak RSS {peak / MiB:.0f} MiB")
    rows[2].value, rows[3].value = sorted(timings)[len(timings) // 2], max(peaks) / MiB
    report = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    found = len(json.loads(report)["vulnerabilities"])
    verdict = "as expected" if found == corpus.expected_findings else f"WRONG: {corpus.expected_findings:,} expected"
    notes.append(f"the scan reports {found:,} vulnerabilities ({verdict}: {corpus.affecting:,} of the records hold "
                 f"an installed version, a Debian one counting once per binary package of its source)")
    # each scan of the image takes the time of one above: enough copies to keep scan-all busy throughout
    copies = max(4, math.ceil(2 * duration / max(rows[2].value, 1.0)) + 2)
    log(f"scan: pushing the image into {copies} repositories for scan-all")
    rows[4].value = get_ratio_under_load(server, "bench/scanned", "1", scan_all_load(server, corpus, copies, notes),
                                         duration)
    return rows, notes


def gc_figures(workdir: Path, server: Server, config: bytes, layer: bytes, database_url: str | None,
               duration: float, blobs: int) -> tuple[list[Target], list[str]]:
    """`berth gc` over `blobs` seeded blobs (half garbage): its time, peak RSS and manifest GET by tag
    during the run as a ratio to idle; then its peak RSS over a tenth as many."""
    import gc_seed

    url = database_url or f"sqlite+aiosqlite:///{server.data_dir / 'berth.db'}"
    database = ["--data-dir", str(server.data_dir)] + (["--database-url", database_url] if database_url else [])
    small = blobs // 10
    rows = [
        Target(f"full GC run, {blobs:,} blobs of which {blobs // 2:,} unreferenced", "s", "< 120", lambda v: v < 120),
        Target("manifest GET by tag req/s during the run, ratio to no GC", "×", ">= 0.8", lambda v: v >= 0.8),
        Target(f"peak RSS of the GC process, {blobs:,} blobs", "MiB", "flat"),
        Target(f"peak RSS of the GC process, {small:,} blobs", "MiB", "flat"),
        Target(f"full GC run, {small:,} blobs", "s", "—"),
    ]
    notes: list[str] = []
    push_image(server, "bench/gc-live", config, layer, "latest")

    def seeded(prefix: str, count: int) -> None:
        started = time.perf_counter()
        gc_seed.seed(server.data_dir, url, "bench", prefix, count, count // 2)
        log(f"gc: seeded {count:,} blobs ({count // 2:,} garbage) in {time.perf_counter() - started:.0f} s")

    def sampled_gc() -> tuple[subprocess.Popen, dict[str, float]]:
        """`berth gc` started, with a thread sampling its RSS; the dict gets seconds and peak once it ends."""
        figures: dict[str, float] = {"peak": 0.0}
        err = open(workdir / "gc.err", "wb")  # noqa: SIM115 (closed by the sampler)
        started = time.perf_counter()
        proc = spawn([str(BERTH_BIN), "gc", "--workers", "4", *database], stdout=subprocess.PIPE, stderr=err,
                     stdin=subprocess.DEVNULL)

        def sample() -> None:
            try:
                root = psutil.Process(proc.pid)
                while proc.poll() is None:
                    try:
                        figures["peak"] = max(figures["peak"], root.memory_info().rss)
                    except psutil.Error:
                        pass
                    time.sleep(0.05)
            except psutil.NoSuchProcess:
                pass
            proc.wait()
            figures["seconds"] = time.perf_counter() - started
            err.close()

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        figures_thread[0] = thread
        return proc, figures

    figures_thread: list[threading.Thread | None] = [None]

    def finish_gc(proc: subprocess.Popen, figures: dict[str, float]) -> str:
        out = proc.communicate(timeout=1800)[0].decode()
        if figures_thread[0] is not None:
            figures_thread[0].join()
        if proc.returncode != 0:
            raise RuntimeError(f"berth gc failed (rc {proc.returncode}): {(workdir / 'gc.err').read_text()[-400:]}")
        return out.strip()

    # a tenth first, alone in the registry, then the full count (which finds the tenth's live half too)
    seeded("gc-small", small)
    proc, figures = sampled_gc()
    finish_gc(proc, figures)
    rows[4].value, rows[3].value = figures["seconds"], figures["peak"] / MiB
    log(f"gc: {small:,} blobs: {rows[4].value:.1f} s, peak RSS {rows[3].value:.0f} MiB")
    seeded("gc-big", blobs)
    running: dict[str, Any] = {}

    def start() -> Callable[[], None]:
        running["proc"], running["figures"] = sampled_gc()

        def finish() -> None:
            if running["proc"].poll() is None:
                notes.append("the GC run was still going when the loaded figure ended")
            else:
                notes.append("the GC run ENDED before the loaded figure did: the ratio overstates")
        return finish

    rows[1].value = get_ratio_under_load(server, "bench/gc-live", "latest", start, duration)
    summary = finish_gc(running["proc"], running["figures"])
    rows[0].value, rows[2].value = running["figures"]["seconds"], running["figures"]["peak"] / MiB
    notes.append(f"berth gc over {blobs:,} blobs: {summary}")
    log(f"gc: {blobs:,} blobs: {rows[0].value:.1f} s, peak RSS {rows[2].value:.0f} MiB")
    left = sum(1 for _ in (server.data_dir / "storage" / "blobs").glob("*/*/*/data"))
    notes.append(f"blob files left after the runs: {left:,} (the live images' {(blobs + small) // 2:,}, and "
                 f"the blobs other groups and bench/gc-live pushed)")
    return rows, notes


def render_targets(rows: list[Target]) -> str:
    lines = ["| figure | berth | target | met |", "|---|---:|---:|:---:|"]
    for row in rows:
        met = "" if row.passes is None or not isinstance(row.value, (int, float)) else (
            "yes" if row.passes(row.value) else "NO")  # type: ignore[operator]
        value = f"{row.value:.2f}" if row.unit == "×" and isinstance(row.value, float) else fmt(row.value, row.unit)
        lines.append(f"| {row.figure} ({row.unit}) | {value} | {row.target} | {met} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- proxy cache (issue 15)

PROXY_REPOSITORY = "img"


def pull_whole_image(base: str, repo: str, tag: str, auth: str | None) -> int:
    """GET the manifest by tag, then every blob at once (curl to /dev/null, as a runtime pulls layers
    in parallel); the bytes pulled. Raises RequestFailed."""
    headers = {"Accept": ACCEPT, **({"Authorization": auth} if auth else {})}
    status, _, body = request(base, "GET", f"/v2/{repo}/manifests/{tag}", headers=headers)
    if status != 200:
        raise RequestFailed(f"GET manifest {repo}:{tag}", status, body)
    manifest = json.loads(body)
    blobs = [manifest["config"], *manifest["layers"]]

    def fetch(descriptor: dict) -> None:
        args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "--max-time", "900",
                *(["-H", f"Authorization: {auth}"] if auth else []), f"{base}/v2/{repo}/blobs/{descriptor['digest']}"]
        rc, out, err = run_child(args, timeout=960)
        parts = out.split()
        if rc != 0 or not parts or parts[0] != "200" or int(parts[1]) != descriptor["size"]:
            raise RequestFailed(f"GET blob {descriptor['digest'][:19]} (curl rc {rc}; {out} {err.strip()[:200]})",
                                int(parts[0]) if parts and parts[0].isdigit() else 0)

    _, errors = run_clients(fetch, [(d,) for d in blobs])
    if errors:
        raise errors[0]
    return len(body) + sum(d["size"] for d in blobs)


def proxy_figures(workdir: Path, berth: Server, peer: Server, layers: int, layer_size: int,
                  ) -> tuple[list[Target], list[str]]:
    """A proxy-cache project on berth over the peer: an image of `layers` random layers pulled cold through
    the proxy (each round its own fresh proxy project) against the same pull from the peer directly, and
    pulled again once cached against the same image pulled from an ordinary berth project."""
    rows = [
        Target("cold pull through the proxy, median", "MB/s", "—"),
        Target("the same pull from the upstream directly, median", "MB/s", "—"),
        Target("cold proxy pull / direct upstream pull, median of the rounds' ratios", "×", ">= 0.8",
               lambda v: v >= 0.8),
        Target("cached pull through the proxy, median", "MB/s", "—"),
        Target("the same pull from an ordinary berth project, median", "MB/s", "—"),
        Target("cached proxy pull / local pull, median of the rounds' ratios", "×", ">= 0.9", lambda v: v >= 0.9),
    ]
    notes: list[str] = []
    rounds = max(REPEAT, 3)
    folder = workdir / "proxy-blobs"
    folder.mkdir()
    files = [BlobFile(folder / f"layer-{i}", layer_size, _generate(str(folder / f"layer-{i}"), layer_size, 1500 + i))
             for i in range(layers)]
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
        f.digest for f in files]}, "config": {}}, separators=(",", ":")).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                   "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": f.digest, "size": f.size} for f in files],
    }, separators=(",", ":")).encode()
    local = "bench/proxy-local"
    for server, repo in ((peer, f"bench/{PROXY_REPOSITORY}"), (berth, local)):
        push_small_blob(server, repo, config)
        for f in files:
            push_one(server, repo, f)
        status, _, body = request(server.base, "PUT", f"/v2/{repo}/manifests/v1", manifest,
                                  {"Content-Type": OCI_MANIFEST})
        if status != 201:
            raise RequestFailed(f"PUT manifest {repo}:v1 on {server.name}", status, body)
    status, headers, body = request(berth.base, "POST", "/api/v2.0/registries", json.dumps(
        {"name": "bench-peer", "type": "docker-registry", "url": peer.base}).encode(),
        {"Content-Type": "application/json"})
    if status != 201:
        notes.append(f"creating the registry failed: {status} {body[:200]!r}")
        return rows, notes
    registry_id = int(headers["location"].rsplit("/", 1)[1])
    projects = [f"benchproxy{i}" for i in range(rounds)]
    for project in projects:
        status, _, body = request(berth.base, "POST", "/api/v2.0/projects", json.dumps(
            {"project_name": project, "registry_id": registry_id}).encode(), {"Content-Type": "application/json"})
        if status != 201:
            notes.append(f"creating proxy project {project} failed: {status} {body[:200]!r}")
            return rows, notes
    query = urllib.parse.urlencode([("service", "harbor-registry"), *(
        ("scope", f"repository:{r}:pull") for r in (local, *(f"{p}/bench/{PROXY_REPOSITORY}" for p in projects)))])
    status, _, body = request(berth.base, "GET", f"/service/token?{query}",
                              headers={"Authorization": API_AUTH[berth.base]})
    if status != 200:
        notes.append(f"getting a token failed: {status} {body[:200]!r}")
        return rows, notes
    token = "Bearer " + json.loads(body)["token"]

    def timed(base: str, repo: str, auth: str | None) -> float:
        os.sync()
        started = time.perf_counter()
        size = pull_whole_image(base, repo, "v1", auth)
        return size / 1e6 / (time.perf_counter() - started)

    upstream = f"bench/{PROXY_REPOSITORY}"
    pull_whole_image(peer.base, upstream, "v1", None)  # warm-up: every layer in the page cache
    pull_whole_image(berth.base, local, "v1", token)
    rates: dict[str, list[float]] = {"cold": [], "direct": [], "cached": [], "local": []}
    cold_ratios, cached_ratios = [], []
    for round_no, project in enumerate(projects):
        proxied = f"{project}/{upstream}"
        try:
            first = round_no % 2 == 0
            direct = timed(peer.base, upstream, None) if first else 0.0
            cold = timed(berth.base, proxied, token)
            direct = direct or timed(peer.base, upstream, None)
            settle(berth)
            cached = timed(berth.base, proxied, token) if first else 0.0
            local_rate = timed(berth.base, local, token)
            cached = cached or timed(berth.base, proxied, token)
        except RequestFailed as exc:
            notes.append(f"round {round_no}: {exc}")
            continue
        for key, value in (("cold", cold), ("direct", direct), ("cached", cached), ("local", local_rate)):
            rates[key].append(value)
        cold_ratios.append(cold / direct)
        cached_ratios.append(cached / local_rate)
        log(f"proxy round {round_no}: cold {cold:.0f} / direct {direct:.0f} MB/s, "
            f"cached {cached:.0f} / local {local_rate:.0f} MB/s")
    if cold_ratios:
        median = statistics.median
        for row, value in zip(rows, (median(rates["cold"]), median(rates["direct"]), median(cold_ratios),
                                     median(rates["cached"]), median(rates["local"]), median(cached_ratios))):
            row.value = value
    notes.append(f"image: {layers} random layers of {size_label(layer_size)} and a config; {rounds} rounds, "
                 "each cold pull into a proxy project of its own; blobs fetched all at once (curl), "
                 "the manifest by tag (the proxy revalidates it with a HEAD upstream)")
    return rows, notes


# ---------------------------------------------------------------- signing (the signing issue)

SIGN_PROJECT = "benchsign"
SIGNED_REPOSITORY = "signed"  # bench/signed (no policy) and benchsign/signed (enforcing)


def image_variant(config: bytes, label: str) -> bytes:
    """The bench image's config with a label: another image digest over the same layer."""
    document = json.loads(config)
    document["config"] = {"Labels": {"bench.variant": label}}
    return json.dumps(document, separators=(",", ":")).encode()


def sign_figures(workdir: Path, server: Server, config: bytes, layer: bytes, duration: float,
                 verify_rounds: int = 5000, push_rounds: int = 10) -> tuple[list[Target], list[str]]:
    """Manifest GET by tag of the same image in `bench` (no policy) and in `benchsign` (an enforcing trust
    policy with a fresh cosign key; the image signed with `berth sign`), as a ratio; the time one
    tag-scheme cosign signature takes to verify, in-process and from its manifest PUT to its verdict
    showing in the artifact API."""
    from berth.sign.keys import load_private_key
    from berth.sign.policy import TrustPolicy

    rows = [
        Target("manifest GET by tag @32, project without a policy, median", "req/s", "—"),
        Target("manifest GET by tag @32, enforcing project, cached verdict, median", "req/s", "—"),
        Target("manifest GET by tag, enforcing / no policy, median of the rounds' ratios", "×", ">= 0.9",
               lambda v: v >= 0.9),
        Target(f"verify one cosign signature (tag scheme) in-process, median of {verify_rounds:,}", "ms", "reported"),
        Target(f"verify one cosign signature (tag scheme) in-process, p99 of {verify_rounds:,}", "ms", "reported"),
        Target(f"signature manifest PUT to its verdict in the artifact API, median of {push_rounds}", "ms",
               "reported"),
        Target(f"signature manifest PUT to its verdict in the artifact API, max of {push_rounds}", "ms", "reported"),
        Target(f"of which the signature manifest PUT (to its 201), median of {push_rounds}", "ms", "—"),
    ]
    notes: list[str] = []
    user, password = base64.b64decode(API_AUTH[server.base].split()[1]).decode().split(":", 1)
    env = {**os.environ, "COSIGN_PASSWORD": "bench-" + os.urandom(4).hex()}
    prefix = workdir / "cosign"
    subprocess.run([str(BERTH_BIN), "sign", "generate-key-pair", "--output-key-prefix", str(prefix)],
                   env=env, check=True, capture_output=True)
    public_pem = prefix.with_suffix(".pub").read_text()
    signing_key = load_private_key(prefix.with_suffix(".key").read_bytes(), env["COSIGN_PASSWORD"].encode())
    policy = {"mode": "enforce", "formats": ["cosign"], "cosign_public_keys": [public_pem]}
    status, _, body = request(server.base, "PUT", f"/api/v2.0/projects/{SIGN_PROJECT}/trust-policy",
                              json.dumps(policy).encode(), {"Content-Type": "application/json"})
    if status != 200:
        notes.append(f"PUT trust-policy failed: {status} {body[:200]!r}")
        return rows, notes
    plain, enforced = f"bench/{SIGNED_REPOSITORY}", f"{SIGN_PROJECT}/{SIGNED_REPOSITORY}"
    image = push_image(server, plain, config, layer, "latest")
    push_image(server, enforced, config, layer, "latest")
    host = urllib.parse.urlsplit(server.base).netloc
    signed = subprocess.run([str(BERTH_BIN), "sign", f"{host}/{enforced}:latest", "--key", str(prefix) + ".key",
                             "--creds", f"{user}:{password}", "--plain-http"], env=env, capture_output=True, text=True)
    if signed.returncode != 0:
        notes.append(f"berth sign failed (rc {signed.returncode}): {signed.stderr.strip()[-300:]}")
        return rows, notes
    verdict = wait_for_verdict(server, SIGN_PROJECT, SIGNED_REPOSITORY, image.digest, 30.0)
    if verdict is None or not verdict.get("verified"):
        notes.append(f"the signature of {enforced}:latest has no passing verdict: {verdict}")
        return rows, notes
    # The check is on: an unsigned image in the enforcing project is refused (Basic auth: no token, so
    # no administrator's bypass; the bench's bearer token is an administrator's).
    push_image(server, enforced, image_variant(config, "unsigned"), layer, "unsigned")
    status, _, _ = request(server.base, "GET", f"/v2/{enforced}/manifests/unsigned",
                           headers={"Accept": ACCEPT, "Authorization": API_AUTH[server.base]})
    notes.append(f"an unsigned image in {SIGN_PROJECT} answers {status} to a pull "
                 + ("(refused: the policy is enforced)" if status == 412 else "(EXPECTED 412)"))

    # Rounds alternate which project goes first (at least two rounds, so each goes first once), and each
    # run starts once the server is idle: the pulls of the run before are still being written to the
    # audit log for a while, which would count against whichever project comes second.
    rounds = max(REPEAT, 2)
    rates: dict[str, list[float]] = {plain: [], enforced: []}
    ratios = []
    for repo in rates:
        run_hey(server.base + f"/v2/{repo}/manifests/latest", 1, HEY_CONNECTIONS, "GET", ACCEPT)  # warm-up
    for round_no in range(rounds):
        for repo in (plain, enforced) if round_no % 2 == 0 else (enforced, plain):
            settle(server)
            res = run_hey(server.base + f"/v2/{repo}/manifests/latest", duration, HEY_CONNECTIONS, "GET", ACCEPT)
            bad = sum(n for c, n in res.codes.items() if c != 200) + res.errors
            if bad:
                notes.append(f"{repo}: {bad} of {sum(res.codes.values()) + res.errors} requests failed "
                             f"({res.codes}, {res.error_text})")
            rates[repo].append(res.rps)
        log(f"sign: round {round_no + 1}/{rounds}: no policy {rates[plain][-1]:,.0f} req/s, "
            f"enforcing {rates[enforced][-1]:,.0f} req/s")
        ratios.append(rates[enforced][-1] / rates[plain][-1] if rates[plain][-1] else 0.0)
    plain_runs, enforced_runs = rates[plain], rates[enforced]
    rows[0].value, rows[1].value, rows[2].value = median(plain_runs), median(enforced_runs), median(ratios)

    timings = time_verify(signing_key, TrustPolicy.model_validate(policy), f"{host}/{enforced}", image, verify_rounds)
    rows[3].value, rows[4].value = median(timings), percentile(timings, 99)
    log(f"sign: verify in-process: median {rows[3].value:.3f} ms, p99 {rows[4].value:.3f} ms")

    delays, puts = [], []
    for number in range(push_rounds):
        delay = time_signature_push(puts, server, signing_key, enforced, image_variant(config, f"push-{number}"), layer,
                                    f"push-{number}")
        if delay is None:
            notes.append(f"no passing verdict within 30 s of pushing signature {number + 1}")
            break
        delays.append(delay)
    if delays:
        rows[5].value, rows[6].value, rows[7].value = median(delays), max(delays), median(puts)
        log(f"sign: PUT to verdict: median {rows[5].value:.1f} ms, max {rows[6].value:.1f} ms")
    return rows, notes


def settle(server: Server, idle_share: float = 0.1, limit: float = 15.0) -> None:
    """Wait (at most `limit` s) until the server's processes use under `idle_share` of a CPU over 0.5 s."""
    deadline = time.monotonic() + limit
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.cpu_seconds()
        if now - before < idle_share * 0.5:
            return
        before = now


def median(values: list[float]) -> float:
    """The middle value; of an even count, the mean of the two middle ones (two rounds: AB and BA)."""
    ordered, half = sorted(values), len(values) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1)]


def time_verify(signing_key: Any, policy: Any, repository: str, image: Image, rounds: int) -> list[float]:
    """Milliseconds per `berth.sign.verify.verify` of one tag-scheme signature of `image` (the manifest and
    blobs in memory, the policy's key parsed once as the server keeps it), after 50 unmeasured calls."""
    from berth.sign.model import SignatureArtifact, Subject
    from berth.sign.signer import tag_signature
    from berth.sign.verify import verify

    signature = tag_signature(signing_key, repository, image.digest, None)
    assert signature is not None
    blobs = {blob.digest: blob.data for blob in signature.blobs}

    def read_blob(digest: str, limit: int) -> bytes:
        data = blobs[digest]
        if len(data) > limit:
            raise ValueError("over the limit")
        return data

    artifact = SignatureArtifact(signature.digest, json.loads(signature.manifest), read_blob, signature.tag)
    subject = Subject(image.digest, len(image.manifest), OCI_MANIFEST)
    now = dt.datetime.now(dt.UTC)
    verdict = verify(subject, artifact, policy, now)
    if verdict is None or not verdict.verified:
        raise RuntimeError(f"the bench's own signature does not verify: {verdict}")
    timings = []
    for number in range(rounds + 50):
        started = time.perf_counter_ns()
        verify(subject, artifact, policy, now)
        if number >= 50:
            timings.append((time.perf_counter_ns() - started) / 1e6)
    return timings


def time_signature_push(puts: list[float], server: Server, signing_key: Any, repo: str, config: bytes, layer: bytes,
                        tag: str) -> float | None:
    """Push an image, then its tag-scheme signature (blobs first): milliseconds from sending the
    signature's manifest PUT to a passing verdict on it in the artifact API (polled), None after 30 s;
    the PUT's own milliseconds go to `puts`."""
    from berth.sign.signer import tag_signature

    image = push_image(server, repo, config, layer, tag)
    host = urllib.parse.urlsplit(server.base).netloc
    signature = tag_signature(signing_key, f"{host}/{repo}", image.digest, None)
    assert signature is not None and signature.tag is not None
    for blob in signature.blobs:
        push_small_blob(server, repo, blob.data)
    started = time.perf_counter()
    status, _, body = request(server.base, "PUT", f"/v2/{repo}/manifests/{signature.tag}", signature.manifest,
                              {"Content-Type": OCI_MANIFEST})
    if status != 201:
        raise RequestFailed(f"PUT signature {repo}:{signature.tag}", status, body)
    puts.append((time.perf_counter() - started) * 1000)
    project, _, name = repo.partition("/")
    verdict = wait_for_verdict(server, project, name, image.digest, 30.0, started)
    return None if verdict is None or not verdict.get("verified") else (time.perf_counter() - started) * 1000


def wait_for_verdict(server: Server, project: str, repository: str, digest: str, timeout: float,
                     since: float | None = None) -> dict[str, Any] | None:
    """Poll the artifact (with_accessory) until a signature accessory carries its `verification`; that,
    or None after `timeout`. (Reading it verifies too when the push's background verification has
    not stored a verdict yet: either way it is what a client sees.)"""
    path = (f"/api/v2.0/projects/{project}/repositories/{urllib.parse.quote(repository, safe='')}/artifacts/"
            f"{digest}?with_accessory=true")
    deadline = (since or time.perf_counter()) + timeout
    while time.perf_counter() < deadline:
        status, _, body = request(server.base, "GET", path)
        if status == 200:
            for accessory in json.loads(body).get("accessories") or []:
                if accessory.get("type") == "signature.cosign" and accessory.get("verification"):
                    return accessory["verification"]
        time.sleep(0.002)
    return None


# ---------------------------------------------------------------- replication (issue 15)

REPL_PROJECT = "benchrepl"  # the source's images: benchrepl/img-00 … img-49, tag v1


@dataclass
class ReplRound:
    berth_seconds: float = 0.0  # execution start_time to end_time (the API's, in ms)
    berth_wall: float = 0.0  # POST /executions to the poll that saw it end
    skopeo_seconds: float = 0.0
    source_rss: int = 0  # the source berth's peak RSS during its replication run
    #: CPU seconds of the (source, destination) berth process trees during each copy
    berth_cpu: tuple[float, float] = (0.0, 0.0)
    skopeo_cpu: tuple[float, float] = (0.0, 0.0)


class PeakRss(threading.Thread):
    """The peak RSS of one server's process tree while the `with` block runs (sampled every 50 ms)."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True, name="peak-rss")
        self.server = server
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self.server.rss())
            self._halt.wait(0.05)

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join(2)


def repl_token(server: Server, basic: str, repositories: list[str]) -> str:
    query = urllib.parse.urlencode([("service", "harbor-registry"),
                                    *(("scope", f"repository:{r}:pull,push") for r in repositories)])
    status, _, body = request(server.base, "GET", f"/service/token?{query}", headers={"Authorization": basic})
    if status != 200:
        raise RuntimeError(f"getting a token failed: {status} {body[:200]!r}")
    return "Bearer " + json.loads(body)["token"]


def repl_seed_image(server: Server, basic: str, repository: str, seed: int, layers: int, layer_size: int) -> int:
    """One image of `layers` distinct random layers (gzip with stored blocks: incompressible, and what a
    registry client sees as an already compressed layer), pushed POST + PUT per blob; its bytes in all."""
    import gzip

    rng = random.Random(seed)
    raw = [rng.randbytes(layer_size) for _ in range(layers)]
    blobs = [gzip.compress(data, compresslevel=0, mtime=0) for data in raw]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"bench.seed": str(seed)}},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(d).hexdigest() for d in raw]}},
                        separators=(",", ":")).encode()
    headers = {"Authorization": repl_token(server, basic, [repository])}
    descriptors = []
    for data in [config, *blobs]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, got, body = request(server.base, "POST", f"/v2/{repository}/blobs/uploads/", headers=headers)
        if status != 202:
            raise RequestFailed(f"POST upload {repository}", status, body)
        location = urllib.parse.urljoin(server.base, got["location"])
        status, _, body = request(server.base, "PUT", with_digest(location, digest), data,
                                  {**headers, "Content-Type": "application/octet-stream"})
        if status != 201:
            raise RequestFailed(f"PUT blob {repository} {digest[:19]}", status, body)
        descriptors.append({"digest": digest, "size": len(data)})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **descriptors[0]},
        "layers": [{"mediaType": OCI_LAYER + "+gzip", **d} for d in descriptors[1:]],
    }, separators=(",", ":")).encode()
    status, _, body = request(server.base, "PUT", f"/v2/{repository}/manifests/v1", manifest,
                              {**headers, "Content-Type": OCI_MANIFEST})
    if status != 201:
        raise RequestFailed(f"PUT manifest {repository}:v1", status, body)
    return sum(d["size"] for d in descriptors) + len(manifest)


def repl_api(server: Server, basic: str, method: str, path: str, document: Any = None) -> tuple[int, dict, bytes]:
    body = json.dumps(document).encode() if document is not None else None
    return request(server.base, method, f"/api/v2.0{path}", body,
                   {"Authorization": basic, "Content-Type": "application/json"}, timeout=60)


def repl_check(dest: Server, basic: str, repositories: list[str]) -> int:
    """How many of the repositories the destination has tag v1 of."""
    found = 0
    for repository in repositories:
        status, _, _ = request(dest.base, "HEAD", f"/v2/{repository}/manifests/v1",
                               headers={"Authorization": repl_token(dest, basic, [repository]), "Accept": ACCEPT})
        found += status == 200
    return found


def harbor_seconds(start: str, end: str) -> float:
    parse = lambda text: dt.datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def repl_berth_run(source: Server, basic: str, registry_id: int, namespace: str, rnd: ReplRound,
                   count: int) -> None:
    status, headers, body = repl_api(source, basic, "POST", "/replication/policies", {
        "name": f"bench-{namespace}", "dest_registry": {"id": registry_id}, "dest_namespace": namespace,
        "dest_namespace_replace_count": -1, "filters": [{"type": "name", "value": f"{REPL_PROJECT}/**"}],
        "trigger": {"type": "manual"}, "enabled": True, "override": True})
    if status != 201:
        raise RequestFailed("creating the replication policy", status, body)
    policy_id = int(headers["location"].rsplit("/", 1)[1])
    prepare_measurement([])
    with PeakRss(source) as rss:
        started = time.perf_counter()
        status, headers, body = repl_api(source, basic, "POST", "/replication/executions", {"policy_id": policy_id})
        if status != 201:
            raise RequestFailed("starting the replication", status, body)
        execution_id = int(headers["location"].rsplit("/", 1)[1])
        deadline = time.monotonic() + 900
        while True:
            status, _, body = repl_api(source, basic, "GET", f"/replication/executions/{execution_id}")
            execution = json.loads(body) if status == 200 else {}
            if execution.get("status") not in (None, "InProgress"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"replication execution {execution_id} still running after 900 s")
            time.sleep(0.2)
        rnd.berth_wall = time.perf_counter() - started
    rnd.source_rss = rss.peak
    if execution["status"] != "Succeed" or execution.get("succeed") != count:
        raise RuntimeError(f"replication execution {execution_id} ended {execution['status']}: "
                           f"{execution.get('succeed')} of {count} tasks succeeded ({execution.get('status_text')})")
    rnd.berth_seconds = harbor_seconds(execution["start_time"], execution["end_time"])


def repl_skopeo_run(workdir: Path, source: Server, dest: Server, password: str, repositories: list[str],
                    namespace: str, rnd: ReplRound) -> None:
    yaml_path = workdir / "skopeo-sync.yaml"
    source_host = source.base.removeprefix("http://")
    yaml_path.write_text(
        f"{source_host}:\n  tls-verify: false\n  credentials:\n    username: admin\n    password: {password}\n"
        "  images:\n" + "".join(f"    {r}: [v1]\n" for r in repositories))
    home = workdir / f"skopeo-home-{namespace}"  # no blob-info cache from another run
    home.mkdir()
    prepare_measurement([])
    started = time.perf_counter()
    rc, _, err = run_child(
        ["skopeo", "sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false",
         "--dest-creds", f"admin:{password}", "--preserve-digests", str(yaml_path),
         f"{dest.base.removeprefix('http://')}/{namespace}"],
        timeout=900, env={"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_RUNTIME_DIR": str(home / "run")})
    rnd.skopeo_seconds = time.perf_counter() - started
    if rc != 0:
        raise RuntimeError(f"skopeo sync failed ({rc}): {err.strip()[-400:]}")


def repl_destination(workdir: Path, name: str, env_args: list[str], berth_env: dict[str, str | None],
                     basic: str, project: str) -> Server:
    """A fresh berth process (its own data folder and SQLite) with one project, as a copy's destination."""
    port, data = free_port(), workdir / f"{name}-data"
    data.mkdir()
    dest = Server(name, [*env_args[:5], str(port), "--data-dir", str(data), *env_args[8:]], data, port,
                  workdir / f"{name}.log", {**berth_env, "BERTH_DATABASE_URL": None})
    log(f"starting {dest.name} on {dest.base}")
    dest.start()
    status, _, body = repl_api(dest, basic, "POST", "/projects", {"project_name": project})
    if status != 201:
        dest.stop()
        raise RequestFailed(f"creating project {project} on {name}", status, body)
    return dest


def replication_figures(workdir: Path, source: Server, admin_password: str, env_args: list[str],
                        berth_env: dict[str, str | None], images: int, layers: int, total: int,
                        rounds: int) -> tuple[list[Target], list[str]]:
    """Push replication from `source` to a fresh berth process (one policy, one execution) next to
    `skopeo sync` of the same images from `source` to another fresh berth process; `rounds` alternate
    which goes first. A fresh destination for every copy: none finds blobs that an earlier one stored."""
    if shutil.which("skopeo") is None:
        raise StartFailed("skopeo is not installed (apt-get install skopeo)")
    basic = API_AUTH[source.base]
    notes: list[str] = []
    status, _, body = repl_api(source, basic, "POST", "/projects", {"project_name": REPL_PROJECT})
    if status not in (201, 409):
        raise RequestFailed(f"creating project {REPL_PROJECT}", status, body)
    repositories = [f"{REPL_PROJECT}/img-{i:02d}" for i in range(images)]
    layer_size = total // (images * layers)
    log(f"seeding {images} images of {layers} × {layer_size / 1e6:.2f} MB layers into {source.name}")
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        sizes = list(pool.map(lambda i: repl_seed_image(source, basic, repositories[i], 15_000 + i, layers,
                                                         layer_size), range(images)))
    copied = sum(sizes)
    results: list[ReplRound] = []
    for r in range(rounds):
        rnd = ReplRound()
        order = ("berth", "skopeo") if r % 2 == 0 else ("skopeo", "berth")
        for who in order:
            namespace = f"{'rp' if who == 'berth' else 'sk'}{r}"
            dest = repl_destination(workdir, f"dest-{namespace}", env_args, berth_env, basic, namespace)
            try:
                settle(source)
                settle(dest)
                cpu_before = (source.cpu_seconds(), dest.cpu_seconds())
                if who == "berth":
                    status, headers, body = repl_api(source, basic, "POST", "/registries", {
                        "name": dest.name, "type": "harbor", "url": dest.base,
                        "credential": {"type": "basic", "access_key": "admin", "access_secret": admin_password}})
                    if status != 201:
                        raise RequestFailed("adding the destination registry", status, body)
                    log(f"round {r + 1}: berth push replication to {dest.name}")
                    repl_berth_run(source, basic, int(headers["location"].rsplit("/", 1)[1]), namespace, rnd, images)
                    log(f"berth: {copied / rnd.berth_seconds / 1e6:,.1f} MB/s ({rnd.berth_seconds:.2f} s; "
                        f"{rnd.berth_wall:.2f} s to seeing it end)")
                else:
                    log(f"round {r + 1}: skopeo sync to {dest.name}")
                    repl_skopeo_run(workdir, source, dest, admin_password, repositories, namespace, rnd)
                    log(f"skopeo: {copied / rnd.skopeo_seconds / 1e6:,.1f} MB/s ({rnd.skopeo_seconds:.2f} s)")
                cpu = (source.cpu_seconds() - cpu_before[0], dest.cpu_seconds() - cpu_before[1])
                setattr(rnd, f"{who}_cpu", cpu)
                log(f"{who}: CPU seconds of the source berth {cpu[0]:.1f}, of the destination {cpu[1]:.1f}")
                # skopeo sync keeps the last path component; the policy flattens the same way (count -1)
                found = repl_check(dest, basic, [f"{namespace}/{repo.rsplit('/', 1)[1]}" for repo in repositories])
                if found != images:
                    raise RuntimeError(f"{dest.name} has {found} of the {images} images under {namespace}/")
            finally:
                dest.stop()
        results.append(rnd)
    ratios = [copied / r.berth_seconds / (copied / r.skopeo_seconds) for r in results]
    middle = sorted(range(len(results)), key=lambda i: ratios[i])[(len(results) - 1) // 2]
    best = results[middle]
    label = f"{images} images × {layers} layers ({copied / 1e6:.0f} MB) berth → berth"
    rows = [
        Target(f"push replication, {label}", "MB/s", "", None, copied / best.berth_seconds / 1e6),
        Target(f"skopeo sync, {label}", "MB/s", "", None, copied / best.skopeo_seconds / 1e6),
        Target("replication / skopeo sync", "×", ">= 1.0", lambda v: v >= 1.0, ratios[middle]),
        Target("source berth peak RSS during the replication", "MiB", "", None, best.source_rss / MiB),
    ]
    notes.append(f"berth: one push policy (Harbor type endpoint), one execution of {images} REPLICATION tasks; "
                 f"MB/s from the execution's start_time to its end_time; skopeo {skopeo_version()}: `skopeo sync "
                 f"--src yaml --dest docker --preserve-digests` of the same {images} tags, wall time")
    if len(results) > 1:
        notes.append("rounds (berth MB/s, skopeo MB/s, ratio): " + "; ".join(
            f"{copied / r.berth_seconds / 1e6:.1f}, {copied / r.skopeo_seconds / 1e6:.1f}, {q:.2f}"
            for r, q in zip(results, ratios, strict=True)) + " (median round shown)")
    notes.append(f"CPU seconds (source berth, destination berth) during the copy: replication "
                 f"{best.berth_cpu[0]:.1f}, {best.berth_cpu[1]:.1f}; skopeo sync {best.skopeo_cpu[0]:.1f}, "
                 f"{best.skopeo_cpu[1]:.1f} (skopeo's own not counted)")
    notes.append(f"berth's run as the bench saw it (POST to the poll that saw it end, every 0.2 s): "
                 f"{best.berth_wall:.2f} s against {best.berth_seconds:.2f} s between the execution's times")
    return rows, notes


def skopeo_version() -> str:
    rc, out, _ = run_child(["skopeo", "--version"], timeout=10)
    return out.split()[-1] if rc == 0 and out.split() else "?"


# ---------------------------------------------------------------- machine / main

def machine_header(args: argparse.Namespace, sizes: list[int]) -> str:
    cpu = "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass

    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
            return out.splitlines()[0] if out else "?"
        except OSError:
            return "?"

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"# berth vs distribution benchmark ({'quick' if args.quick else 'full'}, berth on {args.server})",
        "",
        f"- date: {when}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {mem} RAM, kernel {platform.release()}",
        (
            f"- Python {platform.python_version()}; berth's server: {args.server}; "
            f"peer: {version([PEER_BIN, '--version']).split(' ', 1)[-1]}"
        ),
        f"- clients: {' '.join(version(['curl', '--version']).split()[:2])}, hey (-z {args.duration:g}s), httpx",
        (
            f"- blob sizes: {', '.join(size_label(s) for s in sizes)}; MB/s = 10^6 bytes/s; "
            f"{CONCURRENCY}-client rows are aggregate"
        ),
        "",
    ])


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([KMG]i?B?)?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}")
    unit = (m.group(2) or "M")[0].upper()
    return int(m.group(1)) * {"K": 1 << 10, "M": MiB, "G": GiB}[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 MiB blobs, 3 s load, 1,000 tags")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn", help="berth's ASGI server")
    parser.add_argument("--only", metavar="ROWSPEC", help=f"comma-separated groups: {', '.join(GROUPS)}")
    parser.add_argument("--out", type=Path, help="also write the table as markdown, with a machine header")
    parser.add_argument("--sizes", help="blob sizes, comma-separated (e.g. 256M,1G); default 256M,1G (quick: 64M)")
    parser.add_argument("--s3-size", type=parse_size, default=256 * MiB,
                        help="blob size of the s3 rows (moto keeps objects in memory and is slow; default 256M)")
    parser.add_argument("--duration", type=float, help="seconds per hey figure (default 10, quick 3)")
    parser.add_argument("--tags", type=int, help="tags in the tags-list repository (default 10000, quick 1000)")
    parser.add_argument("--artifacts", type=int,
                        help="artifacts (two tags each) in the artifact-list repository (default 10000, quick 1000)")
    parser.add_argument("--gc-blobs", type=int, help="blobs seeded for the gc group, half unreferenced "
                        "(default 100000, quick 10000)")
    parser.add_argument("--database-url", help="berth's database (default: SQLite in its data folder); "
                        "e.g. the PostgreSQL of scripts/with-postgres: $BERTH_TEST_POSTGRES_URL")
    parser.add_argument("--tmp", type=Path, help="parent folder for the temp folder (default: system temp)")
    parser.add_argument("--pin", action="store_true",
                        help="pin the servers to CPU 0 and the clients (curl, hey, this script) to the other CPUs")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="rounds of each pull and hey figure, servers alternating; the median counts (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (server logs, data)")
    args = parser.parse_args()

    global REPEAT
    REPEAT = max(1, args.repeat)
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs at least 2 CPUs")
        SERVER_CPUS.update(cpus[:1])
        CLIENT_CPUS.update(cpus[1:])
        os.sched_setaffinity(0, CLIENT_CPUS)
    groups = set(GROUPS)
    if args.only:
        groups = {g.strip() for g in args.only.split(",") if g.strip()}
        unknown = groups - set(GROUPS)
        if unknown:
            parser.error(f"--only: unknown group(s) {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    sizes = [parse_size(s) for s in args.sizes.split(",")] if args.sizes else (
        [64 * MiB] if args.quick else [256 * MiB, GiB])
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    tag_count = args.tags or (1000 if args.quick else 10000)
    artifact_count = args.artifacts or (1000 if args.quick else 10000)

    needs_hey = bool(groups & {"manifest", "small", "tags", "artifacts", "sign", "gc"})
    for tool in ("curl", "hey") if needs_hey else ("curl",):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed", file=sys.stderr)
            return 1
    if not BERTH_BIN.exists():
        print(f"bench: {BERTH_BIN} not found (create the venv first)", file=sys.stderr)
        return 1
    if not Path(PEER_BIN).exists():
        print("bench: docker-registry is not installed (apt-get install docker-registry)", file=sys.stderr)
        return 1

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    workdir = Path(tempfile.mkdtemp(prefix="berth-bench-", dir=args.tmp))
    servers: list[Server] = []
    sampler: RssSampler | None = None
    results = Results()
    header = machine_header(args, sizes)
    log(f"temp folder {workdir}")
    try:
        berth_data = workdir / "berth-data"
        peer_data = workdir / "peer-data"
        berth_data.mkdir()
        peer_data.mkdir()
        berth_port, peer_port = free_port(), free_port()
        while peer_port == berth_port:
            peer_port = free_port()
        config_path = workdir / "peer-config.yml"
        config_path.write_text(peer_config(peer_data, peer_port))
        env_args = [str(BERTH_BIN), "serve", "--host", "127.0.0.1", "--port", str(berth_port),
                    "--data-dir", str(berth_data), "--server", args.server]
        admin_password = "Bench-" + os.urandom(8).hex()
        berth_env = {"BERTH_ADMIN_PASSWORD": admin_password,
                     "BERTH_CONFIGURATIONS": json.dumps({"token_expiration": 24 * 60})}
        if args.database_url:
            berth_env["BERTH_DATABASE_URL"] = args.database_url
        servers = [
            Server("berth", env_args, berth_data, berth_port, workdir / "berth.log", berth_env),
            Server("peer", [PEER_BIN, "serve", str(config_path)], peer_data, peer_port, workdir / "peer.log"),
        ]
        for server in servers:
            log(f"starting {server.name} on {server.base}")
            try:
                server.start()
            except StartFailed as exc:
                print(f"bench: {exc}; last lines of its log ({server.log_path}):", file=sys.stderr)
                print(server.log_tail(), file=sys.stderr)
                return 1
        log_in_to_berth(servers[0], admin_password)
        metered: Server | None = None
        if "metrics" in groups:
            metered_port, metered_data = free_port(), workdir / "metered-data"
            metered_data.mkdir()
            metered = Server("berth+metrics", [*env_args[:5], str(metered_port), "--data-dir", str(metered_data),
                                               *env_args[8:]],
                             metered_data, metered_port, workdir / "metered.log",
                             {**berth_env, "BERTH_METRIC_ENABLED": "true"})
            if args.database_url:  # its own database: SQLite (GET by tag is answered from the cache in both)
                metered.env.pop("BERTH_DATABASE_URL")  # type: ignore[union-attr]
            log(f"starting {metered.name} on {metered.base}")
            servers.append(metered)
            metered.start()
            log_in_to_berth(metered, admin_password)
        sampler = RssSampler(servers)
        sampler.start()

        if groups & {"push", "pull", "chunked"}:
            blobs = generate_blobs(workdir / "blobs", sizes, extra=1 if "chunked" in groups else 0,
                                   monolithic=bool(groups & {"push", "pull"}))
            blob_figures(servers[:2], results, blobs, "push" in groups, "pull" in groups, "chunked" in groups)
        if "s3" in groups:
            s3_figures(results, workdir, args.s3_size, admin_password, args.server)
        config, layer = make_image()
        if groups & {"manifest", "small"}:
            image_figures(results, servers[:2], config, layer, groups, args.duration)
        if "tags" in groups:
            tag_figures(results, servers[:2], config, layer, tag_count, args.duration)
        if "artifacts" in groups:
            artifact_figures(results, servers[:2], config, layer, artifact_count, args.duration)
        if "ui" in groups:
            ui_figures(results, servers[:2], config, layer, artifact_count, admin_password)
        scan_rows: list[Target] = []
        scan_notes: list[str] = []
        if "scan" in groups:
            scan_rows, scan_notes = scan_figures(workdir, servers[0], args.database_url, args.duration)
        sign_rows: list[Target] = []
        sign_notes: list[str] = []
        if "sign" in groups:
            sign_rows, sign_notes = sign_figures(workdir, servers[0], config, layer, args.duration)
        gc_rows: list[Target] = []
        gc_notes: list[str] = []
        repl_rows: list[Target] = []
        repl_notes: list[str] = []
        if "replication" in groups:
            repl_rows, repl_notes = replication_figures(workdir, servers[0], admin_password, env_args, berth_env,
                                                        50, 5, 200 * 10**6, REPEAT)
        if "gc" in groups:
            gc_rows, gc_notes = gc_figures(workdir, servers[0], config, layer, args.database_url, args.duration,
                                           args.gc_blobs or (10_000 if args.quick else 100_000))
        proxy_rows: list[Target] = []
        proxy_notes: list[str] = []
        if "proxy" in groups:
            proxy_rows, proxy_notes = proxy_figures(workdir, servers[0], servers[1], 4,
                                                    16 * MiB if args.quick else 64 * MiB)
        metered_results = Results()
        if metered is not None:
            metrics_figures(metered_results, [servers[0], metered], config, layer, args.duration)

        sampler.stop()
        rss_row = results.row("peak RSS, whole run", "MiB", higher_is_better=False)
        cpu_row = results.row("server CPU time, whole run", "s", higher_is_better=False)
        for server in servers:
            rss_row.values[server.name] = server.peak_rss / MiB
            cpu_row.values[server.name] = server.cpu_seconds()
            if not server.alive():
                results.failure(server.name, "process", f"exited with status {server.proc.returncode} during the run")
                log(f"{server.name} log tail:\n{server.log_tail()}")

        table = render_table(results, ("berth", "peer"))
        legend = ("↑ higher is better, ↓ lower is better; @N = concurrent connections; "
                  "pushes are POST + one PUT with the whole blob (curl -T), the same for both.")
        if metered_results.rows:
            table += "\n\nMetrics off and on (two berth processes, the same build):\n\n" + render_table(
                metered_results, ("berth", "berth+metrics"))
        if scan_rows:
            table += "\n\nScanning (`berth vulndb import`, `berth scan`; targets from issue 12):\n\n" + render_targets(
                scan_rows) + "\n" + "".join(f"\n- {n}" for n in scan_notes)
        if sign_rows:
            table += ("\n\nSigning (trust policy `enforce` with a cosign key, `berth sign`; targets from the "
                      "signing issue):\n\n" + render_targets(sign_rows) + "\n" + "".join(f"\n- {n}" for n in sign_notes))
        if gc_rows:
            table += ("\n\nGarbage collection (`berth gc` while serving; targets from issue 14):\n\n"
                      + render_targets(gc_rows) + "\n" + "".join(f"\n- {n}" for n in gc_notes))
        if repl_rows:
            table += ("\n\nReplication (a push policy to a second berth, and `skopeo sync` between the same two; "
                      "targets from issue 15):\n\n" + render_targets(repl_rows) + "\n"
                      + "".join(f"\n- {n}" for n in repl_notes))
        if proxy_rows:
            table += ("\n\nProxy cache (a proxy project over the peer; targets from issue 15):\n\n"
                      + render_targets(proxy_rows) + "\n" + "".join(f"\n- {n}" for n in proxy_notes))
        notes = "".join(f"\n- {n}" for n in results.notes + metered_results.notes)
        body = f"{table}\n\n{legend}\n" + (f"\nFailures:{notes}\n" if notes else "")
        print(header, file=sys.stderr)
        print(body)
        if args.out:
            args.out.write_text(f"{header}\n{body}")
            log(f"wrote {args.out}")
        return 0
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        # Each step on its own, so that one failing cannot leave a server running.
        for step in ([sampler.stop] if sampler is not None else []) + [end_children] + [s.stop for s in servers]:
            try:
                step()
            except BaseException as exc:  # noqa: BLE001 - keep cleaning up, even on a second Ctrl-C
                log(f"cleanup: {type(exc).__name__}: {exc}")
        for server in servers:  # last resort
            if server.alive():
                try:
                    os.killpg(server.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

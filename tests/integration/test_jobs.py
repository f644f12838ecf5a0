"""Durable jobs on the wire: berth processes (serve and `berth worker`) claim, run, retry and re-run
jobs stored in SQLite or PostgreSQL. The job kinds are tests/jobkinds.py, plugged in by setting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from berth.db.models import Execution, Schedule, Task, TaskLog
from berth.db.session import Database, run_migrations
from berth.jobs.store import JobStore
from tests.conftest import BERTH, REPO, _fresh_postgres_database

JOB_ENV = {
    "PYTHONPATH": str(REPO),
    "BERTH_EXTRA_JOB_KINDS": '["tests.jobkinds:EFFECT", "tests.jobkinds:FLAKY"]',
    "BERTH_JOB_POLL_SECONDS": "0.2",
    "BERTH_JOB_RETRY_BASE_SECONDS": "0.5",
    "BERTH_SCHEDULE_POLL_SECONDS": "0.5",
}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@dataclass
class Store:
    """The test's own view of the job tables of one database."""

    url: str

    async def _with(self, fn: Callable[[Database, JobStore], Any]) -> Any:
        db = Database(self.url)
        try:
            return await fn(db, JobStore(db))
        finally:
            await db.close()

    def submit(self, kind: str, parameters: dict[str, Any], max_attempts: int = 1) -> int:
        async def go(db: Database, store: JobStore) -> int:
            return (await store.submit("TEST", 0, kind, parameters, max_attempts=max_attempts))[1]
        return run(self._with(go))

    def task(self, task_id: int) -> Any:
        async def go(db: Database, store: JobStore) -> Any:
            async with db.read() as conn:
                return (await conn.execute(select(Task).where(Task.id == task_id))).first()
        return run(self._with(go))

    def log(self, task_id: int) -> list[str]:
        async def go(db: Database, store: JobStore) -> list[str]:
            async with db.read() as conn:
                return list((await conn.execute(
                    select(TaskLog.line).where(TaskLog.task_id == task_id).order_by(TaskLog.id))).scalars())
        return run(self._with(go))

    def executions(self, vendor_type: str) -> list[Any]:
        async def go(db: Database, store: JobStore) -> list[Any]:
            async with db.read() as conn:
                return list((await conn.execute(
                    select(Execution).where(Execution.vendor_type == vendor_type).order_by(Execution.id))).all())
        return run(self._with(go))

    def add_schedule(self, cron: str, kind: str, parameters: dict[str, Any], last_tick: datetime,
                     vendor_type: str = "TEST_SCHEDULE") -> None:
        async def go(db: Database, store: JobStore) -> None:
            async with db.write() as conn:
                await conn.execute(db.insert(Schedule).values(
                    vendor_type=vendor_type, vendor_id=1, schedule_type="Custom", cron=cron, kind=kind,
                    parameters=json.dumps(parameters), last_tick=last_tick))
        run(self._with(go))

    def wait(self, task_id: int, status: str | tuple[str, ...], timeout: float = 30.0) -> Any:
        wanted = (status,) if isinstance(status, str) else status
        deadline = time.monotonic() + timeout
        while True:
            row = self.task(task_id)
            if row is not None and row.status in wanted:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} is {row.status if row else None}, not {wanted}")
            time.sleep(0.1)


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `berth worker` processes on a database; all are killed after the test."""
    started: list[subprocess.Popen] = []

    def start(data_dir: Path, env: dict[str, str]) -> subprocess.Popen:
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen([BERTH, "worker", "--data-dir", str(data_dir)], stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, **JOB_ENV, **env})
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'berth.db').resolve()}"


def test_jobs_run_in_the_server_and_keep_their_log(start_server, tmp_path) -> None:
    server = start_server(env=JOB_ENV)
    store = Store(_sqlite_url(server.data_dir))
    task_id = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "one"})
    row = store.wait(task_id, "Success")
    assert row.run_count == 1 and row.status_message == "effect one"
    assert (tmp_path / "effects").read_text() == "one\n"
    lines = store.log(task_id)
    assert "attempt 1 of 1 started" in lines[0] and "effect one done" in lines and "succeeded" in lines[-1]
    [execution] = store.executions("TEST")
    assert execution.status == "Success" and execution.end_time is not None


def test_failed_attempts_are_retried_with_exponential_backoff(start_server) -> None:
    server = start_server(env=JOB_ENV)
    store = Store(_sqlite_url(server.data_dir))
    task_id = store.submit("TEST_FLAKY", {"failures": 2}, max_attempts=4)
    row = store.wait(task_id, "Success")
    assert row.run_count == 3
    lines = store.log(task_id)
    assert [line.split(" ", 1)[1] for line in lines if "retrying" in line] == [
        "failed: planned failure 1; retrying in 0.5 s", "failed: planned failure 2; retrying in 1 s"]
    # a job that keeps failing ends in Error after its last attempt
    failing = store.submit("TEST_FLAKY", {"failures": 9}, max_attempts=2)
    row = store.wait(failing, "Error")
    assert row.run_count == 2 and row.status_message == "planned failure 2"
    assert store.executions("TEST")[-1].status == "Error"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_job_whose_worker_is_killed_runs_again_after_its_lease_and_its_effect_happens_once(
    database, database_urls, workers, tmp_path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {"BERTH_JOB_LEASE_SECONDS": "1.5"}
    if database == "postgresql":
        if not database_urls["postgresql"]:
            pytest.skip("PostgreSQL not configured (run through make test)")
        env["BERTH_DATABASE_URL"] = url = _fresh_postgres_database(database_urls["postgresql"], "berth_jobs_kill")
    else:
        url = _sqlite_url(data_dir)
    run_migrations(url)
    store = Store(url)
    first = workers(data_dir, env)
    task_id = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "k", "sleep": 4})
    deadline = time.monotonic() + 30
    while not (tmp_path / "effects").exists():  # the effect is done, the job still runs
        assert time.monotonic() < deadline, "the first worker never ran the job"
        time.sleep(0.05)
    assert store.task(task_id).status == "Running"
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = workers(data_dir, env)
    row = store.wait(task_id, "Success", timeout=40)
    assert second.poll() is None
    assert row.run_count == 2
    assert (tmp_path / "effects").read_text() == "k\n", "the effect happened twice"
    assert len((tmp_path / "runs").read_text().splitlines()) == 1  # the killed run never finished
    lines = store.log(task_id)
    assert any("re-run: the worker running it stopped renewing its lease" in line for line in lines)
    assert "effect k already done: skipped" in lines


def test_two_workers_on_postgresql_never_run_a_job_twice_and_a_schedule_fires_once_per_tick(
    database_urls, workers, tmp_path,
) -> None:
    if not database_urls["postgresql"]:
        if os.environ.get("CI"):
            pytest.fail("BERTH_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (run through make test)")
    url = _fresh_postgres_database(database_urls["postgresql"], "berth_jobs_two")
    run_migrations(url)
    store = Store(url)
    env = {"BERTH_DATABASE_URL": url, "BERTH_WORKERS": "3"}
    # one tick, 10 s from now (about when the jobs below are done): both workers' schedulers race for it (the
    # scheduler takes any second; the API's Harbor rule of a 0 second would make it a whole minute)
    now = datetime.now(UTC)
    tick = (now + timedelta(seconds=10)).replace(microsecond=0)
    store.add_schedule(f"{tick.second} {tick.minute} {tick.hour} * * *", "TEST_EFFECT",
                       {"dir": str(tmp_path / "tick"), "key": "tick"}, now)
    (tmp_path / "tick").mkdir()
    # an hourly schedule whose processes were down for three hours: it fires once, not three times
    store.add_schedule("0 0 * * * *", "TEST_EFFECT", {"dir": str(tmp_path / "missed"), "key": "missed"},
                       now - timedelta(hours=3), vendor_type="TEST_MISSED")
    (tmp_path / "missed").mkdir()
    pids = {workers(tmp_path / "data", env).pid, workers(tmp_path / "data", env).pid}
    ids = [store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": f"j{i}", "sleep": 0.2}) for i in range(40)]
    for task_id in ids:
        assert store.wait(task_id, "Success").run_count == 1
    runs = [line.split() for line in (tmp_path / "runs").read_text().splitlines()]
    assert sorted(run[0] for run in runs) == sorted(f"j{i}" for i in range(40)), "a job ran twice or never"
    assert {int(run[1]) for run in runs} == pids, "both workers should have taken jobs"
    # wait past the tick, and a little more for both schedulers to have looked
    time.sleep(max(0.0, (tick - datetime.now(UTC)).total_seconds()) + 3)
    assert len(store.executions("TEST_MISSED")) == 1
    fired = store.executions("TEST_SCHEDULE")
    assert len(fired) == 1, f"{len(fired)} executions for one tick"
    assert fired[0].trigger == "SCHEDULE"
    deadline = time.monotonic() + 20
    while not (tmp_path / "tick" / "effects").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (tmp_path / "tick" / "effects").read_text() == "tick\n"


def test_jobservice_api_shows_pools_workers_queues_and_stops_jobs(start_server, tmp_path) -> None:
    server = start_server(env={**JOB_ENV, "BERTH_WORKERS": "2"})
    store = Store(_sqlite_url(server.data_dir))
    with server.client() as http:
        [pool] = http.get("/api/v2.0/jobservice/pools").json()
        assert pool["concurrency"] == 2 and pool["pid"] > 0 and pool["heartbeat_at"].endswith("Z")
        long = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "long", "sleep": 30})
        store.wait(long, "Running")
        workers = http.get(f"/api/v2.0/jobservice/pools/{pool['worker_pool_id']}/workers").json()
        assert len(workers) == 2
        busy = [w for w in workers if w.get("job_id")]
        assert busy == [{"id": busy[0]["id"], "pool_id": pool["worker_pool_id"], "job_name": "TEST_EFFECT",
                         "job_id": str(long), "start_at": busy[0]["start_at"], "checkin_at": busy[0]["checkin_at"]}]
        assert http.get("/api/v2.0/jobservice/pools/all/workers").json() == workers
        unknown_pool = http.get("/api/v2.0/jobservice/pools/nope/workers")  # Harbor: no such pool, no workers
        assert unknown_pool.status_code == 200 and unknown_pool.json() == []
        # stop the running job: it ends Stopped at the worker's next heartbeat
        assert http.put(f"/api/v2.0/jobservice/jobs/{long}").status_code == 200
        assert store.wait(long, "Stopped", timeout=60).status_message == "stopped"
        assert "stopped on request" in http.get(f"/api/v2.0/jobservice/jobs/{long}/log").text
        assert http.get("/api/v2.0/jobservice/jobs/999999/log").status_code == 404
        # a job that is not running (ended, never known) is taken as already done, as in Harbor
        for done in (str(long), "999999", "not-a-task-id"):
            stopped = http.put(f"/api/v2.0/jobservice/jobs/{done}")
            assert (stopped.status_code, stopped.content) == (200, b""), stopped.text
        assert store.task(long).status == "Stopped"

        # a paused queue keeps its jobs pending; resume runs them; stop clears them
        paused = http.put("/api/v2.0/jobservice/queues/test_effect", json={"action": "pause"})
        assert (paused.status_code, paused.content) == (200, b"")
        waiting = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "waiting"})
        time.sleep(1)
        assert store.task(waiting).status == "Pending"
        queues = {q["job_type"]: q for q in http.get("/api/v2.0/jobservice/queues").json()}
        assert queues["TEST_EFFECT"]["paused"] is True and queues["TEST_EFFECT"]["count"] == 1
        assert {"SCHEDULER", "TEST_FLAKY"} <= set(queues)
        # an empty queue leaves count and latency out, as Harbor's omitempty does; paused is always sent
        assert queues["TEST_FLAKY"] == {"job_type": "TEST_FLAKY", "paused": False}
        assert http.put("/api/v2.0/jobservice/queues/TEST_EFFECT", json={"action": "resume"}).status_code == 200
        store.wait(waiting, "Success")
        http.put("/api/v2.0/jobservice/queues/TEST_EFFECT", json={"action": "pause"})
        dropped = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "dropped"})
        stop_all = http.put("/api/v2.0/jobservice/queues/all", json={"action": "stop"})
        assert (stop_all.status_code, stop_all.content) == (200, b"")
        assert store.task(dropped).status == "Stopped"
        assert not (tmp_path / "done-dropped").exists()

        # bad input: Harbor's errors
        bad = http.put("/api/v2.0/jobservice/queues/TEST_EFFECT", json={"action": "explode"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["message"] == "the action is not supported"
        for action in ("pause", "stop", "resume"):  # a type berth does not run: an empty queue, as in Harbor
            no_such = http.put("/api/v2.0/jobservice/queues/NO_SUCH", json={"action": action})
            assert (no_such.status_code, no_such.content) == (200, b""), no_such.text
        assert "NO_SUCH" not in {q["job_type"] for q in http.get("/api/v2.0/jobservice/queues").json()}

        # schedules: the list, and the scheduler paused through its queue
        store.add_schedule("0 0 3 * * *", "TEST_EFFECT", {"dir": str(tmp_path), "key": "nightly"}, datetime.now(UTC))
        listed = {s["vendor_type"]: s for s in http.get("/api/v2.0/schedules").json()}
        assert listed["TEST_SCHEDULE"]["cron"] == "0 0 3 * * *"
        assert listed["EXECUTION_SWEEP"]["cron"] == "0 0 0 * * *"  # berth's own, daily, as Harbor's
        assert http.get("/api/v2.0/schedules/all/paused").json() == {"paused": False}
        http.put("/api/v2.0/jobservice/queues/SCHEDULER", json={"action": "pause"})
        assert http.get("/api/v2.0/schedules/all/paused").json() == {"paused": True}
        assert http.get("/api/v2.0/schedules/gc/paused").status_code == 400

        # only system administrators
        http.post("/api/v2.0/users", json={"username": "jobwatcher", "email": "jw@example.com",
                                           "realname": "J W", "password": "Passw0rd!x"})
    with server.client(("jobwatcher", "Passw0rd!x")) as user:
        assert user.get("/api/v2.0/jobservice/pools").status_code == 403
        assert user.put(f"/api/v2.0/jobservice/jobs/{long}").status_code == 403
        assert user.get("/api/v2.0/schedules").status_code == 403
        assert user.get("/api/v2.0/schedules/all/paused").status_code == 200
    with server.client(None) as anonymous:
        assert anonymous.get("/api/v2.0/jobservice/queues").status_code == 401
        assert anonymous.get("/api/v2.0/schedules/all/paused").status_code == 401


def test_a_stopped_worker_hands_its_running_job_back_at_once(workers, tmp_path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = _sqlite_url(data_dir)
    run_migrations(url)
    store = Store(url)
    first = workers(data_dir, {})
    task_id = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "handed", "sleep": 60})
    store.wait(task_id, "Running")
    first.send_signal(signal.SIGTERM)
    assert first.wait(20) == 0
    row = store.task(task_id)
    assert row.status == "Pending" and row.run_count == 0 and row.lease_owner is None
    assert any("interrupted: the worker stopped" in line for line in store.log(task_id))
    workers(data_dir, {})
    assert store.wait(task_id, "Running").run_count == 1  # at once, not after a lease


def test_a_server_without_jobs_leaves_them_to_a_worker_process(start_server, workers, tmp_path) -> None:
    server = start_server(env={**JOB_ENV, "BERTH_JOBS": "false"})
    store = Store(_sqlite_url(server.data_dir))
    task_id = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "elsewhere"})
    with server.client() as http:
        assert http.get("/api/v2.0/jobservice/pools").json() == []
        time.sleep(1)
        assert store.task(task_id).status == "Pending"
        workers(server.data_dir, {})
        store.wait(task_id, "Success")
        [pool] = http.get("/api/v2.0/jobservice/pools").json()
        assert pool["concurrency"] == 4


def test_a_worker_that_lost_its_lease_cannot_finish_retry_or_stop_the_new_owners_run(tmp_path) -> None:
    url = _sqlite_url(tmp_path)
    run_migrations(url)

    async def scenario() -> tuple[Any, ...]:
        db = Database(url)
        store = JobStore(db)
        try:
            _, task_id = await store.submit("TEST", 0, "TEST_EFFECT", {}, max_attempts=3)
            [old] = await store.claim(["a/0"], ["TEST_EFFECT"], lease_seconds=0.05)
            await asyncio.sleep(0.1)  # a's lease runs out (its heartbeats did not get through)
            [new] = await store.claim(["b/0"], ["TEST_EFFECT"], lease_seconds=60)
            late = (await store.finish(old, "Success", "a's late result"),
                    await store.retry(old, "a failed", 0))
            await store.release(old)
            async with db.read() as conn:
                row = (await conn.execute(select(Task).where(Task.id == task_id))).first()
            # a stop asked for while the task runs reaches the running worker, and a claim that
            # happens between a stop's read and write is not overwritten
            await store.stop_task(task_id)
            async with db.read() as conn:
                stopped = (await conn.execute(select(Task).where(Task.id == task_id))).first()
            done = await store.finish(new, "Stopped", "stopped")
            return late, row, new, stopped, done
        finally:
            await db.close()

    late, row, new, stopped, done = asyncio.run(scenario())
    assert late == (False, False)
    assert (row.status, row.lease_owner, row.run_count) == ("Running", "b/0", 2)
    assert new.run_count == 2
    assert stopped.status == "Running" and stopped.stop_requested
    assert done is True


def test_a_kind_at_its_running_limit_leaves_the_free_slots_to_other_kinds(tmp_path) -> None:
    """Scans are limited (max_running): with ten queued before a webhook delivery, a pool of four
    slots with room for one scan claims one scan and the delivery, and leaves the other scans queued."""
    url = _sqlite_url(tmp_path)
    run_migrations(url)

    async def scenario() -> tuple[list[str], list[str]]:
        db = Database(url)
        store = JobStore(db)
        try:
            for _ in range(10):
                await store.submit("SCAN", 0, "HEAVY", {})
            await store.submit("DELIVERY", 0, "LIGHT", {})
            first = await store.claim(["p/0", "p/1", "p/2", "p/3"], ["HEAVY", "LIGHT"], 60, {"HEAVY": 1})
            full = await store.claim(["p/2", "p/3"], ["HEAVY", "LIGHT"], 60, {"HEAVY": 0})
            return [c.kind for c in first], [c.kind for c in full]
        finally:
            await db.close()

    first, full = asyncio.run(scenario())
    assert sorted(first) == ["HEAVY", "LIGHT"]
    assert full == []


def test_the_execution_sweep_keeps_the_newest_executions_of_each_vendor(start_server, tmp_path) -> None:
    server = start_server(env=JOB_ENV)
    store = Store(_sqlite_url(server.data_dir))
    ids = [store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": f"s{i}"}) for i in range(6)]
    for task_id in ids:
        store.wait(task_id, "Success")
    running = store.submit("TEST_EFFECT", {"dir": str(tmp_path), "key": "long", "sleep": 30})
    store.wait(running, "Running")
    sweep = Store(store.url)

    async def submit_sweep(db: Database, jobs: JobStore) -> int:
        return (await jobs.submit("EXECUTION_SWEEP", -1, "EXECUTION_SWEEP", {"retain": {"TEST": 3}}))[1]
    sweep_id = run(sweep._with(submit_sweep))
    assert "TEST: kept the newest 3 per vendor, deleted 4 older executions" in "\n".join(
        store.log(store.wait(sweep_id, "Success").id))
    kept = [e.id for e in store.executions("TEST")]
    # the newest three stay, the running one among them; the older, ended ones went with their tasks
    assert len(kept) == 3 and store.task(running).status == "Running"
    assert store.task(ids[0]) is None and store.task(ids[-1]) is not None

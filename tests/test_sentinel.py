"""Corral on a Sentinel-managed primary: `corral up` serves and runs jobs, and workers live through a failover."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import redis

from corral.app import Corral
from corral.connection import redis_client
from corral.errors import CorralError
from sentinel_support import SentinelDeployment

from corral_up import CORRAL_COMMAND, CorralUp, user_environment, wait_for_job
from owned_processes import OutputWatcher, ProcessGroup

SERVICE = """
import asyncio

from corral import Corral, JobContext, JobContract, QueueConfig

app = Corral("failover-service")
app.add_queue(QueueConfig("work", concurrency=4, attempts=3, backoff_ms=100))


class Touch(JobContract):
    n: int


@app.job("work.touch", queue="work")
async def touch(ctx: JobContext, payload: Touch) -> dict:
    await asyncio.sleep(0.05)
    return {"n": payload.n}
"""


def load_service(directory: Path) -> ModuleType:
    """Write the user's module to `directory` and import it here too (the worker imports it from PYTHONPATH)."""
    directory.mkdir()
    path = directory / "failoverservice.py"
    path.write_text(SERVICE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("failoverservice", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["failoverservice"] = module
    spec.loader.exec_module(module)
    return module


async def wait_until_counts(app: Corral, url: str, done: int, timeout: float = 240.0) -> dict[str, int]:
    """Poll the queue's counts (through the Sentinel URL) until `done` jobs completed; returns the counts."""
    producer = app.producer(url)
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    try:
        while True:
            try:
                counts = await producer.engine.counts("work")
            except (redis.RedisError, CorralError):
                counts = {}  # asked while the primary is changing
            if counts.get("completed", 0) >= done:
                return counts
            assert time.monotonic() < deadline, f"not {done} completed within {timeout:g}s: {counts}"
            await asyncio.sleep(0.2)
    finally:
        await producer.close()


async def enqueue(app: Corral, url: str, first: int, count: int) -> None:
    producer = app.producer(url)
    try:
        await producer.enqueue_bulk([("work.touch", {"n": n}) for n in range(first, first + count)])
    finally:
        await producer.close()


def run_mail_job(client: httpx.Client) -> None:
    """Enqueue a mail through the API and wait until a worker has sent it."""
    job = {"name": "email.send", "payload": {"to": ["a@example.com"], "subject": "S", "text": "T"}}
    created = client.post("/owner/jobs", json=job)
    assert created.status_code == 201, created.text
    wait_for_job(client, "email", created.json()["id"])


def wait_until_served(client: httpx.Client, timeout: float = 120.0) -> None:
    """Until the API serves the owner again (while its probe of Redis fails it answers 503 with Retry-After)."""
    deadline = time.monotonic() + timeout
    while (answer := client.get("/owner/queues")).status_code != 200:
        assert answer.status_code == 503, answer.text
        assert time.monotonic() < deadline, f"not healthy within {timeout:g}s: {answer.text}"
        time.sleep(0.2)


@pytest.mark.timeout(400)
def test_corral_up_on_a_sentinel_url_serves_the_owner_runs_jobs_and_follows_a_failover(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given a primary, a replica and three sentinels, and `corral up` given only their Sentinel URL
    deployment = SentinelDeployment(processes, tmp_path / "sentinel")
    up = CorralUp(processes, tmp_path / "data", CORRAL_REDIS_URL=deployment.url)
    # Then it starts no embedded server and says where it found the primary, without the password
    up.output.wait_for("using Redis", timeout=60)
    assert "a-sentinel-test-password" not in up.log()
    client = up.owner()
    try:
        # And the owner signs in (sessions, CSRF and rate limits on the primary) and a mail job is run by a worker
        run_mail_job(client)
        assert client.get("/healthz").json()["redis"] == "ok"
        primary = deployment.server(deployment.first_primary)
        try:
            assert primary.keys("corral:q:email:*")
            assert primary.execute_command("WAIT", 1, 30_000) == 1
        finally:
            primary.close()
        # When the primary crashes and the sentinels promote the replica
        deployment.kill(deployment.first_primary)
        deployment.wait_for_failover(deployment.first_primary)
        # Then the API answers again by itself, the owner's session (replicated) still holds, and a new job runs
        wait_until_served(client)
        run_mail_job(client)
        assert client.get("/healthz").json()["redis"] == "ok"
        assert up.process.poll() is None
    finally:
        client.close()


@pytest.mark.timeout(600)
def test_workers_go_on_through_a_primary_failover_and_no_acknowledged_job_is_lost(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given a Sentinel deployment and a user's app with one queue, and two `corral worker` processes on its URL
    deployment = SentinelDeployment(processes, tmp_path / "sentinel")
    app: Corral = load_service(tmp_path / "code").app
    path = os.pathsep.join(filter(None, [str(tmp_path / "code"), os.environ.get("PYTHONPATH")]))
    env = user_environment(CORRAL_REDIS_URL=deployment.url, CORRAL_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=path)
    workers = []
    for _ in range(2):
        worker = processes.spawn(
            [CORRAL_COMMAND, "--app", "failoverservice:app", "worker"], env=env, stderr=subprocess.PIPE, text=True
        )
        assert worker.stderr is not None
        workers.append((worker, OutputWatcher(worker.stderr)))
    for _, output in workers:
        output.wait_for("worker runtime consuming work", timeout=120)
    # And 400 jobs enqueued and acknowledged by the primary and its replica (WAIT: the replica has every write)
    asyncio.run(enqueue(app, deployment.url, 0, 400))
    old = deployment.server(deployment.first_primary)
    try:
        assert old.execute_command("WAIT", 1, 30_000) >= 1
    finally:
        old.close()
    asyncio.run(wait_until_counts(app, deployment.url, 40))
    # When the primary crashes (SIGKILL) while the workers are busy, and the sentinels promote the replica
    deployment.kill(deployment.first_primary)
    new_primary = deployment.wait_for_failover(deployment.first_primary)
    # And 100 more jobs are enqueued through the same Sentinel URL after the failover
    asyncio.run(enqueue(app, deployment.url, 400, 100))
    # Then every one of the 500 jobs completes on the new primary, none failed, none was given up on
    counts = asyncio.run(wait_until_counts(app, deployment.url, 500))
    assert counts["completed"] == 500 and counts["failed"] == 0, counts
    assert counts["waiting"] == 0 and counts["active"] == 0, counts
    # And the workers reconnected by themselves: both still run, and the new primary serves them
    # (the 100 enqueued after it could only be run by workers connected to the new primary)
    assert all(worker.poll() is None for worker, _ in workers), [output.text()[-2_000:] for _, output in workers]
    assert deployment.primary_port() == new_primary


def test_a_sentinel_client_follows_the_primary_and_closes_its_sentinel_connections(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given a Sentinel deployment
    deployment = SentinelDeployment(processes, tmp_path / "sentinel")

    async def scenario() -> tuple[str, int]:
        # When Corral's client writes through the Sentinel URL and is closed
        client = redis_client(deployment.url)
        try:
            await client.set("corral:probe", "1")
            role = (await client.info("replication"))["role"]
            port = int((await client.config_get("port"))["port"])
        finally:
            await client.aclose()
        return role, port

    role, port = asyncio.run(scenario())
    # Then it wrote on the primary the sentinels name (and closing left no connection to warn about)
    assert (role, port) == ("master", deployment.first_primary)

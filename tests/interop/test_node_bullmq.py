"""Interop with Node BullMQ (npm `bullmq`) on the same queues: both directions, on the session's real Valkey."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.dlq.store import DeadLetterStore
from corral.handlers import HandlerSet, JobContext
from corral.keys import Keys

from support import Echo, eventually, make_registry

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def node_bullmq() -> Iterator[Path]:
    """The folder of the Node peers, with npm `bullmq` installed from the registry (skipped without Node outside CI)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "Node.js and npm are needed for the interop tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not (HERE / "node_modules" / "bullmq").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True, timeout=600)
    yield HERE


def node(folder: Path, script: str, *args: str, timeout: float = 120) -> list[str]:
    result = subprocess.run(
        ["node", str(folder / script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


async def test_a_node_producers_jobs_run_on_corral_and_bad_ones_reach_the_dlq_with_the_reason(
    node_bullmq, valkey_url, keys: Keys, start_runtime, engine, redis_client
) -> None:
    # Given a Corral worker on queue `work`
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def echo(ctx: JobContext, payload: Echo) -> dict[str, int]:
        return {"value": payload.value}

    registry = make_registry(attempts=3, backoff_ms=10)
    await start_runtime(registry, handlers)
    # When a Node producer adds a valid job and one whose payload breaks the contract
    jobs = [
        {"name": "test.echo", "data": {"value": 7}, "opts": {"attempts": 3}},
        {"name": "test.echo", "data": {"value": -1}, "opts": {"attempts": 3}},
    ]
    [line] = await _in_thread(
        node, node_bullmq, "producer.mjs", valkey_url, keys.bullmq_prefix, "work", json.dumps(jobs)
    )
    good, bad = json.loads(line)
    # Then Corral runs the valid one
    done = await eventually(lambda: _finished(engine, good), timeout=60)
    assert done.state == "completed" and done.return_value["value"] == 7
    # And the bad one fails at once, without retries, into one DLQ entry naming the field
    dlq = DeadLetterStore(redis_client, keys)
    await eventually(lambda: _count(dlq, 1), timeout=60)
    [entry] = await dlq.recent(limit=10)
    assert entry.job_id == bad and entry.attempts_made == 1
    assert "contract violation" in entry.failed_reason and "value" in entry.failed_reason


async def test_a_node_worker_runs_fails_once_and_retries_corrals_jobs_with_corrals_backoff(
    node_bullmq, valkey_url, keys: Keys, make_producer, engine
) -> None:
    # Given three jobs enqueued by Corral on a queue with 300 ms exponential backoff and 50 % jitter
    registry = make_registry(attempts=3, backoff_ms=300, jitter=0.5)
    ids = [await make_producer(registry).enqueue("test.echo", {"value": n}) for n in range(3)]
    # When a Node BullMQ worker consumes the queue, failing each job's first attempt
    lines = await _in_thread(node, node_bullmq, "worker.mjs", valkey_url, keys.bullmq_prefix, "work", "3")
    events = [json.loads(line) for line in lines]
    # Then it understood Corral's job options (no unknown backoff strategy) and completed every job on its second
    # attempt, after at least the jittered backoff's lower bound
    assert not [e for e in events if e["event"] == "error"], events
    assert {e["reason"] for e in events if e["event"] == "failed"} == {"first attempt fails on purpose"}
    for job_id in ids:
        attempts = [e["at"] for e in events if e["event"] == "attempt" and e["id"] == job_id]
        assert len(attempts) == 2, events
        assert attempts[1] - attempts[0] >= 150
        job = await engine.get_job("work", job_id)
        assert job is not None and job.state == "completed"
        assert job.attempts_made == 2 and job.return_value["by"] == "node"
    assert job.opts["backoff"] == {"type": "exponential", "delay": 300, "jitter": 0.5}


async def _in_thread(function, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(function, *args)


async def _finished(engine, job_id: str):  # type: ignore[no-untyped-def]
    job = await engine.get_job("work", job_id)
    return job if job is not None and job.state in {"completed", "failed"} else None


async def _count(dlq: DeadLetterStore, expected: int) -> bool:
    return await dlq.count() == expected

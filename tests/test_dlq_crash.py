"""DLQ exactly-once: worker processes SIGKILLed at random points never lose or double a dead job."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.keys import Keys

from support import eventually, make_registry

WORKER = Path(__file__).parent / "processes" / "test_worker.py"
JOBS = 400


def spawn(url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, "fail"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_sigkill_at_random_points_keeps_dlq_equal_to_failed_jobs(valkey_url, make_producer, redis_client) -> None:
    # Given hundreds of jobs that will all fail, and two worker processes
    keys = Keys("corral")
    registry = make_registry(attempts=2, backoff_ms=5)
    producer = make_producer(registry)
    ids = await producer.enqueue_bulk([("test.echo", {"value": i}) for i in range(JOBS)])
    workers = [spawn(valkey_url), spawn(valkey_url)]
    engine = Engine(valkey_url, keys)
    rng = random.Random(20261128)
    kills = 0
    try:
        # When workers are SIGKILLed at random moments and replaced, until every job has died
        while True:
            counts = await engine.counts("work")
            if counts["waiting"] + counts["active"] + counts["delayed"] == 0:
                break
            await asyncio.sleep(rng.uniform(0.02, 0.25))
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = spawn(valkey_url)
        assert kills >= 5
        # Then, once the sweepers have run, there is exactly one DLQ entry per failed job
        dlq = DeadLetterStore(redis_client, keys)
        await eventually(lambda: _settled(dlq, engine), timeout=20)
        entries = await dlq.recent(limit=JOBS * 2)
        assert sorted(e.job_id for e in entries) == sorted(ids)
        assert (await engine.counts("work"))["failed"] == JOBS
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        await engine.close()


async def _settled(dlq: DeadLetterStore, engine: Engine) -> bool:
    return await dlq.count() == (await engine.counts("work"))["failed"] == JOBS

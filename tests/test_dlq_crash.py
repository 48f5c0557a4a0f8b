"""DLQ exactly-once: worker processes SIGKILLed at random points never lose or double a dead job.

Bounded by count, not by the machine's speed: each of the ten kills hits a worker that has shown it works (it is
ready and has taken a random number of the cycle's jobs), and the next cycle waits for its replacement to be ready.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from subprocess import DEVNULL, Popen

import pytest
from redis.asyncio import Redis

from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.keys import Keys
from corral.settings import Settings

from owned_processes import ProcessGroup
from processes.test_worker import ready_key, taken_key
from support import eventually, make_registry

WORKER = Path(__file__).parent / "processes" / "test_worker.py"
KILLS = 10
BATCH = 40
JOBS = KILLS * BATCH


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(900)
async def test_sigkill_at_random_points_keeps_dlq_equal_to_failed_jobs(
    valkey_url: str,
    make_producer,
    redis_client: Redis,
    engine: Engine,
    keys: Keys,
    settings: Settings,
    processes: ProcessGroup,
) -> None:
    def spawn() -> Popen[bytes]:
        return processes.spawn([sys.executable, str(WORKER), valkey_url, "fail"], stdout=DEVNULL, stderr=DEVNULL)

    async def taken(worker: Popen[bytes]) -> int:
        return int(await redis_client.hget(taken_key(settings.key_prefix), str(worker.pid)) or 0)

    async def all_ready() -> bool:
        return all([await redis_client.sismember(ready_key(settings.key_prefix), str(w.pid)) for w in workers])

    async def unfinished() -> int:
        counts = await engine.counts("work")
        return counts["waiting"] + counts["active"] + counts["delayed"]

    producer = make_producer(make_registry(attempts=2, backoff_ms=5))
    workers = [spawn(), spawn()]
    rng = random.Random(20261128)
    ids: list[str] = []
    for cycle in range(KILLS):
        # Given two worker processes that are both consuming
        await eventually(all_ready, timeout=120)
        # When a batch of jobs that all fail arrives, and one worker is SIGKILLed once it has taken some of them
        batch = [("test.echo", {"value": cycle * BATCH + n}) for n in range(BATCH)]
        ids += await producer.enqueue_bulk(batch)
        victim = rng.randrange(len(workers))
        wanted = await taken(workers[victim]) + rng.randint(1, 15)

        async def reached(worker: Popen[bytes] = workers[victim], wanted: int = wanted) -> bool:
            # The victim took its share, or the batch ended without it (the kill still hits a working process).
            return await taken(worker) >= wanted or await unfinished() == 0

        await eventually(reached, timeout=120)
        processes.kill(workers[victim])
        workers[victim] = spawn()
    # Then, once the jobs stalled by the kills are recovered and the sweepers have run, there is exactly one DLQ
    # entry per failed job
    dlq = DeadLetterStore(redis_client, keys)
    await eventually(lambda: _settled(dlq, engine), timeout=300, interval=0.2)
    entries = await dlq.recent(limit=JOBS * 2)
    assert sorted(e.job_id for e in entries) == sorted(ids)
    assert (await engine.counts("work"))["failed"] == JOBS


async def _settled(dlq: DeadLetterStore, engine: Engine) -> bool:
    return await dlq.count() == (await engine.counts("work"))["failed"] == JOBS

"""A worker process for crash and shutdown tests; argv: redis URL, mode (`fail`, `sleep`, `hold`), grace seconds.

`hold` jobs run until `<prefix>:test:release` exists.

It logs to stderr, marks itself ready in `<prefix>:test:ready` once its consumers run, and counts the jobs it
takes in `<prefix>:test:taken` (by pid), so a test can wait on what the process did instead of on time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corral.connection import redis_client
from corral.dlq.store import DeadLetterStore
from corral.dlq.sweeper import DeadLetterSweeper
from corral.errors import JobFailure
from corral.handlers import HandlerSet, JobContext
from corral.runtime import Runtime
from corral.settings import Settings

from support import Echo, make_registry


def ready_key(prefix: str) -> str:
    return f"{prefix}:test:ready"


def taken_key(prefix: str) -> str:
    return f"{prefix}:test:taken"


def release_key(prefix: str) -> str:
    return f"{prefix}:test:release"


async def main(redis_url: str, mode: str, grace: float) -> None:
    settings = Settings(
        redis_url=redis_url,
        lock_duration_ms=1_000,
        stalled_interval_ms=500,
        dlq_sweep_interval_seconds=0.2,
        shutdown_grace_seconds=grace,
    )
    pid = str(os.getpid())
    counter = redis_client(redis_url)
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def handle(ctx: JobContext, payload: Echo) -> dict[str, int]:
        await counter.hincrby(taken_key(settings.key_prefix), pid, 1)
        if mode == "fail":
            await asyncio.sleep(random.uniform(0, 0.02))
            raise JobFailure(f"provider down for value {payload.value}")
        if mode == "hold":
            while not await counter.exists(release_key(settings.key_prefix)):
                await asyncio.sleep(0.05)
        await asyncio.sleep(payload.sleep_seconds)
        return {"value": payload.value}

    registry = make_registry(attempts=2, backoff_ms=5, concurrency=20)
    runtime = Runtime(settings, redis_url, registry, handlers, dlq=DeadLetterStore)
    # The sweeper a worker's DLQ observer runs: it captures the failed jobs a killed worker left out of the DLQ.
    sweeper = DeadLetterSweeper(runtime.dlq, runtime.queues, settings.dlq_sweep_interval_seconds)
    runtime.on_close(sweeper.stop)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    sweeper.start()
    await counter.sadd(ready_key(settings.key_prefix), pid)
    try:
        await stop.wait()
    finally:
        await runtime.close()
        await counter.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 5.0))

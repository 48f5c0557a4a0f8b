"""A worker process for crash and shutdown tests; argv: redis URL, mode (`fail` or `sleep`), grace seconds."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corral.errors import JobFailure
from corral.handlers import HandlerSet, JobContext
from corral.runtime import Runtime
from corral.settings import Settings

from support import Echo, make_registry


async def main(redis_url: str, mode: str, grace: float) -> None:
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def handle(ctx: JobContext, payload: Echo) -> dict[str, int]:
        if mode == "fail":
            await asyncio.sleep(random.uniform(0, 0.02))
            raise JobFailure(f"provider down for value {payload.value}")
        await asyncio.sleep(payload.sleep_seconds)
        return {"value": payload.value}

    settings = Settings(
        redis_url=redis_url,
        lock_duration_ms=1_000,
        stalled_interval_ms=500,
        dlq_sweep_interval_seconds=0.2,
        shutdown_grace_seconds=grace,
    )
    runtime = Runtime(settings, redis_url, make_registry(attempts=2, backoff_ms=5, concurrency=20), handlers)
    await runtime.run_until_signalled()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 5.0))

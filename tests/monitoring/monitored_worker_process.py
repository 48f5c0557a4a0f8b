"""A monitored worker process, as `corral worker` runs one; argv: Redis URL, comma-separated queues.

Settings come from `CORRAL_*` variables; the registry is the tests' two-queue registry.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis

from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.hooks import HookBus
from corral.keys import Keys
from corral.monitoring import observe_monitoring
from corral.producer import Producer
from corral.runtime import Runtime
from corral.settings import Settings
from corral.worker_services import WorkerServices
from monitoring.monitoring_peers import echo_handlers, two_queue_registry


async def main(redis_url: str, queues: list[str]) -> None:
    settings = Settings(redis_url=redis_url)
    registry = two_queue_registry()
    keys = Keys(settings.key_prefix)
    redis = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(redis_url, keys)
    services = WorkerServices(settings, redis, Producer(engine, registry), keys)
    hooks = HookBus()
    runtime = Runtime(settings, redis_url, registry, echo_handlers(), queues=queues, dlq=DeadLetterStore, hooks=hooks)
    observe_monitoring(hooks, services, runtime)
    try:
        await runtime.run_until_signalled()
    finally:
        await services.close()
        await engine.close()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2].split(",")))

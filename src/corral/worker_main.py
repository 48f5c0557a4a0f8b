"""A worker process: the runtime with the application's handlers, until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from corral.app import load_app
from corral.connection import redis_client
from corral.engine import Engine
from corral.hooks import HookBus
from corral.keys import Keys
from corral.observers import install_observers
from corral.producer import Producer
from corral.runtime import Runtime
from corral.settings import Settings
from corral.worker_services import WorkerServices

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings, redis_url: str, queues: Sequence[str] | None = None) -> None:
    """Consume `queues` (all work queues when empty) with the application's handlers until told to stop."""
    application = load_app(settings.app)
    registry = application.registry
    keys = Keys(settings.key_prefix)
    redis = redis_client(redis_url)
    engine = Engine(redis_url, keys)
    services = WorkerServices(settings, redis, Producer(engine, registry), keys)
    try:
        handlers = application.handlers(services)
        hooks = HookBus()
        runtime = Runtime(settings, redis_url, registry, handlers, queues=queues or None, hooks=hooks)
        install_observers(hooks, services, runtime)
        await runtime.run_until_signalled()
    finally:
        await services.close()
        await engine.close()
        await redis.aclose()

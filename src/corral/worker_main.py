"""A worker process: the runtime with the application's handlers, until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from corral.app import load_app
from corral.dlq.store import DeadLetterStore
from corral.hooks import HookBus
from corral.observers import install_observers
from corral.runtime import Runtime
from corral.services import Services, build_services
from corral.settings import Settings

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings, redis_url: str, queues: Sequence[str] | None = None) -> None:
    """Consume `queues` (all work queues when empty) with the application's handlers until told to stop."""
    application = load_app(settings.app)
    registry = application.registry
    services = build_services(settings, redis_url, registry, "worker", Services)
    shared = services.for_handlers()
    try:
        handlers = application.handlers(shared)
        hooks = HookBus()
        runtime = Runtime(
            settings,
            redis_url,
            registry,
            handlers,
            queues=queues or None,
            dlq=DeadLetterStore,
            hooks=hooks,
        )
        install_observers(hooks, shared, runtime)
        await runtime.run_until_signalled()
    finally:
        await shared.close()
        await services.close()

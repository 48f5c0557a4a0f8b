"""The composition root: a process's services are built once, and a worker's observers share them."""

from __future__ import annotations

from corral.dlq.store import DeadLetterStore, Retention
from corral.hooks import HookBus
from corral.monitoring import Monitoring, observe_monitoring
from corral.realtime.bus import EventBus
from corral.runtime import Runtime
from corral.services import Services, build_services
from corral.settings import Settings

from support import eventually, make_registry


async def test_one_dlq_store_event_bus_and_monitoring_per_process(settings: Settings, valkey_url: str) -> None:
    # Given the services of a worker process, built by the composition root
    services = build_services(settings, valkey_url, make_registry(), "worker", Services)
    try:
        # Then the DLQ service and monitoring use the process's one DLQ store and event bus
        assert services.dlq.store is services.dlq_store
        assert services.monitoring.stats.dlq is services.dlq_store
        assert services.dlq.bus is services.bus and services.monitoring.bus is services.bus
        # And the DLQ store keeps the DLQ retention the settings ask for
        assert services.dlq_store.retention == Retention.of(settings)
        # And what the worker's handlers and observers share offers the root's monitoring, DLQ store and event bus
        shared = services.for_handlers()
        assert shared.provided(Monitoring) is services.monitoring
        assert shared.provided(DeadLetterStore) is services.dlq_store
        assert shared.provided(EventBus) is services.bus
        # And nothing the root did not offer
        assert shared.provided(Services) is None
    finally:
        await services.close()


async def test_the_monitoring_observer_heartbeats_through_the_roots_monitoring(
    settings: Settings, valkey_url: str
) -> None:
    # Given a worker process's root services and a runtime with the monitoring observer on their shared services
    registry = make_registry()
    services = build_services(settings, valkey_url, registry, "worker", Services)
    shared = services.for_handlers()
    hooks = HookBus()
    runtime = Runtime(settings, valkey_url, registry, {}, queues=["work"], dlq=DeadLetterStore, hooks=hooks)
    try:
        observe_monitoring(hooks, shared, runtime)
        await runtime.start()
        # Then the process's heartbeat is listed by the root's monitoring
        views = await eventually(services.monitoring.workers.views, timeout=60)
        assert [(list(view.state.queues), view.status) for view in views] == [(["work"], "live")]
    finally:
        await runtime.close(grace_seconds=2)
        await shared.close()
        await services.close()

"""The worker observer: records metrics from the runtime's hooks, heartbeats the process and evaluates alerts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from corral.monitoring.recorder import MetricsRecorder
from corral.monitoring.service import Monitoring
from corral.monitoring.workers import Heartbeat

if TYPE_CHECKING:
    from corral.hooks import HookBus
    from corral.runtime import Runtime
    from corral.worker_services import WorkerServices


def observe_monitoring(hooks: HookBus, services: WorkerServices, runtime: Runtime) -> None:
    """Install metrics recording, the heartbeat and the alert evaluator; all stop when the services close."""
    settings = services.settings
    recorder = MetricsRecorder(services.redis, services.keys, flush_seconds=settings.metrics_flush_seconds)
    recorder.subscribe(hooks)
    monitoring = services.provided(Monitoring)
    if monitoring is None:  # shared services made without the composition root (a test's or a benchmark's worker)
        monitoring = Monitoring.build(
            settings,
            services.redis,
            services.keys,
            services.producer.engine,
            runtime.registry,
            lambda: services.database,
        )
    heartbeat = Heartbeat(
        monitoring.workers,
        monitoring.bus,
        queues=runtime.queues,
        concurrency=sum(runtime.registry.queue(name).concurrency for name in runtime.queues),
        interval_seconds=settings.worker_heartbeat_seconds,
        measure=lambda: (runtime.active_jobs, recorder.processed, recorder.failed),
    )
    evaluator = monitoring.evaluator()
    recorder.start()
    heartbeat.start()
    evaluator.start()

    async def stop() -> None:
        await asyncio.gather(evaluator.stop(), heartbeat.stop(), recorder.close())

    services.on_close(stop)

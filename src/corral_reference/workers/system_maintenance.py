"""The system-maintenance worker: `system.cleanup` trims old jobs, event streams, DLQ entries and audit rows."""

from __future__ import annotations

from typing import Any

from corral.dlq.store import DeadLetterStore, Retention
from corral.handlers import HandlerSet, JobContext
from corral.maintenance import Maintenance
from corral.worker_services import WorkerServices
from corral_reference.contracts import SystemCleanup


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `system.cleanup` handler over every work queue of the producer's registry."""

    async def cleanup(_ctx: JobContext, payload: SystemCleanup) -> dict[str, Any]:
        maintenance = Maintenance(
            services.producer.engine,
            services.producer.registry.work_queues,
            services.redis,
            DeadLetterStore(
                services.redis,
                services.keys,
                services.producer.registry,
                retention=Retention.of(services.settings),
            ),
            lambda: services.database,
        )
        report = await maintenance.cleanup(payload.target, payload.olderThanHours)
        return report.as_result()

    handlers.add("system.cleanup", cleanup)

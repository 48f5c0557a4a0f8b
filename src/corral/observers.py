"""Side concerns of a worker process (metrics, realtime events, DLQ replay outcomes) subscribing to its hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corral.hooks import HookBus
    from corral.runtime import Runtime
    from corral.worker_services import WorkerServices

Observer = Callable[["HookBus", "WorkerServices", "Runtime"], None]


def worker_observers() -> list[Observer]:
    """The observers every worker process installs, each `(hooks, services, runtime) -> None`."""
    # One import and one list entry per observer.
    from corral.dlq.observer import observe_dlq
    from corral.maintenance import observe_maintenance
    from corral.monitoring.observer import observe_monitoring
    from corral.realtime.observer import publish_job_events

    return [publish_job_events, observe_dlq, observe_monitoring, observe_maintenance]


def install_observers(hooks: HookBus, services: WorkerServices, runtime: Runtime) -> None:
    """Subscribe every observer to the worker's hooks before the runtime starts."""
    for observe in worker_observers():
        observe(hooks, services, runtime)

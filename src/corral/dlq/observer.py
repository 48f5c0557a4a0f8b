"""The worker-side DLQ observer: writes what became of replayed jobs into their entries' history, and sweeps the
worker's queues for failed jobs a crash left out of the DLQ.

(`dlq.added` events are published by the realtime observer from the same dead-lettered hook.)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from corral.dlq.replay import parse_replay_job_id
from corral.dlq.store import DeadLetterStore
from corral.dlq.sweeper import DeadLetterSweeper
from corral.hooks import HookBus, JobEvent, JobEventKind

if TYPE_CHECKING:
    from corral.runtime import Runtime
    from corral.worker_services import WorkerServices

logger = logging.getLogger(__name__)


def observe_dlq(hooks: HookBus, services: WorkerServices, runtime: Runtime) -> None:
    """Subscribe to completed jobs (a job made by a replay records its completion in its entry) and sweep the
    runtime's queues until it closes."""
    store = runtime.dlq
    if not isinstance(store, DeadLetterStore):
        raise TypeError("the DLQ observer needs a runtime whose dead-letter sink is the DLQ store")

    async def on_event(event: JobEvent) -> None:
        replay = parse_replay_job_id(event.job_id)
        if replay is None:
            return
        entry_id, number = replay
        # A replay that dies is written into its entry by the capture script, in the same step as its move to failed.
        await store.record_outcome(entry_id, number, "succeeded", {"status": "completed", "at": event.at_ms})

    hooks.subscribe(on_event, JobEventKind.COMPLETED)
    sweeper = DeadLetterSweeper(store, runtime.queues, runtime.settings.dlq_sweep_interval_seconds)
    sweeper.start()
    runtime.on_close(sweeper.stop)

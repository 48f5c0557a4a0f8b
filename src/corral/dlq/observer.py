"""The worker-side observer: announces new DLQ entries and writes replayed jobs' outcomes into their entries."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from corral.dlq.replay import parse_replay_job_id
from corral.hooks import HookBus, JobEvent, JobEventKind
from corral.realtime.bus import EventBus
from corral.realtime.events import EventDraft, Severity

if TYPE_CHECKING:
    from corral.runtime import Runtime
    from corral.workers.services import WorkerServices

logger = logging.getLogger(__name__)


def observe_dlq(hooks: HookBus, services: WorkerServices, runtime: Runtime) -> None:
    """Subscribe to completed and dead-lettered jobs: publish `dlq.added`, record replay outcomes."""
    store = runtime.dlq
    bus = EventBus(services.redis, services.keys)

    async def on_event(event: JobEvent) -> None:
        entry_id = event.detail.get("entry_id")
        if event.kind is JobEventKind.DEAD_LETTERED and entry_id:
            await bus.publish(
                EventDraft(
                    type="dlq.added",
                    queue=event.queue,
                    job_id=event.job_id,
                    job_name=event.name,
                    severity=Severity.WARNING,
                    data={"entryId": entry_id, "reason": str(event.detail.get("reason", ""))[:500]},
                )
            )
        replay = parse_replay_job_id(event.job_id)
        if replay is None:
            return
        source_entry, number = replay
        if event.kind is JobEventKind.COMPLETED:
            outcome = {"status": "completed", "at": event.at_ms}
            await store.record_outcome(source_entry, number, "succeeded", outcome)
        else:
            outcome = {"status": "died", "at": event.at_ms, "reason": str(event.detail.get("reason", ""))[:500]}
            if entry_id:
                outcome["entryId"] = entry_id
            await store.record_outcome(source_entry, number, "died", outcome)

    hooks.subscribe(on_event, JobEventKind.COMPLETED, JobEventKind.DEAD_LETTERED)

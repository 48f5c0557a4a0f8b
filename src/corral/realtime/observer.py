"""The worker observer that publishes job lifecycle events from the runtime's (and its producer's) hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.hooks import JobEvent, JobEventKind
from corral.realtime.batching import BatchingPublisher
from corral.realtime.bus import EventBus
from corral.realtime.coalesce import ProgressCoalescer
from corral.realtime.events import EventDraft, EventType, Severity

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from corral.hooks import HookBus
    from corral.keys import Keys
    from corral.runtime import Runtime
    from corral.settings import Settings
    from corral.worker_services import WorkerServices

_TYPES = {
    JobEventKind.QUEUED: (EventType.JOB_QUEUED, Severity.INFO),
    JobEventKind.STARTED: (EventType.JOB_STARTED, Severity.INFO),
    JobEventKind.PROGRESS: (EventType.JOB_PROGRESS, Severity.DEBUG),
    JobEventKind.COMPLETED: (EventType.JOB_COMPLETED, Severity.INFO),
    JobEventKind.FAILED: (EventType.JOB_FAILED, Severity.WARNING),
    JobEventKind.STALLED: (EventType.JOB_STALLED, Severity.WARNING),
    JobEventKind.DELAYED: (EventType.JOB_DELAYED, Severity.INFO),
    JobEventKind.DEAD_LETTERED: (EventType.DLQ_ADDED, Severity.ERROR),
}
_FINAL = frozenset({JobEventKind.COMPLETED, JobEventKind.FAILED, JobEventKind.DEAD_LETTERED})


def draft_of(event: JobEvent) -> EventDraft:
    """The realtime event of one job lifecycle event."""
    event_type, severity = _TYPES[event.kind]
    if event.kind is JobEventKind.FAILED and event.detail.get("final"):
        severity = Severity.ERROR
    data: dict[str, Any] = {"attempt": event.attempt, "at": event.at_ms, **event.detail}
    return EventDraft(event_type, event.queue, event.job_id, event.name or None, severity, data)


class JobEventPublisher:
    """Publishes each job event on the bus, in batches off the job's path; progress is coalesced per job and
    flushed before the job ends."""

    def __init__(self, bus: EventBus, progress_interval_seconds: float) -> None:
        self.bus = bus
        self.batches = BatchingPublisher(bus)
        self.progress = ProgressCoalescer(self.batches.publish, progress_interval_seconds)

    async def on_event(self, event: JobEvent) -> None:
        """Hook subscriber: publish (or coalesce) one job event."""
        draft = draft_of(event)
        key = (event.queue, event.job_id)
        if event.kind is JobEventKind.PROGRESS:
            await self.progress.offer(key, draft)
            return
        if event.kind in _FINAL:
            await self.progress.flush(key)
        self.batches.submit(draft)

    async def close(self) -> None:
        """Publish pending progress, then every event still waiting for its batch."""
        await self.progress.close()
        await self.batches.close()


def queued_event_hooks(redis: Redis, keys: Keys, settings: Settings) -> tuple[HookBus, JobEventPublisher]:
    """A hook bus for a producer outside the workers (API, CLI) that publishes `job.queued` events."""
    from corral.hooks import HookBus

    bus = EventBus(redis, keys, latest_per_room=settings.realtime_latest_per_room)
    publisher = JobEventPublisher(bus, settings.realtime_progress_interval_ms / 1000)
    hooks = HookBus()
    hooks.subscribe(publisher.on_event, JobEventKind.QUEUED)
    return hooks, publisher


def publish_job_events(hooks: HookBus, services: WorkerServices, runtime: Runtime) -> None:
    """Worker observer: publish the lifecycle of every job this process runs or enqueues."""
    settings = services.settings
    bus = services.provided(EventBus)
    if bus is None:  # shared services made without the composition root (a test's worker)
        bus = EventBus(services.redis, services.keys, latest_per_room=settings.realtime_latest_per_room)
    publisher = JobEventPublisher(bus, settings.realtime_progress_interval_ms / 1000)
    hooks.subscribe(publisher.on_event)
    services.producer.hooks.subscribe(publisher.on_event, JobEventKind.QUEUED)
    services.on_close(publisher.close)

"""The worker observer publishes job lifecycle events from a real runtime's hooks; progress is coalesced."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.hooks import HookBus, JobEvent, JobEventKind
from corral.observers import worker_observers
from corral.realtime import EventBus, EventDraft, ProgressCoalescer
from corral.realtime.observer import JobEventPublisher, publish_job_events

from support import Echo, eventually, make_registry


def handlers() -> HandlerSet:
    found = HandlerSet()

    @found.handles("test.echo")
    async def echo(ctx: JobContext, payload: Echo) -> dict[str, Any]:
        if payload.behaviour == "unrecoverable":
            from corral.errors import UnrecoverableJobError

            raise UnrecoverableJobError("account 42 is closed")
        return {"value": payload.value}

    return found


async def test_worker_processes_install_the_realtime_observer() -> None:
    assert publish_job_events in worker_observers()


async def test_a_job_lifecycle_reaches_the_bus(
    start_runtime, make_producer, worker_services, redis_client, keys
) -> None:
    # Given a runtime whose hooks the realtime observer subscribes to
    registry = make_registry(attempts=1)
    hooks = HookBus()
    runtime = await start_runtime(registry, handlers(), hooks=hooks)
    publish_job_events(hooks, worker_services, runtime)
    bus = EventBus(redis_client, keys)
    # When one job succeeds and one fails for good
    producer = make_producer(registry)
    done = await producer.enqueue("test.echo", {"value": 1})
    dead = await producer.enqueue("test.echo", {"value": 2, "behaviour": "unrecoverable"})

    async def types_of(job_id: str) -> list[str]:
        return [e.type for e in await bus.after("0-0") or [] if e.job_id == job_id]

    # Then the bus carries started/completed for one, and started/failed/dlq.added for the other
    assert await eventually(lambda: _has(types_of(done), ["job.started", "job.completed"]))
    assert await eventually(lambda: _has(types_of(dead), ["job.started", "job.failed", "dlq.added"]))
    events = {e.type: e for e in await bus.after("0-0") or [] if e.job_id == dead}
    assert events["job.failed"].severity == "error"
    assert events["dlq.added"].data["reason"] == "account 42 is closed"
    assert events["dlq.added"].queue == "work"
    assert events["job.started"].job_name == "test.echo"


async def test_jobs_enqueued_by_a_worker_publish_queued(worker_services, redis_client, keys) -> None:
    # Given the observer installed on a worker's services
    publish_job_events(HookBus(), worker_services, None)  # type: ignore[arg-type]
    # When a handler's producer enqueues a catalogue job
    job_id = await worker_services.producer.enqueue("search.remove", {"docType": "article", "docId": "a1"})
    # Then a job.queued event names it (published off the enqueue's path, in the next batch)
    bus = EventBus(redis_client, keys)
    events = await eventually(lambda: bus.after("0-0"))
    assert [(e.type, e.queue, e.job_id, e.job_name) for e in events] == [
        ("job.queued", "system", job_id, "search.remove")
    ]


async def test_progress_is_coalesced_per_job_and_the_last_value_is_kept(redis_client, keys) -> None:
    # Given the publisher with a 200 ms progress window
    bus = EventBus(redis_client, keys)
    publisher = JobEventPublisher(bus, 0.2)
    # When a job reports progress 100 times in a burst, then completes
    for n in range(1, 101):
        await publisher.on_event(JobEvent(JobEventKind.PROGRESS, "work", "j1", "test.echo", 1, detail={"progress": n}))
    await asyncio.sleep(0.05)
    await publisher.on_event(JobEvent(JobEventKind.COMPLETED, "work", "j1", "test.echo", 1))
    # Then only the first and the last value were published, before the completion
    await publisher.close()
    events = await bus.after("0-0") or []
    assert [(e.type, e.data.get("progress")) for e in events] == [
        ("job.progress", 1),
        ("job.progress", 100),
        ("job.completed", None),
    ]
    assert publisher.progress.tracked == 0


async def test_the_coalescer_publishes_the_pending_value_when_its_window_ends() -> None:
    # Given a coalescer over a list
    published: list[int] = []

    async def publish(draft: EventDraft) -> None:
        published.append(draft.data["n"])

    coalescer = ProgressCoalescer(publish, 0.1)
    # When values come faster than the window, for two keys
    for n in range(10):
        await coalescer.offer("a", EventDraft("bulk.progress", data={"n": n}))
        await coalescer.offer("b", EventDraft("bulk.progress", data={"n": 100 + n}))
    # Then each key's first value went at once, and its last one when the window ended
    assert published == [0, 100]
    await asyncio.sleep(0.25)
    assert sorted(published) == [0, 9, 100, 109]
    await coalescer.close()


async def _has(found: Any, expected: list[str]) -> bool:
    return await found == expected

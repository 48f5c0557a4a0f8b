"""Queue stats on real traffic: every state counted, the DLQ size, and the shared cache with its invalidation."""

from __future__ import annotations

import asyncio

from corral.contracts.base import EnqueueOptions, JobType
from corral.engine import ChildJob
from corral.handlers import HandlerSet, JobContext
from monitoring.monitoring_peers import echo_handlers, two_queue_registry

from support import Echo, eventually, make_registry


def parent_handlers() -> HandlerSet:
    handlers = echo_handlers()

    @handlers.handles("test.parent")
    async def parent(ctx: JobContext, payload: Echo) -> dict[str, int]:
        child = ChildJob("other", "test.other", {"value": payload.value}, {"attempts": 1}, f"child-{ctx.job_id}")
        await ctx.job.add_children([child])
        await ctx.job.wait_for_children()
        return {"value": payload.value}

    return handlers


async def test_stats_count_every_state_of_every_queue_and_the_dlq(
    start_worker, monitoring_for, make_producer, engine
) -> None:
    # Given a worker with concurrency 1 on `work` (none on `other`)
    registry = two_queue_registry(attempts=1, concurrency=1)
    registry.add_job(JobType("test.parent", "work", "test-worker", Echo))
    await start_worker(registry, parent_handlers(), queues=["work"])
    producer = make_producer(registry)
    monitoring = monitoring_for(registry)
    # When jobs reach every state: completed, failed (and dead-lettered), waiting for children, active,
    # waiting, prioritized, delayed; and the child waits on the paused `other` queue
    await producer.enqueue("test.echo", {"value": 1})
    await producer.enqueue("test.echo", {"value": 2, "behaviour": "fail"})
    await producer.enqueue("test.parent", {"value": 3})
    await eventually(lambda: _count(engine, "work", "waiting-children"))
    await eventually(lambda: _count(engine, "work", "failed"))
    await producer.enqueue("test.echo", {"value": 4, "behaviour": "sleep", "sleep_seconds": 2})
    await eventually(lambda: _count(engine, "work", "active"))
    await producer.enqueue("test.echo", {"value": 5})
    await producer.enqueue("test.echo", {"value": 6}, EnqueueOptions(priority=3))
    await producer.enqueue("test.echo", {"value": 7}, EnqueueOptions(delay_ms=60_000))
    await engine.pause("other")
    stats = await monitoring.stats.collect()
    # Then each queue's counts show them, and the totals and DLQ size agree
    by_name = {queue.name: queue for queue in stats.queues}
    assert by_name["work"].counts == {
        "waiting": 1,
        "active": 1,
        "completed": 1,
        "failed": 1,
        "delayed": 1,
        "prioritized": 1,
        "paused": 0,
        "waiting-children": 1,
    }
    # (this engine keeps a paused queue's jobs in its waiting list and flags the queue)
    assert by_name["other"].paused and by_name["other"].counts["waiting"] == 1
    assert by_name["work"].backlog == 2 and by_name["other"].backlog == 1
    assert stats.totals["waiting"] == 2 and stats.totals["completed"] == 1
    assert stats.dlq == 1


async def test_stats_are_cached_until_their_ttl_or_a_queue_operation(
    monitoring_for, make_producer, monitoring_settings
) -> None:
    # Given stats cached with a 0.5 s TTL
    registry = make_registry()
    monitoring = monitoring_for(registry, monitoring_settings.model_copy(update={"stats_cache_seconds": 0.5}))
    producer = make_producer(registry)
    first, cached = await monitoring.stats.stats()
    assert not cached and first.totals["waiting"] == 0
    # When a job is enqueued behind the cache's back
    await producer.enqueue("test.echo", {"value": 1})
    # Then the cached answer is served until the TTL passes
    second, cached = await monitoring.stats.stats()
    assert cached and second.totals["waiting"] == 0 and second.generated_at == first.generated_at
    await asyncio.sleep(0.6)
    third, cached = await monitoring.stats.stats()
    assert not cached and third.totals["waiting"] == 1
    # And a queue operation reported to the cache drops it at once, for every process sharing it
    await producer.enqueue("test.echo", {"value": 2})
    other_process = monitoring_for(registry)
    await other_process.cache.invalidate()
    fourth, cached = await monitoring.stats.stats()
    assert not cached and fourth.totals["waiting"] == 2


async def _count(engine, queue: str, state: str) -> int:
    return (await engine.counts(queue))[state]

"""Publishing off the job's path: events are handed over at once and published in batches, one round trip each.

A worker's hooks only append to a buffer; a background task publishes what gathered (up to `max_batch` events,
after at most `max_delay` seconds) with `EventBus.publish_many`, in order. While Redis cannot be reached the buffer
holds at most `capacity` events; beyond that the oldest are dropped and counted, so a worker never blocks or grows
without bound on its realtime events (the jobs themselves are unaffected).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from redis.exceptions import RedisError

from corral.lifetime import end_task
from corral.realtime.bus import EventBus
from corral.realtime.events import EventDraft

logger = logging.getLogger(__name__)


class BatchingPublisher:
    """Takes events without waiting and publishes them in batches from a background task."""

    def __init__(self, bus: EventBus, *, max_batch: int = 500, max_delay: float = 0.01, capacity: int = 50_000) -> None:
        self.bus = bus
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.capacity = capacity
        self.dropped = 0
        self._pending: deque[EventDraft] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def submit(self, draft: EventDraft) -> None:
        """Queue one event for publication; never waits."""
        if len(self._pending) >= self.capacity:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped in (1, 1_000) or self.dropped % 100_000 == 0:
                logger.warning("realtime events are not being published (Redis?); %d dropped so far", self.dropped)
        self._pending.append(draft)
        self._ready.set()
        if self._task is None and not self._closing:
            self._task = asyncio.create_task(self._run(), name="corral-realtime-batches")

    async def publish(self, draft: EventDraft) -> None:
        """`submit`, as a coroutine (for callers that take a publishing function)."""
        self.submit(draft)

    async def _run(self) -> None:
        while not self._closing or self._pending:
            await self._ready.wait()
            if not self._closing and len(self._pending) < self.max_batch:
                await asyncio.sleep(self.max_delay)  # let a batch gather
            await self._flush_once()
            if not self._pending:
                self._ready.clear()

    async def _flush_once(self) -> None:
        batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
        if not batch:
            return
        try:
            await self.bus.publish_many(batch)
        except (RedisError, OSError) as exc:
            # Put them back in order and wait a moment: the server may be restarting.
            self._pending.extendleft(reversed(batch))
            logger.debug("publishing %d realtime event(s) failed: %s", len(batch), exc)
            if self._closing:
                raise
            await asyncio.sleep(0.5)

    async def close(self, timeout: float = 5.0) -> None:
        """Publish what is pending (for up to `timeout` seconds), then stop."""
        self._closing = True
        self._ready.set()
        task, self._task = self._task, None
        if task is None:
            return
        await end_task(task, wait_seconds=timeout)

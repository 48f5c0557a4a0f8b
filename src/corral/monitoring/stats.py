"""Queue stats: job counts of every queue in every state, and the DLQ size; cached for a few seconds."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from pydantic import TypeAdapter
from redis.asyncio import Redis

from corral.contracts.base import Registry
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine, StoredJobs
from corral.jobs import JOB_STATES
from corral.keys import Keys
from corral.monitoring.cache import MonitoringCache

BACKLOG_STATES = ("waiting", "prioritized", "paused")


@dataclass(frozen=True)
class QueueStats:
    """One queue's job counts by state and whether it is paused."""

    name: str
    paused: bool
    counts: dict[str, int]

    @property
    def backlog(self) -> int:
        """Jobs ready to run that no worker has taken yet (waiting, prioritized, or held by a pause)."""
        return sum(self.counts.get(state, 0) for state in BACKLOG_STATES)


@dataclass(frozen=True)
class Stats:
    """Every work queue's counts, their totals by state, and the DLQ size."""

    queues: list[QueueStats]
    totals: dict[str, int]
    dlq: int
    generated_at: int


STATS = TypeAdapter(Stats)


async def oldest_waiting_ages(
    redis: Redis, keys: Keys, queues: list[str], now_ms: int | None = None
) -> dict[str, float | None]:
    """Seconds since the oldest waiting job of each queue became due (None when none waits); two round trips.

    The oldest waiting job is the tail of the queue's waiting list (a paused queue keeps its jobs there too).
    """
    jobs = StoredJobs(redis, keys)
    tails = await jobs.oldest_waiting(queues)
    found = [(queue, job_id) for queue, job_id in zip(queues, tails, strict=True) if job_id]
    ready = await jobs.ready_times(found)
    current = now_ms if now_ms is not None else int(time.time() * 1000)
    ages: dict[str, float | None] = dict.fromkeys(queues)
    for (queue, _), due in zip(found, ready, strict=True):
        if due is not None:
            ages[queue] = round(max(current - due, 0) / 1000, 3)
    return ages


class StatsService:
    """Counts straight from the engine, or from the shared cache when fresh enough."""

    def __init__(
        self, engine: Engine, dlq: DeadLetterStore, registry: Registry, cache: MonitoringCache, ttl_seconds: float
    ) -> None:
        self.engine = engine
        self.dlq = dlq
        self.registry = registry
        self.cache = cache
        self.ttl_seconds = ttl_seconds

    async def collect(self) -> Stats:
        """Read every queue's counts now."""
        names = self.registry.work_queues

        async def one(name: str) -> QueueStats:
            counts, paused = await asyncio.gather(self.engine.counts(name), self.engine.is_paused(name))
            return QueueStats(name, paused, counts)

        queues, dlq_size = await asyncio.gather(asyncio.gather(*(one(name) for name in names)), self.dlq.count())
        totals = {state.value: sum(q.counts.get(state, 0) for q in queues) for state in JOB_STATES}
        return Stats(queues=list(queues), totals=totals, dlq=dlq_size, generated_at=int(time.time() * 1000))

    async def stats(self, refresh: bool = False) -> tuple[Stats, bool]:
        """The stats and whether they came from the cache (at most `ttl_seconds` old)."""
        return await self.cache.cached("stats", STATS, self.ttl_seconds, self.collect, refresh)

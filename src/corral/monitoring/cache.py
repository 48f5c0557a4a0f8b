"""Monitoring answers cached in Redis for a TTL and shared by every API process.

Queue operations made through Corral bump one generation counter: a cached answer from an older generation is
stale, so every cache entry is dropped at once, in every process, without knowing their keys. The DLQ's version
(bumped by every capture, replay and delete) is part of the generation too, so the DLQ size in the stats never
lags a change made to the DLQ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import TypeAdapter
from redis.asyncio import Redis

from corral.keys import Keys

T = TypeVar("T")


class MonitoringCache:
    """Cached answers by name, checked against the current generation in the same round trip as the read."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def cached(
        self,
        name: str,
        adapter: TypeAdapter[T],
        ttl_seconds: float,
        compute: Callable[[], Awaitable[T]],
        refresh: bool = False,
    ) -> tuple[T, bool]:
        """The cached value of `name` and True, or a freshly computed (and stored) one and False."""
        raw, generation, dlq_version = await self.redis.mget(
            self.keys.monitoring_cache(name), self.keys.monitoring_cache_generation, self.keys.dlq_version
        )
        current = f"{str(generation or 0)}.{str(dlq_version or 0)}"
        if raw is not None and not refresh:
            stored_generation, _, body = str(raw).partition(":")
            if stored_generation == current:
                return adapter.validate_json(body), True
        value = await compute()
        if ttl_seconds > 0:
            # Tagged with the generation read before computing: an operation made meanwhile makes it stale.
            body = adapter.dump_json(value).decode()
            await self.redis.set(
                self.keys.monitoring_cache(name), f"{current}:{body}", px=max(int(ttl_seconds * 1000), 1)
            )
        return value, False

    async def invalidate(self) -> None:
        """Make every cached answer stale (after a queue operation)."""
        await self.redis.incr(self.keys.monitoring_cache_generation)


def digest(prefix: str, parameters: dict[str, Any]) -> str:
    """A short cache name for a query's parameters."""
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)
    return f"{prefix}:{hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()}"

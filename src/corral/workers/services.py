"""What worker handlers share inside one process: settings, Redis, a producer, and closers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from corral.keys import Keys
from corral.producer import Producer
from corral.settings import Settings


@dataclass
class WorkerServices:
    """Shared, long-lived resources of one worker process; adapters register their own cleanup."""

    settings: Settings
    redis: Redis
    producer: Producer
    keys: Keys
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` when the worker process shuts down."""
        self._closers.append(closer)

    async def close(self) -> None:
        """Release every adapter's resources, last registered first."""
        while self._closers:
            await self._closers.pop()()

"""Admission of WebSocket handshakes before they are accepted: per-address limits kept in process memory.

A handshake costs Corral nothing until it is admitted: the checks here make no Redis round trip, so a burst of
unauthenticated connections cannot exhaust a connection pool or delay other clients. An admitted handshake then
authenticates while holding one of a bounded number of slots (the Redis work of authentication never runs more
than `concurrent_authentications` at once); each failed authentication spends its address's failure budget, and
an address whose budget is spent is refused at the handshake until the window moves on.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from corral.errors import ConfigurationError

CONCURRENT_AUTHENTICATIONS = 32
FAILURES = "ws-auth-failures"


@dataclass(frozen=True)
class Refusal:
    """Why a handshake is refused before it is accepted, and when the address may try again."""

    reason: str
    retry_after: int


class HandshakeGuard:
    """Per-address failure budget and pending-handshake cap, in memory, for one API process."""

    def __init__(
        self,
        failures: str,
        pending_per_address: int,
        concurrent_authentications: int = CONCURRENT_AUTHENTICATIONS,
    ) -> None:
        try:
            self.failures: RateLimitItem = parse(failures)
        except ValueError as exc:
            raise ConfigurationError(f"realtime_auth_failures: {exc}") from None
        self.pending_per_address = pending_per_address
        self.pending: Counter[str] = Counter()
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._slots = asyncio.Semaphore(concurrent_authentications)

    async def admit(self, address: str) -> Refusal | None:
        """None when a handshake from `address` may proceed; else why not."""
        if self.pending[address] >= self.pending_per_address:
            return Refusal(
                f"too many WebSocket handshakes from {address} at once ({self.pending_per_address}); try again",
                retry_after=1,
            )
        if not await self._limiter.test(self.failures, FAILURES, address):
            stats = await self._limiter.get_window_stats(self.failures, FAILURES, address)
            retry_after = max(int(math.ceil(stats.reset_time - time.time())), 1)
            return Refusal(
                f"too many failed WebSocket authentications from {address} "
                f"({self.failures.amount} per {self.failures.get_expiry()} s); retry in {retry_after} s",
                retry_after=retry_after,
            )
        return None

    @asynccontextmanager
    async def authenticating(self, address: str) -> AsyncIterator[None]:
        """Hold a pending place for `address` and, once one is free, an authentication slot."""
        self.pending[address] += 1
        try:
            async with self._slots:
                yield
        finally:
            self.pending[address] -= 1
            if self.pending[address] <= 0:
                del self.pending[address]

    async def failed(self, address: str) -> None:
        """Count one failed authentication against `address`."""
        await self._limiter.hit(self.failures, FAILURES, address)

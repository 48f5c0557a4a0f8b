"""Whether Redis/Valkey answers right now, as one process sees it: a probe that turns trouble into a clear error.

A process that waits on a server which does not answer (frozen, partitioned) would otherwise hold every request
for as long as the freeze lasts. The probe pings on its own connection every `interval` seconds, with `timeout`
seconds to answer; while it fails, `check()` raises ServerUnavailableError at once and `went_down()` wakes the
requests already waiting, so callers answer 503 with the reason within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from corral.errors import ServerUnavailableError
from corral.server import redact_url

logger = logging.getLogger(__name__)


def unavailable_reason(exc: BaseException) -> str | None:
    """What a Redis error says about the server being unusable right now, or None if it says nothing of that."""
    from redis.exceptions import BusyLoadingError, ConnectionError, ReadOnlyError, ResponseError, TimeoutError

    if isinstance(exc, BusyLoadingError):
        return "the server is loading its data"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, ConnectionError | ConnectionRefusedError | ConnectionResetError):
        return f"cannot connect: {exc}" if str(exc) else "cannot connect"
    if isinstance(exc, ReadOnlyError):
        return "the server is a read-only replica"
    if isinstance(exc, ResponseError) and str(exc).startswith("MISCONF"):
        return "the server refuses writes because it cannot persist (MISCONF: is its disk full?)"
    if isinstance(exc, ResponseError) and str(exc).startswith("OOM"):
        return "the server refuses writes: out of memory (maxmemory reached)"
    return None


def as_unavailable(exc: BaseException, url: str) -> ServerUnavailableError | None:
    """ServerUnavailableError for a Redis error that means the server cannot be used now, else None."""
    reason = unavailable_reason(exc)
    if reason is None:
        return None
    return ServerUnavailableError(f"Redis/Valkey at {redact_url(url)} is unavailable: {reason}")


class Availability:
    """Probes one server from this process and reports whether it answers."""

    def __init__(self, redis: Redis, url: str, *, interval: float = 0.5, timeout: float = 1.0) -> None:
        self.redis = redis
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.reason: str | None = None
        self._down = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.checked_at = 0.0
        self._latest_asked = float("-inf")

    @property
    def available(self) -> bool:
        """True unless the last probe failed."""
        return self.reason is None

    def check(self) -> None:
        """Raise ServerUnavailableError while the server is known not to answer."""
        if self.reason is not None:
            raise ServerUnavailableError(f"Redis/Valkey at {redact_url(self.url)} is unavailable: {self.reason}")

    async def went_down(self) -> None:
        """Return once the server is seen not to answer."""
        await self._down.wait()

    async def probe(self) -> None:
        """Ping once within the timeout and record the outcome."""
        asked = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self.record(unavailable_reason(exc) or f"unexpected answer: {exc}", asked)
        else:
            self.record(None, asked)

    def record(self, reason: str | None, asked: float) -> None:
        """Record what a request sent at `asked` (monotonic seconds) found: None if the server answered, else why not.

        The readiness route records its own write here, so the API serves again as soon as `/healthz` says it can;
        an outcome older than the one already recorded (a probe that was waiting while a newer request came back) is
        ignored.
        """
        if asked < self._latest_asked:
            return
        self._latest_asked = asked
        if reason is None:
            self._mark_up()
        else:
            self._mark_down(reason)
        self.checked_at = time.monotonic()

    def _mark_down(self, reason: str) -> None:
        if self.reason is None:
            logger.warning("Redis/Valkey at %s is unavailable: %s", redact_url(self.url), reason)
        self.reason = reason
        self._down.set()

    def _mark_up(self) -> None:
        if self.reason is not None:
            logger.warning("Redis/Valkey at %s answers again", redact_url(self.url))
        self.reason = None
        self._down.clear()

    async def _run(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Probe in the background until `stop()`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="corral-availability")

    async def stop(self) -> None:
        """Stop probing and close the probe's connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.redis.aclose()

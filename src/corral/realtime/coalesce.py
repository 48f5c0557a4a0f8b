"""Coalescing of high-rate events (progress): at most one per key per interval, the latest value wins."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from corral.realtime.events import EventDraft

logger = logging.getLogger(__name__)

Publish = Callable[[EventDraft], Awaitable[Any]]
STALE_SECONDS = 300.0
SWEEP_ABOVE = 1_000


@dataclass
class _Slot:
    last: float
    pending: EventDraft | None = None
    timer: asyncio.Task[None] | None = None


class ProgressCoalescer:
    """Publishes the first event of a key at once, then at most one per `interval_seconds`, always the latest.

    The last value offered is never lost: it is published when its interval ends, or by `flush(key)` (call it
    before the key's final event, such as a job's completion) or `close()`.
    """

    def __init__(self, publish: Publish, interval_seconds: float) -> None:
        self.publish = publish
        self.interval = interval_seconds
        self._slots: dict[Hashable, _Slot] = {}

    async def offer(self, key: Hashable, draft: EventDraft) -> None:
        """Publish `draft` now if the key's interval has passed, else keep it as the key's pending value."""
        now = time.monotonic()
        slot = self._slots.get(key)
        if slot is None or (slot.pending is None and now - slot.last >= self.interval):
            if len(self._slots) > SWEEP_ABOVE:
                self._sweep(now)
            self._slots[key] = _Slot(last=now)
            await self.publish(draft)
            return
        slot.pending = draft
        if slot.timer is None:
            delay = max(slot.last + self.interval - now, 0.0)
            slot.timer = asyncio.create_task(self._later(key, slot, delay), name="corral-progress-flush")

    async def _later(self, key: Hashable, slot: _Slot, delay: float) -> None:
        await asyncio.sleep(delay)
        slot.timer = None
        draft, slot.pending = slot.pending, None
        if draft is not None:
            slot.last = time.monotonic()
            try:
                await self.publish(draft)
            except Exception:
                logger.exception("could not publish coalesced %s of %s", draft.type, key)

    async def flush(self, key: Hashable) -> None:
        """Publish the key's pending value now, and forget the key."""
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        if slot.timer is not None:
            slot.timer.cancel()
        if slot.pending is not None:
            await self.publish(slot.pending)

    async def close(self) -> None:
        """Publish every pending value."""
        for key in list(self._slots):
            await self.flush(key)

    @property
    def tracked(self) -> int:
        """Keys remembered now."""
        return len(self._slots)

    def _sweep(self, now: float) -> None:
        for key, slot in list(self._slots.items()):
            if slot.pending is None and now - slot.last > STALE_SECONDS:
                del self._slots[key]

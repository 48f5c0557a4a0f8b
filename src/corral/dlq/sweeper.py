"""The DLQ sweeper: captures failed jobs a crash left out of the DLQ (a worker died between fail and capture)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from corral.dlq.store import DeadLetterStore
from corral.lifetime import end_task, set_within

logger = logging.getLogger(__name__)


class DeadLetterSweeper:
    """Sweeps the failed jobs of `queues` into the DLQ every `interval_seconds` until stopped."""

    def __init__(self, store: DeadLetterStore, queues: Sequence[str], interval_seconds: float) -> None:
        self.store = store
        self.queues = list(queues)
        self.interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        """Start sweeping on the running loop (a first pass at once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sweep_forever(), name="corral-dlq-sweeper")

    async def stop(self) -> None:
        """Stop sweeping: a pass in progress ends after its current queue."""
        task, self._task = self._task, None
        if task is None:
            return
        # A cancel can be swallowed by a Redis call in flight; the loop also watches this event.
        self._stopping.set()
        await end_task(task, wait_seconds=5)

    async def _sweep_forever(self) -> None:
        while not self._stopping.is_set():
            for name in self.queues:
                if self._stopping.is_set():
                    return
                try:
                    await self.store.sweep(name)
                except Exception:
                    logger.exception("DLQ sweep of queue %s failed", name)
            await set_within(self._stopping, self.interval_seconds)

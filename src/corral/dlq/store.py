"""The dead-letter store in Redis: exactly-once capture of failed jobs, and reads."""

from __future__ import annotations

import logging
import time
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from corral.dlq.entry import DeadLetterEntry
from corral.dlq.fingerprint import fingerprint, normalise_reason
from corral.keys import Keys

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500
TOMBSTONE = "deleted"
# Failed jobs finishing this long before the watermark are looked at again, for clocks that disagree.
SWEEP_OVERLAP_MS = 60_000


def _lua(name: str) -> str:
    return resources.files("corral.dlq").joinpath("lua", name).read_text(encoding="utf-8")


class DeadLetterStore:
    """Captures failed jobs into DLQ entries, at most once per failure, and reads them back."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._capture = redis.register_script(_lua("capture.lua"))

    def _capture_keys(self, queue: str, job_id: str) -> list[str]:
        return [
            self.keys.job(queue, job_id),
            self.keys.queue(queue, "failed"),
            self.keys.dlq_sources,
            self.keys.dlq_sequence,
            self.keys.dlq_by_time,
        ]

    def _capture_args(self, queue: str, job_id: str, reason: str) -> list[Any]:
        return [
            queue,
            job_id,
            self.keys.dlq_entry_prefix,
            fingerprint(reason),
            normalise_reason(reason)[:500],
            int(time.time() * 1000),
        ]

    async def capture_in(self, pipe: Pipeline, queue: str, job_id: str, reason: str) -> None:
        """Queue the capture of one failed job on a MULTI pipeline, to run atomically with its move to failed."""
        await self._capture(
            keys=self._capture_keys(queue, job_id), args=self._capture_args(queue, job_id, reason), client=pipe
        )

    async def capture(self, queue: str, job_id: str) -> str | None:
        """Capture one job already in its queue's failed set; the entry id, or None if it is not failed."""
        reason = str(await self.redis.hget(self.keys.job(queue, job_id), "failedReason") or "")
        result = await self._capture(
            keys=self._capture_keys(queue, job_id), args=self._capture_args(queue, job_id, reason)
        )
        return str(result) if result else None

    async def sweep(self, queue: str) -> int:
        """Capture failed jobs of `queue` that have no entry (a worker died mid-move); returns how many."""
        mark_key = self.keys.dlq_sweep_mark(queue)
        mark = int(await self.redis.get(mark_key) or 0)
        start = max(mark - SWEEP_OVERLAP_MS, 0)
        failed_key = self.keys.queue(queue, "failed")
        captured = 0
        highest = mark
        offset = 0
        while True:
            batch: list[tuple[str, float]] = await self.redis.zrangebyscore(
                failed_key, start, "+inf", start=offset, num=SWEEP_BATCH, withscores=True
            )  # type: ignore[assignment]
            if not batch:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id, score in batch:
                    pipe.hexists(self.keys.dlq_sources, f"{queue}:{job_id}:{int(score)}")
                present = await pipe.execute()
            for (job_id, score), known in zip(batch, present, strict=True):
                highest = max(highest, int(score))
                if not known and await self.capture(queue, job_id):
                    captured += 1
            if len(batch) < SWEEP_BATCH:
                break
            offset += SWEEP_BATCH
        if highest > mark:
            await self.redis.set(mark_key, highest)
        if captured:
            logger.warning("captured %d failed job(s) of queue %s that a crash left out of the DLQ", captured, queue)
        return captured

    async def delete_older_than(self, cutoff_ms: int, batch: int = 1_000) -> int:
        """Delete every entry that failed before `cutoff_ms` (epoch milliseconds); returns how many."""
        removed = 0
        while True:
            ids: list[str] = await self.redis.zrangebyscore(
                self.keys.dlq_by_time, "-inf", f"({cutoff_ms}", start=0, num=batch
            )  # type: ignore[assignment]
            if not ids:
                return removed
            removed += await self.delete(ids)

    async def delete(self, entry_ids: list[str]) -> int:
        """Delete entries by id, with their idempotency records; returns how many existed."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.hget(self.keys.dlq_entry(entry_id), "source")
            sources = await pipe.execute()
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, source in zip(entry_ids, sources, strict=True):
                pipe.delete(self.keys.dlq_entry(entry_id))
                pipe.zrem(self.keys.dlq_by_time, entry_id)
                if source:
                    # A tombstone, not a deletion: the sweeper must never capture this failure again.
                    pipe.hset(self.keys.dlq_sources, source, TOMBSTONE)
            await pipe.execute()
        return sum(1 for source in sources if source)

    async def prune_tombstones(self) -> int:
        """Forget deleted entries whose failed job is gone from its queue, so it can never be captured again."""
        pruned = 0
        async for source, value in self.redis.hscan_iter(self.keys.dlq_sources, count=1_000):
            if value != TOMBSTONE:
                continue
            queue, rest = str(source).split(":", 1)
            job_id = rest.rsplit(":", 1)[0]
            if await self.redis.zscore(self.keys.queue(queue, "failed"), job_id) is None:
                pruned += int(await self.redis.hdel(self.keys.dlq_sources, source))
        return pruned

    async def count(self) -> int:
        """How many entries the DLQ holds."""
        return int(await self.redis.zcard(self.keys.dlq_by_time))

    async def get(self, entry_id: str) -> DeadLetterEntry | None:
        """One entry by id, or None."""
        raw: dict[str, str] = await self.redis.hgetall(self.keys.dlq_entry(entry_id))  # type: ignore[assignment]
        return DeadLetterEntry.from_hash(raw) if raw else None

    async def recent(self, limit: int = 50) -> list[DeadLetterEntry]:
        """The newest entries, newest first."""
        ids: list[str] = await self.redis.zrevrange(self.keys.dlq_by_time, 0, max(limit, 1) - 1)  # type: ignore[assignment]
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hgetall(self.keys.dlq_entry(entry_id))
            rows = await pipe.execute()
        return [DeadLetterEntry.from_hash(row) for row in rows if row]

"""The dead-letter store in Redis: exactly-once capture of failed jobs with their indexes, reads and deletes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from corral.contracts.base import Registry
from corral.dlq.entry import DeadLetterEntry
from corral.dlq.fields import searchable_fields
from corral.dlq.fingerprint import fingerprint, normalise_reason, search_tokens
from corral.dlq.scripts import DlqScripts, key_layout
from corral.engine import StoredJobs
from corral.keys import Keys
from corral.settings import Settings

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500
DELETE_BATCH = 200
TOMBSTONE = "deleted"
MAX_REPLAYS = 5
# Failed jobs finishing this long before the watermark are looked at again, for clocks that disagree.
SWEEP_OVERLAP_MS = 60_000


@dataclass(frozen=True)
class Retention:
    """How long and how many DLQ entries `system.cleanup` keeps (settings `dlq_max_age_hours`, `dlq_max_entries`)."""

    max_age_hours: int = 30 * 24
    max_entries: int = 2_000_000

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        """The retention the settings ask for."""
        return cls(settings.dlq_max_age_hours, settings.dlq_max_entries)


class DeadLetterStore:
    """Captures failed jobs into DLQ entries at most once per failure, indexes them, reads and deletes them."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        registry: Registry | None = None,
        retention: Retention | None = None,
        release: str = "",
    ) -> None:
        self.redis = redis
        # The release the capturing worker runs; empty: the release marked current last.
        self.release = release
        self.keys = keys
        self.retention = retention or Retention()
        # Without the application's registry (counting, deleting), no payload field is indexed.
        self.fields: Mapping[str, list[str]] = searchable_fields(registry) if registry is not None else {}
        self._fields_json = json.dumps(self.fields, separators=(",", ":"))
        self.layout = key_layout(keys)
        self.scripts = DlqScripts(redis)
        self.jobs = StoredJobs(redis, keys)

    def _capture_args(self, queue: str, job_id: str, reason: str) -> list[Any]:
        pattern = normalise_reason(reason)
        return [
            self.layout,
            queue,
            job_id,
            fingerprint(reason),
            pattern[:500],
            int(time.time() * 1000),
            self._fields_json,
            " ".join(search_tokens(pattern)),
            self.jobs.failed_fields,
            self.release,
        ]

    def _capture_keys(self, queue: str, job_id: str) -> list[str]:
        return self.jobs.failed_job_keys(queue, job_id)

    @property
    def atomic_with_engine(self) -> bool:
        """Whether a capture can run in one MULTI/EXEC with the job's move to failed (not on a cluster, where the
        job's keys and the DLQ's are on different slots)."""
        return not self.keys.cluster

    async def capture_in(self, pipe: Pipeline, queue: str, job_id: str, reason: str) -> None:
        """Queue the capture of one failed job on a MULTI pipeline, to run atomically with its move to failed."""
        await self.scripts.capture(
            keys=self._capture_keys(queue, job_id), args=self._capture_args(queue, job_id, reason), client=pipe
        )

    async def capture(self, queue: str, job_id: str, reason: str | None = None) -> str | None:
        """Capture one job already in its queue's failed set; the entry id, or None if it is not failed (or its entry
        was deleted). Capturing a failure twice finds its entry: the entry is keyed by queue, job id and finish time."""
        if reason is None:
            reason = await self.jobs.failed_reason(queue, job_id)
        args = self._capture_args(queue, job_id, reason)
        if not self.keys.cluster:
            result = await self.scripts.capture(keys=self._capture_keys(queue, job_id), args=args)
            return str(result) if result else None
        # On a cluster the job is read first, from its queue's slot (one MULTI there, so its finish time and fields
        # agree), and handed to the script, which runs on the DLQ's slot.
        finished, fields = await self.jobs.read_failed(queue, job_id)
        read = json.dumps(
            [finished if finished is not None else False, [v if v is not None else False for v in fields]]
        )
        result = await self.scripts.capture(keys=[self.keys.dlq_sources], args=[*args, read])
        return str(result) if result else None

    async def sweep(self, queue: str) -> int:
        """Capture failed jobs of `queue` that have no entry (a worker died mid-move); returns how many."""
        mark_key = self.keys.dlq_sweep_mark(queue)
        mark = int(await self.redis.get(mark_key) or 0)
        start = max(mark - SWEEP_OVERLAP_MS, 0)
        captured = 0
        highest = mark
        offset = 0
        while True:
            batch = await self.jobs.failed_since(queue, start, offset, SWEEP_BATCH)
            if not batch:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id, finished_at in batch:
                    pipe.hexists(self.keys.dlq_sources, f"{queue}:{job_id}:{finished_at}")
                present = await pipe.execute()
            for (job_id, finished_at), known in zip(batch, present, strict=True):
                highest = max(highest, finished_at)
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

    async def delete(self, entry_ids: list[str]) -> int:
        """Delete entries by id with their index memberships; returns how many existed."""
        return len(await self.delete_entries(entry_ids))

    async def delete_entries(self, entry_ids: list[str]) -> list[tuple[str, str, str]]:
        """Delete entries by id; returns (entry id, queue, job id) of those that existed."""
        gone: list[tuple[str, str, str]] = []
        for start in range(0, len(entry_ids), DELETE_BATCH):
            flat: list[str] = await self.scripts.delete(
                keys=[self.keys.dlq_sequence], args=[self.layout, *entry_ids[start : start + DELETE_BATCH]]
            )
            gone.extend((flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3))
        return gone

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

    async def delete_beyond(self, max_entries: int, batch: int = 1_000) -> int:
        """Delete the oldest entries until at most `max_entries` remain; returns how many."""
        removed = 0
        while True:
            excess = await self.count() - max_entries
            if excess <= 0:
                return removed
            ids: list[str] = await self.redis.zrange(self.keys.dlq_by_time, 0, min(excess, batch) - 1)  # type: ignore[assignment]
            removed += await self.delete(ids)

    async def enforce_retention(self, max_age_hours: int | None = None, max_entries: int | None = None) -> int:
        """Drop entries older than the maximum age, then the oldest beyond the maximum count (the store's retention
        unless given); returns how many."""
        age = max_age_hours if max_age_hours is not None else self.retention.max_age_hours
        cap = max_entries if max_entries is not None else self.retention.max_entries
        cutoff_ms = int(time.time() * 1000) - age * 3_600_000
        return await self.delete_older_than(cutoff_ms) + await self.delete_beyond(cap)

    async def prune_tombstones(self) -> int:
        """Forget deleted entries whose failed job is gone from its queue, so it can never be captured again."""
        pruned = 0
        async for source, value in self.redis.hscan_iter(self.keys.dlq_sources, count=1_000):
            if value != TOMBSTONE:
                continue
            queue, rest = str(source).split(":", 1)
            job_id = rest.rsplit(":", 1)[0]
            if not await self.jobs.is_failed(queue, job_id):
                pruned += int(await self.redis.hdel(self.keys.dlq_sources, source))
        return pruned

    async def index_names(self) -> int:
        """Fill the lexical sets of fingerprints and error tokens from the fingerprints present (entries captured
        before those sets existed); returns how many fingerprints it named. Idempotent."""
        fps: list[str] = await self.redis.zrange(self.keys.dlq_counts("fp"), 0, -1)  # type: ignore[assignment]
        if not fps:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for fp in fps:
                pipe.hget(self.keys.dlq_fingerprint(fp), "tokens")
            tokens = await pipe.execute()
        names = {token for text in tokens for token in str(text or "").split()}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.dlq_fingerprint_names, dict.fromkeys(fps, 0))
            if names:
                pipe.zadd(self.keys.dlq_token_names, dict.fromkeys(names, 0))
            await pipe.execute()
        return len(fps)

    async def count(self) -> int:
        """How many entries the DLQ holds."""
        return int(await self.redis.zcard(self.keys.dlq_by_time))

    async def span(self, before_ms: int) -> tuple[int, int, int | None]:
        """How many entries the DLQ holds, how many failed before `before_ms`, and when the oldest failed."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.dlq_by_time)
            pipe.zcount(self.keys.dlq_by_time, "-inf", f"({before_ms}")
            pipe.zrange(self.keys.dlq_by_time, 0, 0, withscores=True)
            total, before, oldest = await pipe.execute()
        return int(total), int(before), int(oldest[0][1]) if oldest else None

    async def get(self, entry_id: str) -> DeadLetterEntry | None:
        """One entry by id with its replay history and reason pattern, or None."""
        raw: dict[str, str] = await self.redis.hgetall(self.keys.dlq_entry(entry_id))  # type: ignore[assignment]
        if not raw:
            return None
        entry = DeadLetterEntry.from_hash(entry_id, raw)
        pattern = await self.redis.hget(self.keys.dlq_fingerprint(entry.fingerprint), "pattern")
        return replace(entry, reason_pattern=str(pattern or ""))

    async def recent(self, limit: int = 50) -> list[DeadLetterEntry]:
        """The newest entries, newest first."""
        ids: list[str] = await self.redis.zrevrange(self.keys.dlq_by_time, 0, max(limit, 1) - 1)  # type: ignore[assignment]
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hgetall(self.keys.dlq_entry(entry_id))
            rows = await pipe.execute()
        return [DeadLetterEntry.from_hash(entry_id, row) for entry_id, row in zip(ids, rows, strict=True) if row]

    async def record_replay(self, entry_id: str, seen_count: int, record: Mapping[str, Any]) -> int:
        """Append a replay to an entry's history if its count is still `seen_count`; the script's answer code."""
        return int(
            await self.scripts.replay(
                keys=[self.keys.dlq_sequence],
                args=[self.layout, entry_id, seen_count, json.dumps(record, separators=(",", ":")), MAX_REPLAYS],
            )
        )

    async def record_outcome(self, entry_id: str, replay: int, status: str, outcome: Mapping[str, Any]) -> bool:
        """Write what became of replay number `replay` of an entry (status `succeeded` or `died`), once."""
        document = json.dumps(outcome, separators=(",", ":"))
        return bool(
            await self.scripts.outcome(
                keys=[self.keys.dlq_sequence], args=[self.layout, entry_id, replay, status, document]
            )
        )

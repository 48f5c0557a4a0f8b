"""The metrics recorder: turns a worker's job events into per-minute, per-hour and total counters in Redis.

Events are tallied in memory (no Redis call on the job's path) and written about once a second: one Lua call per
touched hash, all in one pipeline. Jobs are never scanned: the only read is the queued time of jobs that just
started their first attempt, for the wait time, batched in the same flush; above `max_wait_samples` first starts
per flush, a uniform sample of them is read (counts and processing times stay exact).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from redis.asyncio import Redis

from corral.dlq.fingerprint import fingerprint, normalise_reason
from corral.engine import RepeatedErrorLog, StoredJobs
from corral.hooks import HookBus, JobEvent, JobEventKind
from corral.keys import Keys
from corral.lifetime import end_task, set_within
from corral.monitoring import histogram
from corral.monitoring.tally import SEPARATOR

logger = logging.getLogger(__name__)

# How many times a flush reads the queued times of jobs that started meanwhile.
WAIT_ROUNDS = 5
MINUTE = 60
HOUR = 3_600
MINUTE_TTL_SECONDS = 25 * HOUR  # per-minute history: 24 h, plus an hour of slack
HOUR_TTL_SECONDS = 31 * 24 * HOUR  # per-hour history: 30 days, plus a day of slack
MAX_OPEN_STARTS = 100_000
MAX_KNOWN_PATTERNS = 10_000
CLOSE_WAIT_SECONDS = 10.0

# KEYS[1] hash; ARGV[1] TTL in seconds (0: none); ARGV[2] number n of increments; then n (field, amount) pairs,
# then (field, value) pairs each kept as the field's maximum.
_APPLY = """
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i < #ARGV do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
end
return 1
"""


@dataclass
class _Changes:
    """What one flush adds to one hash."""

    ttl: int
    increments: Counter[str] = field(default_factory=Counter)
    maxima: dict[str, int] = field(default_factory=dict)

    def maximum(self, name: str, value: int) -> None:
        if value > self.maxima.get(name, -1):
            self.maxima[name] = value

    def absorb(self, other: _Changes) -> None:
        self.increments.update(other.increments)
        for name, value in other.maxima.items():
            self.maximum(name, value)


@dataclass(frozen=True)
class _PendingWait:
    queue: str
    name: str
    job_id: str
    started_at_ms: int


class MetricsRecorder:
    """Records completed, failed, dead-lettered and stalled jobs with processing and wait times."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        flush_seconds: float = 1.0,
        max_pending: int = 5_000,
        max_wait_samples: int = 200,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.jobs = StoredJobs(redis, keys)
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self.max_wait_samples = max_wait_samples
        self._first_starts = 0
        self.processed = 0
        self.failed = 0
        self._apply = redis.register_script(_APPLY)
        self._changes: dict[str, _Changes] = {}
        self._waits: list[_PendingWait] = []
        self._patterns: dict[str, str] = {}
        self._known_patterns: set[str] = set()
        self._starts: dict[tuple[str, str], float] = {}
        self._pending_events = 0
        self._wake = asyncio.Event()
        self._errors = RepeatedErrorLog(log=logger)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._flushing = asyncio.Lock()

    def subscribe(self, hooks: HookBus) -> None:
        """Listen to the job events the metrics need."""
        hooks.subscribe(
            self.on_event, JobEventKind.STARTED, JobEventKind.COMPLETED, JobEventKind.FAILED, JobEventKind.STALLED
        )

    def on_event(self, event: JobEvent) -> None:
        """Tally one job event in memory (never awaits)."""
        if event.kind is JobEventKind.STARTED:
            if len(self._starts) >= MAX_OPEN_STARTS:
                self._starts.clear()  # jobs abandoned to stall recovery never finish here; do not grow forever
            self._starts[(event.queue, event.job_id)] = time.perf_counter()
            if event.attempt == 1:
                self._sample_wait(_PendingWait(event.queue, event.name, event.job_id, event.at_ms))
        elif event.kind is JobEventKind.COMPLETED:
            started = self._starts.pop((event.queue, event.job_id), None)
            elapsed_us = int((time.perf_counter() - started) * 1_000_000) if started is not None else None
            self.record_completed(event.queue, event.name, event.at_ms, elapsed_us)
        elif event.kind is JobEventKind.FAILED:
            self._starts.pop((event.queue, event.job_id), None)
            detail = event.detail
            self.record_failed(
                event.queue, event.name, event.at_ms, str(detail.get("reason", "")), bool(detail.get("final"))
            )
        elif event.kind is JobEventKind.STALLED:
            self._starts.pop((event.queue, event.job_id), None)
            self.record_stalled(event.queue, event.at_ms)
        self._count_event()

    def _sample_wait(self, wait: _PendingWait) -> None:
        # Reservoir sampling: every first start of this flush interval has the same chance to be measured.
        self._first_starts += 1
        if len(self._waits) < self.max_wait_samples:
            self._waits.append(wait)
            return
        slot = random.randrange(self._first_starts)
        if slot < self.max_wait_samples:
            self._waits[slot] = wait

    def record_completed(self, queue: str, name: str, at_ms: int, processing_us: int | None) -> None:
        """Count one completed job, with its processing time when known."""
        self.processed += 1
        for change in self._metric_changes(queue, at_ms):
            for job_type in (None, name):
                suffix = "" if job_type is None else SEPARATOR + job_type
                change.increments["c" + suffix] += 1
                if processing_us is not None:
                    change.increments["pn" + suffix] += 1
                    change.increments["ps" + suffix] += processing_us
                    change.increments[f"h{histogram.bucket_index(processing_us / 1000)}{suffix}"] += 1
                    change.maximum("pm" + suffix, processing_us)
        totals = self._totals()
        totals.increments[f"{queue}:c"] += 1
        if processing_us is not None:
            totals.increments[f"{queue}:pn"] += 1
            totals.increments[f"{queue}:ps"] += processing_us
            totals.increments[f"{queue}:h{histogram.bucket_index(processing_us / 1000)}"] += 1

    def record_failed(self, queue: str, name: str, at_ms: int, reason: str, final: bool) -> None:
        """Count one failed attempt (and a dead-lettered job when it was the last), under its fingerprint."""
        self.failed += 1
        for change in self._metric_changes(queue, at_ms):
            for suffix in ("", SEPARATOR + name):
                change.increments["f" + suffix] += 1
                if final:
                    change.increments["d" + suffix] += 1
        totals = self._totals()
        totals.increments[f"{queue}:f"] += 1
        if final:
            totals.increments[f"{queue}:d"] += 1
        digest = fingerprint(reason)
        if digest not in self._known_patterns:
            self._patterns[digest] = json.dumps({"pattern": normalise_reason(reason)[:500], "sample": reason[:500]})
        for granularity, size, ttl in (("m", MINUTE, MINUTE_TTL_SECONDS), ("h", HOUR, HOUR_TTL_SECONDS)):
            key = self.keys.failure_bucket(granularity, queue, at_ms // 1000 // size * size)
            change = self._change(key, ttl)
            change.increments[f"a|{digest}|{name}"] += 1
            if final:
                change.increments[f"d|{digest}|{name}"] += 1
            change.maximum(f"t|{digest}|{name}", at_ms)

    def record_stalled(self, queue: str, at_ms: int) -> None:
        """Count one stalled job."""
        for change in self._metric_changes(queue, at_ms):
            change.increments["s"] += 1
        self._totals().increments[f"{queue}:s"] += 1

    def record_wait(self, queue: str, name: str, at_ms: int, wait_us: int) -> None:
        """Count one wait time: from queued (or due, when delayed) to the first attempt's start."""
        for change in self._metric_changes(queue, at_ms):
            for suffix in ("", SEPARATOR + name):
                change.increments["wn" + suffix] += 1
                change.increments["ws" + suffix] += wait_us
                change.maximum("wm" + suffix, wait_us)

    def _metric_changes(self, queue: str, at_ms: int) -> tuple[_Changes, _Changes]:
        seconds = at_ms // 1000
        minute = self._change(self.keys.metrics_bucket("m", queue, seconds // MINUTE * MINUTE), MINUTE_TTL_SECONDS)
        hour = self._change(self.keys.metrics_bucket("h", queue, seconds // HOUR * HOUR), HOUR_TTL_SECONDS)
        return minute, hour

    def _totals(self) -> _Changes:
        return self._change(self.keys.metrics_totals, 0)

    def _change(self, key: str, ttl: int) -> _Changes:
        change = self._changes.get(key)
        if change is None:
            change = self._changes[key] = _Changes(ttl)
        return change

    def _count_event(self) -> None:
        self._pending_events += 1
        if self._pending_events >= self.max_pending:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything tallied so far; on failure it is kept for the next flush."""
        async with self._flushing:
            # Jobs may start while the queued times are read; read theirs too (a few rounds at most), so that a
            # flush that writes a job's completion also writes its wait time.
            for _ in range(WAIT_ROUNDS):
                if not self._waits:
                    break
                await self._resolve_waits()
            changes, self._changes = self._changes, {}
            patterns, self._patterns = self._patterns, {}
            self._pending_events = 0
            if not changes and not patterns:
                return
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, change in changes.items():
                        args: list[str | int] = [change.ttl, len(change.increments)]
                        for name, amount in change.increments.items():
                            args += [name, amount]
                        for name, value in change.maxima.items():
                            args += [name, value]
                        await self._apply(keys=[key], args=args, client=pipe)
                    for digest, document in patterns.items():
                        pipe.hsetnx(self.keys.failure_patterns, digest, document)
                    await pipe.execute()
            except Exception:
                for key, change in changes.items():
                    self._change(key, change.ttl).absorb(change)
                self._patterns.update(patterns)
                raise
            if len(self._known_patterns) < MAX_KNOWN_PATTERNS:
                self._known_patterns.update(patterns)

    async def _resolve_waits(self) -> None:
        waits, self._waits = self._waits, []
        self._first_starts = 0
        if not waits:
            return
        ready = await self.jobs.ready_times([(wait.queue, wait.job_id) for wait in waits])
        for wait, due in zip(waits, ready, strict=True):
            if due is None:
                continue  # already removed by its queue's retention
            self.record_wait(wait.queue, wait.name, wait.started_at_ms, max(wait.started_at_ms - due, 0) * 1000)

    def start(self) -> None:
        """Flush every `flush_seconds` (sooner when many events wait) until closed."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="corral-metrics-recorder")

    async def _run(self) -> None:
        while not self._closing:
            await set_within(self._wake, self.flush_seconds)
            self._wake.clear()
            if self._closing:
                return
            try:
                await self.flush()
            except Exception as exc:
                # A lost server fails every flush until it is back: one line per 30 s, the traceback at debug level.
                logger.debug("metrics flush failed", exc_info=True)
                self._errors.report(
                    f"metrics flush failed ({type(exc).__name__}: {exc}); the metrics are kept and retried every "
                    f"{self.flush_seconds:g}s"
                )

    async def close(self) -> None:
        """Stop the flush loop and write what is left.

        The loop is asked to stop, not cancelled: on Python 3.11 a cancel that arrives as the loop's wake-up does
        (a full batch) is lost inside `asyncio.wait_for`, and the close then waited forever. A loop still flushing
        after 10 s is cancelled.
        """
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wake.set()
            await end_task(task, wait_seconds=CLOSE_WAIT_SECONDS, cancel_wait_seconds=CLOSE_WAIT_SECONDS)
        try:
            await self.flush()
        except Exception:
            logger.exception("final metrics flush failed; %d hash(es) of metrics lost", len(self._changes))

"""Metrics history: per-minute (24 h) and per-hour (30 days) points of one queue or job type, read from buckets."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from corral.keys import Keys
from corral.monitoring import histogram
from corral.monitoring.recorder import HOUR, MINUTE
from corral.monitoring.tally import Tally

Granularity = Literal["minute", "hour"]
BUCKET_SECONDS: dict[str, int] = {"minute": MINUTE, "hour": HOUR}
KEY_LETTER: dict[str, str] = {"minute": "m", "hour": "h"}
MAX_POINTS: dict[str, int] = {"minute": 24 * 60, "hour": 30 * 24}


@dataclass(frozen=True)
class Timing:
    """A duration summary in milliseconds; None where there were no samples."""

    count: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @classmethod
    def of_processing(cls, tally: Tally) -> Timing:
        """Processing time of completed jobs: average and maximum exact, percentiles from the histogram."""
        max_ms = tally.processing_max_us / 1000 if tally.processing_count else None
        buckets = tally.processing_histogram
        return cls(
            count=tally.processing_count,
            avg_ms=_round(tally.processing_avg_ms),
            p50_ms=_round(histogram.percentile(buckets, 0.50, max_ms)),
            p95_ms=_round(histogram.percentile(buckets, 0.95, max_ms)),
            p99_ms=_round(histogram.percentile(buckets, 0.99, max_ms)),
            max_ms=_round(max_ms),
        )

    @classmethod
    def of_wait(cls, tally: Tally) -> Timing:
        """Wait time (queued to started): average and maximum; no percentiles are kept for it."""
        max_ms = tally.wait_max_us / 1000 if tally.wait_count else None
        return cls(tally.wait_count, _round(tally.wait_avg_ms), None, None, None, _round(max_ms))


@dataclass(frozen=True)
class MetricsPoint:
    """One minute or hour of one queue (or job type)."""

    at: int
    completed: int
    failed: int
    dead_lettered: int
    stalled: int
    error_rate: float | None
    processing: Timing
    wait: Timing
    rolling_avg_ms: float | None


@dataclass(frozen=True)
class MetricsSummary:
    """The whole window at once."""

    completed: int
    failed: int
    dead_lettered: int
    stalled: int
    throughput_per_minute: float
    failed_per_minute: float
    success_rate: float | None
    error_rate: float | None
    processing: Timing
    wait: Timing


@dataclass(frozen=True)
class MetricsReport:
    """History and summary of one queue (or one job type of it), with its oldest waiting job's age."""

    queue: str
    job_type: str | None
    granularity: str
    rolling_points: int
    points: list[MetricsPoint]
    summary: MetricsSummary
    oldest_waiting_age_seconds: float | None
    generated_at: int


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def bucket_starts(granularity: Granularity, points: int, now: float | None = None) -> list[int]:
    """Start times (epoch seconds) of the last `points` buckets, oldest first, the current one included."""
    size = BUCKET_SECONDS[granularity]
    current = int(now if now is not None else time.time()) // size * size
    return [current - size * offset for offset in range(points - 1, -1, -1)]


class MetricsHistory:
    """Reads bucket hashes back as tallies and points."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def raw(
        self, queues: list[str], granularity: Granularity, starts: list[int]
    ) -> dict[str, list[dict[str, str]]]:
        """The bucket hashes of several queues over the same buckets, in one round trip."""
        letter = KEY_LETTER[granularity]
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                for start in starts:
                    pipe.hgetall(self.keys.metrics_bucket(letter, queue, start))
            rows: list[dict[str, str]] = await pipe.execute()
        width = len(starts)
        return {queue: rows[index * width : (index + 1) * width] for index, queue in enumerate(queues)}

    async def tallies(
        self, queue: str, granularity: Granularity, starts: list[int], job_type: str | None = None
    ) -> list[Tally]:
        """One tally per bucket."""
        rows = (await self.raw([queue], granularity, starts))[queue]
        return [Tally.parse(row, job_type) for row in rows]

    def report(
        self,
        queue: str,
        job_type: str | None,
        granularity: Granularity,
        starts: list[int],
        tallies: list[Tally],
        rolling_points: int,
        oldest_waiting_age_seconds: float | None,
    ) -> MetricsReport:
        """Points with a rolling average of processing time over `rolling_points` points, and the summary."""
        points = []
        sums, counts = [0], [0]
        for tally in tallies:
            sums.append(sums[-1] + tally.processing_sum_us)
            counts.append(counts[-1] + tally.processing_count)
        for index, (start, tally) in enumerate(zip(starts, tallies, strict=True)):
            first = max(index - rolling_points + 1, 0)
            window_count = counts[index + 1] - counts[first]
            rolling = (sums[index + 1] - sums[first]) / window_count / 1000 if window_count else None
            points.append(
                MetricsPoint(
                    at=start,
                    completed=tally.completed,
                    failed=tally.failed,
                    dead_lettered=tally.dead_lettered,
                    stalled=tally.stalled,
                    error_rate=_round(tally.error_rate),
                    processing=Timing.of_processing(tally),
                    wait=Timing.of_wait(tally),
                    rolling_avg_ms=_round(rolling),
                )
            )
        total = Tally.total(tallies)
        minutes = max(len(starts) * BUCKET_SECONDS[granularity] / 60, 1)
        error_rate = total.error_rate
        summary = MetricsSummary(
            completed=total.completed,
            failed=total.failed,
            dead_lettered=total.dead_lettered,
            stalled=total.stalled,
            throughput_per_minute=round(total.completed / minutes, 3),
            failed_per_minute=round(total.failed / minutes, 3),
            success_rate=None if error_rate is None else round(1 - error_rate, 4),
            error_rate=None if error_rate is None else round(error_rate, 4),
            processing=Timing.of_processing(total),
            wait=Timing.of_wait(total),
        )
        return MetricsReport(
            queue=queue,
            job_type=job_type,
            granularity=granularity,
            rolling_points=rolling_points,
            points=points,
            summary=summary,
            oldest_waiting_age_seconds=oldest_waiting_age_seconds,
            generated_at=int(time.time() * 1000),
        )

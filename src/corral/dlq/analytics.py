"""DLQ analytics and hourly trends, read from counters the scripts keep; cached until the DLQ changes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from corral.dlq.store import MAX_REPLAYS
from corral.errors import FieldError, InvalidRequestError
from corral.keys import Keys

HOUR_MS = 3_600_000
MAX_TREND_HOURS = 90 * 24
CACHE_SECONDS = 5.0
# Fingerprints counted one by one within a range; beyond, the most frequent overall are the candidates.
MAX_RANGE_FINGERPRINTS = 5_000
WINDOWS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}


@dataclass(frozen=True)
class FingerprintStat:
    """One error fingerprint: how many entries carry it, when it was first and last seen, and a sample reason."""

    fingerprint: str
    count: int
    first_seen: int | None
    last_seen: int | None
    pattern: str
    sample_reason: str
    queue: str
    # The releases it was seen in, in the order it first appeared in each; `new_in` is its first release when an
    # older release is known (the failure began with that release).
    releases: list[str] = field(default_factory=list)
    first_release: str | None = None
    last_release: str | None = None
    new_in: str | None = None


@dataclass(frozen=True)
class HourCount:
    """Entries that failed within one hour starting at `hour` (epoch ms)."""

    hour: int
    count: int


@dataclass(frozen=True)
class Analytics:
    """Totals and breakdowns of the DLQ as it is now, or of the entries that failed within [start, end)."""

    total: int
    by_queue: dict[str, int]
    by_name: dict[str, int]
    fingerprints: int
    top_fingerprints: list[FingerprintStat]
    by_hour: list[HourCount]
    by_status: dict[str, int]
    replay_success_rate: float | None
    # The range the breakdowns cover (epoch ms, end excluded) and how many entries failed in it; None: all entries.
    start: int | None = None
    end: int | None = None
    in_range: int | None = None
    by_release: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseMarker:
    """A release first seen within a trend's range, drawn as a marker at `at` (epoch ms)."""

    name: str
    at: int


@dataclass(frozen=True)
class Trend:
    """Hourly counts over [start, end), their total, average per hour and peak hour."""

    start: int
    end: int
    buckets: list[HourCount]
    total: int
    average_per_hour: float
    peak: HourCount | None
    releases: list[ReleaseMarker] = field(default_factory=list)


def trend_range(window: str | None, since_ms: int | None, until_ms: int | None, now_ms: int) -> tuple[int, int]:
    """The [start, end) of a trend: a named window ending now, or a custom range of at most 90 days."""
    if window is not None:
        if window not in WINDOWS:
            raise InvalidRequestError("invalid window", [FieldError("window", f"one of {', '.join(WINDOWS)}")])
        end = (now_ms // HOUR_MS + 1) * HOUR_MS
        return end - WINDOWS[window] * HOUR_MS, end
    if since_ms is None:
        raise InvalidRequestError("trend range missing", [FieldError("window", "give a window or a since/until range")])
    end = until_ms if until_ms is not None else now_ms
    if end <= since_ms:
        raise InvalidRequestError("invalid range", [FieldError("until", "must be after since")])
    if (end - since_ms) / HOUR_MS > MAX_TREND_HOURS:
        raise InvalidRequestError("range too long", [FieldError("since", "a range covers at most 90 days")])
    return since_ms, end


def _stat(
    fp: str,
    count: int,
    described: list[str | None],
    first: Any,
    last: Any,
    releases: list[str],
    earliest: Any,
    release_starts: dict[str, int],
) -> FingerprintStat:
    pattern, sample, queue, last_release = described
    first_release = releases[0] if releases else None
    return FingerprintStat(
        fingerprint=fp,
        count=count,
        first_seen=int(first[0][1]) if first else None,
        last_seen=int(last[0][1]) if last else None,
        pattern=pattern or "",
        sample_reason=sample or "",
        queue=queue or "",
        releases=[str(name) for name in releases],
        first_release=first_release,
        last_release=last_release or None,
        new_in=_new_in(first_release, int(earliest[0][1]) if earliest else None, release_starts),
    )


def _new_in(first_release: str | None, first_seen: int | None, release_starts: dict[str, int]) -> str | None:
    """The release a failure began with: its first release, if an older release is known and the failure was never
    seen before that release started (failures from before releases were recorded are not new in any)."""
    if first_release is None or first_seen is None or first_release not in release_starts:
        return None
    started = release_starts[first_release]
    if started == min(release_starts.values()) or first_seen < started:
        return None
    return first_release


DESCRIBED = ["pattern", "sample", "queue", "lastRelease"]
# Per fingerprint: its description, first and last entry (in range), its releases, and its first entry ever.
PER_FINGERPRINT = 5


class DlqAnalytics:
    """Computes analytics and trends from the DLQ's counters; answers are cached per DLQ version for 5 s."""

    def __init__(self, redis: Redis, keys: Keys, cache_seconds: float = CACHE_SECONDS) -> None:
        self.redis = redis
        self.keys = keys
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[Any, ...], tuple[str, float, Any]] = {}

    async def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        version = str(await self.redis.get(self.keys.dlq_version) or "0")
        found = self._cache.get(key)
        now = time.monotonic()
        if found is not None and found[0] == version and now - found[1] < self.cache_seconds:
            return found[2]
        value = await compute()
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = (version, now, value)
        return value

    async def summary(self, top: int = 10, now_ms: int | None = None) -> Analytics:
        """Totals; counts by queue, job name, status and the last 24 hours; the top `top` fingerprints."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        hour = now // HOUR_MS
        return await self._cached(("summary", top, hour), lambda: self._summary(top, hour))  # type: ignore[no-any-return]

    async def summary_in(
        self,
        top: int = 10,
        window: str | None = "24h",
        since_ms: int | None = None,
        until_ms: int | None = None,
        now_ms: int | None = None,
    ) -> Analytics:
        """The same breakdowns over the entries that failed within a window or a custom range (see `trend`)."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        start, end = trend_range(window, since_ms, until_ms, now)
        return await self._cached(("range", top, start, end), lambda: self._summary_in(top, start, end))  # type: ignore[no-any-return]

    async def _summary_in(self, top: int, start: int, end: int) -> Analytics:
        keys, ix = self.keys, self.keys.dlq_index
        low, high = str(start), f"({end}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.dlq_by_time)
            pipe.zcount(keys.dlq_by_time, low, high)
            pipe.zrange(keys.dlq_counts("queue"), 0, -1)
            pipe.zrange(keys.dlq_counts("name"), 0, -1)
            pipe.zrevrange(keys.dlq_counts("fp"), 0, MAX_RANGE_FINGERPRINTS - 1)
            for status in ("pending", "succeeded", "died"):
                pipe.zcount(ix("status", status), low, high)
            pipe.zcount(keys.dlq_replayed, low, high)
            pipe.zcount(ix("replays", str(MAX_REPLAYS)), low, high)
            total, in_range, queues, names, fps, pending, succeeded, died, replayed, at_limit = await pipe.execute()
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.zcount(ix("queue", queue), low, high)
            for name in names:
                pipe.zcount(ix("name", name), low, high)
            for fp in fps:
                pipe.zcount(ix("fp", fp), low, high)
            counted = await pipe.execute()
        by_queue = {q: int(c) for q, c in zip(queues, counted[: len(queues)], strict=True) if int(c)}
        by_name = {n: int(c) for n, c in zip(names, counted[len(queues) : len(queues) + len(names)], strict=True) if c}
        fp_counts = [(fp, int(c)) for fp, c in zip(fps, counted[len(queues) + len(names) :], strict=True) if int(c)]
        fp_counts.sort(key=lambda item: (-item[1], item[0]))
        chosen = fp_counts[: max(top, 1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for fp, _count in chosen:
                pipe.hmget(keys.dlq_fingerprint(fp), DESCRIBED)
                pipe.zrangebyscore(ix("fp", fp), low, high, start=0, num=1, withscores=True)
                pipe.zrevrangebyscore(ix("fp", fp), high, low, start=0, num=1, withscores=True)
                pipe.zrange(keys.dlq_fingerprint_releases(fp), 0, -1)
                pipe.zrange(ix("fp", fp), 0, 0, withscores=True)
            pipe.zrange(keys.releases, 0, -1, withscores=True)
            pipe.zrange(keys.dlq_counts("release"), 0, -1)
            *details, known, releases = await pipe.execute()
        stats = self._stats(chosen, details, known)
        async with self.redis.pipeline(transaction=False) as pipe:
            for release in releases:
                pipe.zcount(ix("release", release), low, high)
            release_counts = await pipe.execute()
        by_release = {str(r): int(c) for r, c in zip(releases, release_counts, strict=True) if int(c)}
        by_status = {
            "never": int(in_range) - int(replayed),
            "pending": int(pending),
            "succeeded": int(succeeded),
            "died": int(died),
            "limit_reached": int(at_limit),
        }
        finished = by_status["succeeded"] + by_status["died"]
        trend = await self._trend(start, end)
        return Analytics(
            total=int(total),
            by_queue=by_queue,
            by_name=by_name,
            fingerprints=len(fp_counts),
            top_fingerprints=stats,
            by_hour=trend.buckets,
            by_status=by_status,
            replay_success_rate=round(by_status["succeeded"] / finished, 4) if finished else None,
            start=start,
            end=end,
            in_range=int(in_range),
            by_release=by_release,
        )

    @staticmethod
    def _stats(
        chosen: list[tuple[str, int]], details: list[Any], known: list[tuple[str, float]]
    ) -> list[FingerprintStat]:
        starts = {str(name): int(at) for name, at in known}
        stats = []
        for i, (fp, count) in enumerate(chosen):
            described, first, last, releases, earliest = details[i * PER_FINGERPRINT : (i + 1) * PER_FINGERPRINT]
            stats.append(_stat(fp, int(count), described, first, last, releases, earliest, starts))
        return stats

    async def _summary(self, top: int, current_hour: int) -> Analytics:
        keys = self.keys
        hours = [str(h) for h in range(current_hour - 23, current_hour + 1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.dlq_by_time)
            pipe.zrange(keys.dlq_counts("queue"), 0, -1, withscores=True)
            pipe.zrange(keys.dlq_counts("name"), 0, -1, withscores=True)
            pipe.zcard(keys.dlq_counts("fp"))
            pipe.zrevrange(keys.dlq_counts("fp"), 0, max(top, 1) - 1, withscores=True)
            pipe.zrange(keys.dlq_counts("status"), 0, -1, withscores=True)
            pipe.zcard(keys.dlq_index("replays", str(MAX_REPLAYS)))
            pipe.hmget(keys.dlq_hours, hours)
            pipe.zrange(keys.dlq_counts("release"), 0, -1, withscores=True)
            total, queues, names, fp_count, top_fps, statuses, at_limit, hourly, releases = await pipe.execute()
        async with self.redis.pipeline(transaction=False) as pipe:
            for fp, _count in top_fps:
                pipe.hmget(keys.dlq_fingerprint(fp), DESCRIBED)
                pipe.zrange(keys.dlq_index("fp", fp), 0, 0, withscores=True)
                pipe.zrevrange(keys.dlq_index("fp", fp), 0, 0, withscores=True)
                pipe.zrange(keys.dlq_fingerprint_releases(fp), 0, -1)
                pipe.zrange(keys.dlq_index("fp", fp), 0, 0, withscores=True)
            pipe.zrange(keys.releases, 0, -1, withscores=True)
            *details, known = await pipe.execute()
        stats = self._stats(top_fps, details, known)
        by_status = dict.fromkeys(("never", "pending", "succeeded", "died"), 0)
        by_status.update({status: int(count) for status, count in statuses})
        by_status["limit_reached"] = int(at_limit)
        finished = by_status["succeeded"] + by_status["died"]
        return Analytics(
            total=int(total),
            by_queue={queue: int(count) for queue, count in queues},
            by_name={name: int(count) for name, count in names},
            fingerprints=int(fp_count),
            top_fingerprints=stats,
            by_hour=[HourCount(int(h) * HOUR_MS, int(c or 0)) for h, c in zip(hours, hourly, strict=True)],
            by_status=by_status,
            replay_success_rate=round(by_status["succeeded"] / finished, 4) if finished else None,
            by_release={str(release): int(count) for release, count in releases},
        )

    async def trend(
        self,
        window: str | None = "24h",
        since_ms: int | None = None,
        until_ms: int | None = None,
        now_ms: int | None = None,
    ) -> Trend:
        """Hourly counts over a named window (24h, 7d, 30d) ending now, or over a custom range."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        start, end = trend_range(window, since_ms, until_ms, now)
        return await self._cached(("trend", start, end), lambda: self._trend(start, end))  # type: ignore[no-any-return]

    async def _trend(self, start: int, end: int) -> Trend:
        hours = list(range(start // HOUR_MS, (end - 1) // HOUR_MS + 1))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.dlq_hours, [str(h) for h in hours])
            pipe.zrangebyscore(self.keys.releases, start, f"({end}", withscores=True)
            counts, marked = await pipe.execute()
        buckets = [HourCount(h * HOUR_MS, int(c or 0)) for h, c in zip(hours, counts, strict=True)]
        total = sum(b.count for b in buckets)
        peak = max(buckets, key=lambda b: b.count) if total else None
        markers = [ReleaseMarker(str(name), int(at)) for name, at in marked]
        average = round(total / len(buckets), 3) if buckets else 0.0
        return Trend(start, end, buckets, total, average, peak, markers)

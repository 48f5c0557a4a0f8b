"""Failure reasons: the most frequent error fingerprints per queue and job type over 1 h, 24 h or 7 days."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from corral.keys import Keys
from corral.monitoring.recorder import HOUR, MINUTE

Window = Literal["1h", "24h", "7d"]
# 1 h from per-minute buckets; 24 h and 7 d from per-hour buckets, the current hour plus the 24 (168) before it.
WINDOWS: dict[str, tuple[str, int, int]] = {"1h": ("m", MINUTE, 60), "24h": ("h", HOUR, 25), "7d": ("h", HOUR, 169)}


@dataclass(frozen=True)
class FailureReason:
    """One fingerprint of one job type: how often it failed attempts and killed jobs, and a sample reason."""

    fingerprint: str
    queue: str
    job_type: str
    pattern: str
    sample: str
    failed_attempts: int
    dead_lettered: int
    last_seen: int


@dataclass(frozen=True)
class FailureReport:
    """The top failure reasons over one window."""

    window: str
    queue: str | None
    job_type: str | None
    total_failed_attempts: int
    reasons: list[FailureReason]


class FailureReasons:
    """Reads the recorder's failure buckets."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def top(
        self,
        queues: list[str],
        window: Window = "24h",
        job_type: str | None = None,
        limit: int = 10,
        now: float | None = None,
    ) -> FailureReport:
        """The `limit` most frequent fingerprints over `window`, for the given queues and optionally one job type."""
        letter, size, count = WINDOWS[window]
        current = int(now if now is not None else time.time()) // size * size
        starts = [current - size * offset for offset in range(count)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                for start in starts:
                    pipe.hgetall(self.keys.failure_bucket(letter, queue, start))
            rows: list[dict[str, str]] = await pipe.execute()
        tallies: dict[tuple[str, str, str], list[int]] = {}
        for index, row in enumerate(rows):
            queue = queues[index // count]
            for field, value in row.items():
                kind, _, rest = field.partition("|")
                digest, _, name = rest.partition("|")
                if job_type is not None and name != job_type:
                    continue
                tally = tallies.setdefault((digest, queue, name), [0, 0, 0])
                if kind == "a":
                    tally[0] += int(value)
                elif kind == "d":
                    tally[1] += int(value)
                elif kind == "t":
                    tally[2] = max(tally[2], int(value))
        ranked = sorted(tallies.items(), key=lambda item: (-item[1][0], -item[1][2]))[:limit]
        digests = [digest for (digest, _, _), _ in ranked]
        patterns = await self.redis.hmget(self.keys.failure_patterns, digests) if digests else []
        reasons = []
        for ((digest, queue, name), (attempts, dead, last_seen)), raw in zip(ranked, patterns, strict=True):
            document = json.loads(raw) if raw else {}
            reasons.append(
                FailureReason(
                    fingerprint=digest,
                    queue=queue,
                    job_type=name,
                    pattern=str(document.get("pattern", "")),
                    sample=str(document.get("sample", "")),
                    failed_attempts=attempts,
                    dead_lettered=dead,
                    last_seen=last_seen,
                )
            )
        return FailureReport(
            window=window,
            queue=queues[0] if len(queues) == 1 else None,
            job_type=job_type,
            total_failed_attempts=sum(tally[0] for tally in tallies.values()),
            reasons=reasons,
        )

"""Duration histograms: log-spaced buckets, four per doubling, that merge by addition and give percentiles.

Bucket 0 holds durations up to 1 ms; bucket i > 0 holds (2^((i-1)/4), 2^(i/4)] ms, so a percentile read from the
buckets is within about 19 % of the true value. Every fourth bound is a power of two milliseconds: those are the
`le` bounds of the Prometheus histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

SUBDIVISIONS = 4
MAX_POWER = 22  # 2^22 ms is about 70 minutes; longer durations land in the last bucket
MAX_INDEX = SUBDIVISIONS * MAX_POWER


def bucket_index(duration_ms: float) -> int:
    """The bucket that holds a duration."""
    if duration_ms <= 1.0:
        return 0
    return min(math.ceil(SUBDIVISIONS * math.log2(duration_ms) - 1e-9), MAX_INDEX)


def upper_bound_ms(index: int) -> float:
    """The largest duration bucket `index` holds."""
    return float(2 ** (index / SUBDIVISIONS))


def percentile(buckets: Mapping[int, int], quantile: float, max_ms: float | None = None) -> float | None:
    """The duration below which `quantile` of the samples fall, interpolated within its bucket; None if empty."""
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = quantile * total
    seen = 0
    for index in sorted(buckets):
        count = buckets[index]
        if count <= 0:
            continue
        if seen + count >= rank:
            lower = 0.0 if index == 0 else upper_bound_ms(index - 1)
            value = lower + (upper_bound_ms(index) - lower) * ((rank - seen) / count)
            return min(value, max_ms) if max_ms is not None else value
        seen += count
    return max_ms


def cumulative_by_power(buckets: Mapping[int, int]) -> list[tuple[float, int]]:
    """Prometheus histogram buckets: (upper bound in seconds, samples at or below it), powers of two ms."""
    result = []
    for power in range(MAX_POWER + 1):
        bound = SUBDIVISIONS * power
        result.append((2**power / 1000.0, sum(count for index, count in buckets.items() if index <= bound)))
    return result


def merge(parts: Iterable[Mapping[int, int]]) -> dict[int, int]:
    """The sum of several histograms."""
    merged: dict[int, int] = {}
    for part in parts:
        for index, count in part.items():
            merged[index] = merged.get(index, 0) + count
    return merged

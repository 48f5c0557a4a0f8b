"""The counters of one metrics bucket, as the recorder writes them and the readers parse them.

A bucket is one Redis hash per queue and minute (or hour). Queue-wide fields have short names; the same fields for
one job type carry `|<job name>` after them:

    c   completed jobs              f   failed attempts           d   dead-lettered jobs    s   stalled jobs
    pn  processing-time samples     ps  their sum (us)            pm  their maximum (us)    h<i> histogram bucket i
    wn  wait-time samples           ws  their sum (us)            wm  their maximum (us)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from corral.monitoring import histogram

COUNTERS = ("c", "f", "d", "s", "pn", "ps", "wn", "ws")
MAXIMA = ("pm", "wm")
SEPARATOR = "|"


def field_name(name: str, job_type: str | None) -> str:
    """The hash field of counter `name`, queue-wide or for one job type."""
    return name if job_type is None else f"{name}{SEPARATOR}{job_type}"


@dataclass
class Tally:
    """Counters and timing summaries of one queue (or one job type) over one or more buckets."""

    completed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    stalled: int = 0
    processing_count: int = 0
    processing_sum_us: int = 0
    processing_max_us: int = 0
    wait_count: int = 0
    wait_sum_us: int = 0
    wait_max_us: int = 0
    processing_histogram: dict[int, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, str], job_type: str | None = None) -> Tally:
        """The tally of one bucket hash, queue-wide or for `job_type`."""
        if not raw:
            return cls()
        suffix = "" if job_type is None else SEPARATOR + job_type

        def number(name: str) -> int:
            return int(raw.get(name + suffix, 0) or 0)

        buckets: dict[int, int] = {}
        for key, value in raw.items():
            if key.startswith("h"):
                head, sep, rest = key.partition(SEPARATOR)
                if (rest if sep else None) == job_type and head[1:].isdigit():
                    buckets[int(head[1:])] = int(value)
        return cls(
            completed=number("c"),
            failed=number("f"),
            dead_lettered=number("d"),
            stalled=number("s"),
            processing_count=number("pn"),
            processing_sum_us=number("ps"),
            processing_max_us=number("pm"),
            wait_count=number("wn"),
            wait_sum_us=number("ws"),
            wait_max_us=number("wm"),
            processing_histogram=buckets,
        )

    def add(self, other: Tally) -> None:
        """Add another tally's counters into this one."""
        self.completed += other.completed
        self.failed += other.failed
        self.dead_lettered += other.dead_lettered
        self.stalled += other.stalled
        self.processing_count += other.processing_count
        self.processing_sum_us += other.processing_sum_us
        self.processing_max_us = max(self.processing_max_us, other.processing_max_us)
        self.wait_count += other.wait_count
        self.wait_sum_us += other.wait_sum_us
        self.wait_max_us = max(self.wait_max_us, other.wait_max_us)
        self.processing_histogram = histogram.merge([self.processing_histogram, other.processing_histogram])

    @classmethod
    def total(cls, tallies: Iterable[Tally]) -> Tally:
        """The sum of several tallies."""
        result = cls()
        for tally in tallies:
            result.add(tally)
        return result

    @property
    def finished_attempts(self) -> int:
        """Attempts that ended: completed jobs plus failed attempts."""
        return self.completed + self.failed

    @property
    def error_rate(self) -> float | None:
        """Failed attempts over finished attempts; None when nothing finished."""
        finished = self.finished_attempts
        return self.failed / finished if finished else None

    @property
    def processing_avg_ms(self) -> float | None:
        """Average processing time of completed jobs, in milliseconds."""
        return self.processing_sum_us / self.processing_count / 1000 if self.processing_count else None

    @property
    def wait_avg_ms(self) -> float | None:
        """Average time from queued to started, in milliseconds."""
        return self.wait_sum_us / self.wait_count / 1000 if self.wait_count else None

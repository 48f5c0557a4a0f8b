"""The slow start of a bulk replay: begin at a fraction of the task's rate and double it each quiet window.

A stage lasts one brake window. In a stage the task replays at the stage's rate and never more than that rate times
the window, however late the stage ends (a slow machine replays fewer, never more); a stage in which none of the
task's replayed jobs died again doubles the rate (up to the task's rate), a stage with a death keeps it. A percent
of 100 is no slow start: the task runs at its full rate from the first entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

TICK_SECONDS = 0.1
FULL = 100


@dataclass(frozen=True)
class SlowStart:
    """Start a bulk replay at `percent` of its rate (1 to 100; 100: full rate at once)."""

    percent: int = FULL

    def start_rate(self, rate: int) -> int:
        """The rate of the first stage: `percent` of `rate`, at least one job per second."""
        return max(1, math.ceil(rate * self.percent / 100))

    def as_params(self, rate: int, window_seconds: int) -> dict[str, int]:
        """The plan as previews, task records and audit rows show it."""
        return {"slow_start": self.percent, "start_rate": self.start_rate(rate), "ramp_window": window_seconds}


@dataclass
class RateRamp:
    """The throttle of one run of a replay task: its current rate, the stage it is in, and the steps taken so far."""

    rate: int
    window_seconds: int
    current: int
    stage_started: float
    stage_done: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def start(cls, rate: int, slow: SlowStart, window_seconds: int, now: float) -> RateRamp:
        """A ramp at the slow start's first stage (`now` on the monotonic clock)."""
        return cls(rate, window_seconds, min(rate, slow.start_rate(rate)), now)

    @property
    def ramping(self) -> bool:
        """Whether the rate is still below the task's rate."""
        return self.current < self.rate

    @property
    def budget(self) -> int:
        """How many more entries this stage may replay (unbounded once at the full rate)."""
        if not self.ramping:
            return 1 << 62
        return max(0, self.current * self.window_seconds - self.stage_done)

    def batch_size(self) -> int:
        """The next batch: a tick's worth at the current rate, within the stage's budget."""
        return min(max(1, int(self.current * TICK_SECONDS)), self.budget)

    def record(self, replayed: int) -> None:
        """Count entries handled in this stage."""
        self.stage_done += replayed

    def delay(self, now: float) -> float:
        """Seconds to wait before the next batch: never ahead of the current rate, nor past the stage's budget."""
        ahead = self.stage_done / self.current - (now - self.stage_started)
        if self.ramping and self.budget == 0:
            ahead = max(ahead, self.stage_started + self.window_seconds - now)
        return max(0.0, ahead)

    def next_stage(self, now: float, died_in_stage: bool, done: int, at_ms: int) -> bool:
        """Begin a new stage once this one's window passed, at double the rate if no job died again in it (a step
        kept in `steps`: when, after how many entries, the new rate); whether a new stage began."""
        if not self.ramping or now - self.stage_started < self.window_seconds:
            return False
        self.stage_started, self.stage_done = now, 0
        if not died_in_stage:
            self.current = min(self.rate, self.current * 2)
            self.steps.append({"at": at_ms, "done": done, "rate": self.current})
        return True

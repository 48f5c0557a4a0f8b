"""The brake of a bulk replay: it watches the jobs the task replayed and trips when too many die again.

A replayed job that dies is written into its entry (`outcome:<n>`) by the capture script; the brake reads those
outcomes for the replays its task made and counts the deaths inside a sliding window.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from corral.dlq.fingerprint import fingerprint
from corral.keys import Keys
from corral.settings import Settings

MAX_FINGERPRINTS = 10
WATCH_BATCH = 500


@dataclass(frozen=True)
class BrakeLimits:
    """Pause a bulk replay when more than `threshold` of its replayed jobs die again within `window_seconds`.

    A threshold of 0 turns the brake off.
    """

    threshold: int
    window_seconds: int

    @classmethod
    def of(cls, settings: Settings) -> BrakeLimits:
        """The default brake the settings ask for."""
        return cls(settings.dlq_replay_brake_threshold, settings.dlq_replay_brake_window_seconds)

    def as_params(self) -> dict[str, int]:
        """The limits as stored with a task and audited."""
        return {"brake_threshold": self.threshold, "brake_window": self.window_seconds}


@dataclass(frozen=True)
class BrakeTrip:
    """Why a bulk replay paused: how many died within the window, and their failure fingerprints (most first)."""

    died: int
    reason: str
    fingerprints: list[dict[str, Any]]


class ReplayBrake:
    """Counts the deaths of the replays one task made; `check` answers a trip once more than the threshold died."""

    def __init__(
        self, redis: Redis, keys: Keys, limits: BrakeLimits, since_ms: int, *, watch_when_off: bool = False
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.limits = limits
        # Deaths before `since_ms` (before the task was resumed) do not count again.
        self.since_ms = since_ms
        self.pending: dict[str, int] = {}
        self.deaths: list[tuple[int, str, str]] = []
        # Every death seen since `since_ms`, in or out of the window (a slow start reads it even with the brake off).
        self.died = 0
        self.watch_when_off = watch_when_off

    def watch(self, entry_id: str, number: int) -> None:
        """Follow replay number `number` of an entry until it has an outcome."""
        self.pending[entry_id] = number

    async def check(self, now_ms: int) -> BrakeTrip | None:
        """Read the outcomes of the watched replays; a trip when the window holds more deaths than the threshold."""
        if self.limits.threshold <= 0 and not self.watch_when_off:
            self.pending.clear()
            return None
        watched = list(self.pending.items())[:WATCH_BATCH]
        if watched:
            async with self.redis.pipeline(transaction=False) as pipe:
                for entry_id, number in watched:
                    pipe.hget(self.keys.dlq_entry(entry_id), f"outcome:{number}")
                outcomes = await pipe.execute()
            for (entry_id, _number), outcome in zip(watched, outcomes, strict=True):
                if outcome:
                    del self.pending[entry_id]
                    self._record(str(outcome))
        start = now_ms - self.limits.window_seconds * 1000
        self.deaths = [death for death in self.deaths if death[0] >= start]
        if self.limits.threshold <= 0 or len(self.deaths) <= self.limits.threshold:
            return None
        return self._trip()

    def _record(self, outcome: str) -> None:
        try:
            value = json.loads(outcome)
        except ValueError:
            return
        if not isinstance(value, dict) or value.get("status") != "died":
            return
        at = int(value.get("at") or 0)
        if at < self.since_ms:
            return
        reason = str(value.get("reason") or "")
        self.died += 1
        self.deaths.append((at, fingerprint(reason), reason))

    def _trip(self) -> BrakeTrip:
        counts = Counter(fp for _at, fp, _reason in self.deaths)
        reasons = {fp: reason for _at, fp, reason in self.deaths}
        fingerprints = [
            {"fingerprint": fp, "count": count, "reason": reasons[fp][:200]}
            for fp, count in counts.most_common(MAX_FINGERPRINTS)
        ]
        died = len(self.deaths)
        reason = (
            f"{died} replayed jobs died again within {self.limits.window_seconds}s "
            f"(more than the threshold of {self.limits.threshold})"
        )
        return BrakeTrip(died, reason, fingerprints)

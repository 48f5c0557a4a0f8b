"""Queue health: signals gathered from counts, workers and metrics history, judged by the rules; cached 60 s."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from pydantic import TypeAdapter

from corral.engine import Engine
from corral.monitoring.cache import MonitoringCache
from corral.monitoring.history import MetricsHistory, bucket_starts
from corral.monitoring.retention import RetentionWatch
from corral.monitoring.rules import HealthIssue, QueueSignals, Thresholds, judge, score
from corral.monitoring.stats import StatsService, oldest_waiting_ages
from corral.monitoring.tally import Tally
from corral.monitoring.workers import WorkerRegistry

STATUS_ORDER = ("healthy", "degraded", "critical")
BASELINE_HOURS = 24


@dataclass(frozen=True)
class QueueHealth:
    """One queue's score, status and issues."""

    queue: str
    score: int
    status: str
    issues: list[HealthIssue]


@dataclass(frozen=True)
class HealthReport:
    """Every queue's health and the overall verdict (lowest score, worst status); `issues` also holds the retention
    warnings, which are listed again in `retention` and move neither score nor status."""

    score: int
    status: str
    queues: list[QueueHealth]
    issues: list[HealthIssue]
    generated_at: int
    retention: list[HealthIssue] = field(default_factory=list)


HEALTH = TypeAdapter(HealthReport)


class HealthService:
    """Computes the health report, or serves it from the shared cache."""

    def __init__(
        self,
        engine: Engine,
        stats: StatsService,
        history: MetricsHistory,
        workers: WorkerRegistry,
        cache: MonitoringCache,
        thresholds: Thresholds,
        ttl_seconds: float,
        retention: RetentionWatch | None = None,
    ) -> None:
        self.engine = engine
        self.retention = retention
        self.stats = stats
        self.history = history
        self.workers = workers
        self.cache = cache
        self.thresholds = thresholds
        self.ttl_seconds = ttl_seconds

    async def signals(self, now: float | None = None) -> list[QueueSignals]:
        """What the rules need for every work queue, read in a few round trips."""
        clock = now if now is not None else time.time()
        stats = await self.stats.collect()
        names = [queue.name for queue in stats.queues]
        window = self.thresholds.window_minutes
        minutes = bucket_starts("minute", max(window, 60), clock)
        hours = bucket_starts("hour", BASELINE_HOURS + 1, clock)[:-1]  # the 24 complete hours before this one
        ages, workers, minute_rows, hour_rows = await asyncio.gather(
            oldest_waiting_ages(self.history.redis, self.history.keys, names, int(clock * 1000)),
            self.workers.views(int(clock * 1000)),
            self.history.raw(names, "minute", minutes),
            self.history.raw(names, "hour", hours),
        )
        found = []
        for queue in stats.queues:
            per_minute = [Tally.parse(row) for row in minute_rows[queue.name]]
            found.append(
                QueueSignals(
                    queue=queue.name,
                    paused=queue.paused,
                    backlog=queue.backlog,
                    oldest_waiting_age_seconds=ages[queue.name],
                    live_workers=sum(
                        1 for view in workers if view.status == "live" and queue.name in view.state.queues
                    ),
                    recent=Tally.total(per_minute[-window:]),
                    last_hour=Tally.total(per_minute[-60:]),
                    baseline=Tally.total(Tally.parse(row) for row in hour_rows[queue.name]),
                )
            )
        return found

    async def compute(self, now: float | None = None) -> HealthReport:
        """Judge every queue now."""
        queues = []
        for signals in await self.signals(now):
            issues = judge(signals, self.thresholds)
            points, status = score(issues)
            queues.append(QueueHealth(signals.queue, points, status, issues))
        retention = await self.retention.issues(now) if self.retention is not None else []
        return HealthReport(
            score=min((q.score for q in queues), default=100),
            status=max((q.status for q in queues), key=STATUS_ORDER.index, default="healthy"),
            queues=queues,
            issues=[issue for q in queues for issue in q.issues] + retention,
            generated_at=int(time.time() * 1000),
            retention=retention,
        )

    async def health(self, refresh: bool = False) -> tuple[HealthReport, bool]:
        """The report and whether it came from the cache (at most `ttl_seconds` old)."""
        return await self.cache.cached("health", HEALTH, self.ttl_seconds, self.compute, refresh)

    async def store(self, report: HealthReport) -> None:
        """Replace the cached report with a fresh one (the alert evaluator computes one anyway)."""

        async def given() -> HealthReport:
            return report

        await self.cache.cached("health", HEALTH, self.ttl_seconds, given, refresh=True)

"""The monitoring services of one process, built from settings and the process's connections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter
from redis.asyncio import Redis

from corral.contracts.base import Registry
from corral.dlq.store import DeadLetterStore, Retention
from corral.engine import Engine
from corral.errors import FieldError, InvalidRequestError, NotFoundError
from corral.keys import Keys
from corral.monitoring.alerts import AlertStore
from corral.monitoring.cache import MonitoringCache, digest
from corral.monitoring.evaluator import AlertEvaluator
from corral.monitoring.failures import WINDOWS, FailureReasons, FailureReport, Window
from corral.monitoring.health import HealthService
from corral.monitoring.history import MAX_POINTS, Granularity, MetricsHistory, MetricsReport, bucket_starts
from corral.monitoring.prometheus import PrometheusExporter
from corral.monitoring.retention import RetentionWatch
from corral.monitoring.rules import Thresholds
from corral.monitoring.stats import StatsService, oldest_waiting_ages
from corral.monitoring.webhook import AlertWebhook
from corral.monitoring.workers import WorkerRegistry
from corral.realtime.bus import EventBus
from corral.settings import Settings
from corral.sql.database import Database

METRICS = TypeAdapter(MetricsReport)


@dataclass
class Monitoring:
    """Stats, metrics, failures, workers, health, alerts and the Prometheus exporter over one Redis."""

    settings: Settings
    registry: Registry
    engine: Engine
    cache: MonitoringCache
    stats: StatsService
    history: MetricsHistory
    failures: FailureReasons
    workers: WorkerRegistry
    health: HealthService
    alerts: AlertStore
    bus: EventBus
    prometheus: PrometheusExporter
    retention: RetentionWatch

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: Redis,
        keys: Keys,
        engine: Engine,
        registry: Registry,
        database: Callable[[], Database] | None = None,
        *,
        dlq_store: DeadLetterStore | None = None,
        bus: EventBus | None = None,
    ) -> Monitoring:
        """Every monitoring service for one process; without `database`, no audit retention warning. The composition
        root passes the process's one DLQ store and event bus; without them, it makes its own."""
        cache = MonitoringCache(redis, keys)
        stats = StatsService(
            engine, dlq_store or DeadLetterStore(redis, keys, registry), registry, cache, settings.stats_cache_seconds
        )
        history = MetricsHistory(redis, keys)
        workers = WorkerRegistry(redis, keys, settings.worker_lost_seconds)
        retention = RetentionWatch(
            engine,
            redis,
            DeadLetterStore(redis, keys),
            history,
            registry,
            database,
            dlq_retention=Retention.of(settings),
            audit_days=settings.audit_retention_days,
            horizon_hours=settings.retention_warning_hours,
        )
        health = HealthService(
            engine, stats, history, workers, cache, Thresholds.of(settings), settings.health_cache_seconds, retention
        )
        alerts = AlertStore(redis, keys, settings.alert_history_size)
        return cls(
            settings=settings,
            registry=registry,
            engine=engine,
            cache=cache,
            stats=stats,
            history=history,
            failures=FailureReasons(redis, keys),
            workers=workers,
            health=health,
            alerts=alerts,
            bus=bus or EventBus(redis, keys),
            prometheus=PrometheusExporter(redis, keys, stats, history, workers, alerts, health),
            retention=retention,
        )

    def evaluator(self) -> AlertEvaluator:
        """An alert evaluator with this process's settings (and webhook, when configured)."""
        settings = self.settings
        webhook = None
        if settings.alert_webhook_url:
            webhook = AlertWebhook(
                settings.alert_webhook_url,
                settings.alert_webhook_secret.get_secret_value(),
                settings.webhook_timeout_seconds,
            )
        return AlertEvaluator(
            self.cache.redis,
            self.cache.keys,
            self.health,
            self.alerts,
            self.bus,
            self.workers,
            interval_seconds=settings.alert_interval_seconds,
            cooldown_seconds=settings.alert_cooldown_seconds,
            min_severity=settings.alert_min_severity,
            webhook=webhook,
        )

    def queue(self, queue: str) -> str:
        """The queue's name if the application has it; NotFoundError otherwise."""
        return self._queue(queue)

    def _queue(self, queue: str) -> str:
        if queue not in self.registry.work_queues:
            raise NotFoundError(f"no queue {queue!r}; queues: {', '.join(self.registry.work_queues)}")
        return queue

    async def metrics(
        self,
        queue: str,
        job_type: str | None = None,
        granularity: Granularity = "minute",
        points: int = 60,
        rolling_points: int | None = None,
        refresh: bool = False,
    ) -> tuple[MetricsReport, bool]:
        """History of one queue (or one of its job types), cached like the stats; and whether it was cached."""
        self._queue(queue)
        if job_type is not None and job_type not in {job.name for job in self.registry.jobs_of(queue)}:
            raise NotFoundError(f"no job type {job_type!r} on queue {queue!r}")
        if not 1 <= points <= MAX_POINTS[granularity]:
            limit = MAX_POINTS[granularity]
            raise InvalidRequestError(f"points: between 1 and {limit}", [FieldError("points", f"1 to {limit}")])
        rolling = rolling_points or self.settings.metrics_rolling_points
        starts = bucket_starts(granularity, points)
        name = digest(
            "metrics", {"q": queue, "t": job_type, "g": granularity, "s": starts[-1], "n": points, "r": rolling}
        )

        async def compute() -> MetricsReport:
            tallies = await self.history.tallies(queue, granularity, starts, job_type)
            age = (await oldest_waiting_ages(self.history.redis, self.history.keys, [queue]))[queue]
            return self.history.report(queue, job_type, granularity, starts, tallies, rolling, age)

        return await self.cache.cached(name, METRICS, self.settings.metrics_cache_seconds, compute, refresh)

    async def failure_reasons(
        self, queue: str | None = None, job_type: str | None = None, window: Window = "24h", limit: int = 10
    ) -> FailureReport:
        """Top failure fingerprints over a window, for one queue or all."""
        if window not in WINDOWS:
            raise InvalidRequestError("window: 1h, 24h or 7d", [FieldError("window", "1h, 24h or 7d")])
        queues = [self._queue(queue)] if queue else self.registry.work_queues
        return await self.failures.top(queues, window, job_type, limit)

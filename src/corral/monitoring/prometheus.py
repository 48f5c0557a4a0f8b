"""The Prometheus exposition: queue counts, totals, throughput, processing-time histograms, DLQ, workers, alerts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis

from corral.keys import Keys
from corral.monitoring import histogram
from corral.monitoring.alerts import Alert, AlertStore
from corral.monitoring.health import HealthReport, HealthService
from corral.monitoring.history import MetricsHistory, bucket_starts
from corral.monitoring.stats import Stats, StatsService
from corral.monitoring.tally import Tally
from corral.monitoring.workers import WorkerRegistry, WorkerView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape exposes, read before rendering."""

    stats: Stats
    totals: dict[str, str]
    last_minute: dict[str, Tally]
    workers: list[WorkerView]
    alerts: list[Alert]
    health: HealthReport


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        jobs = GaugeMetricFamily("corral_queue_jobs", "Jobs in each queue by state", labels=["queue", "state"])
        paused = GaugeMetricFamily("corral_queue_paused", "1 when the queue is paused", labels=["queue"])
        for queue in snap.stats.queues:
            paused.add_metric([queue.name], 1.0 if queue.paused else 0.0)
            for state, count in queue.counts.items():
                jobs.add_metric([queue.name, state], float(count))
        yield jobs
        yield paused
        yield GaugeMetricFamily("corral_dlq_entries", "Entries in the dead-letter queue", value=float(snap.stats.dlq))
        names = [queue.name for queue in snap.stats.queues]
        for suffix, metric, text in (
            ("c", "corral_jobs_completed", "Jobs completed"),
            ("f", "corral_job_attempts_failed", "Job attempts that failed"),
            ("d", "corral_jobs_dead_lettered", "Jobs that reached the dead-letter queue"),
            ("s", "corral_jobs_stalled", "Jobs that stalled"),
        ):
            family = CounterMetricFamily(metric, text, labels=["queue"])
            for name in names:
                family.add_metric([name], float(snap.totals.get(f"{name}:{suffix}", 0)))
            yield family
        throughput = GaugeMetricFamily(
            "corral_queue_throughput_per_minute", "Jobs completed in the last complete minute", labels=["queue"]
        )
        for name in names:
            throughput.add_metric([name], float(snap.last_minute.get(name, Tally()).completed))
        yield throughput
        processing = HistogramMetricFamily(
            "corral_job_processing_seconds", "Processing time of completed jobs", labels=["queue"]
        )
        for name in names:
            buckets = {
                int(field.rpartition(":h")[2]): int(value)
                for field, value in snap.totals.items()
                if field.startswith(f"{name}:h")
            }
            cumulative = [(_bound(upper), float(count)) for upper, count in histogram.cumulative_by_power(buckets)]
            cumulative.append(("+Inf", float(snap.totals.get(f"{name}:pn", 0))))
            processing.add_metric([name], cumulative, sum_value=float(snap.totals.get(f"{name}:ps", 0)) / 1_000_000)
        yield processing
        workers = GaugeMetricFamily("corral_workers", "Worker processes by status", labels=["status"])
        for status in ("live", "lost"):
            workers.add_metric([status], float(sum(1 for view in snap.workers if view.status == status)))
        yield workers
        active = GaugeMetricFamily("corral_worker_active_jobs", "Jobs being processed by live workers")
        active.add_metric([], float(sum(view.state.active_jobs for view in snap.workers if view.status == "live")))
        yield active
        firing = GaugeMetricFamily("corral_alerts_firing", "Firing alerts", labels=["rule", "queue", "severity"])
        for alert in snap.alerts:
            firing.add_metric([alert.rule, alert.queue, alert.severity], 1.0)
        yield firing
        score = GaugeMetricFamily("corral_queue_health_score", "Health score 0-100 of each queue", labels=["queue"])
        for queue_health in snap.health.queues:
            score.add_metric([queue_health.queue], float(queue_health.score))
        yield score


def _bound(seconds: float) -> str:
    return f"{seconds:g}"


class PrometheusExporter:
    """Reads a snapshot (counts and health through their caches) and renders it in the text format."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        stats: StatsService,
        history: MetricsHistory,
        workers: WorkerRegistry,
        alerts: AlertStore,
        health: HealthService,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.stats = stats
        self.history = history
        self.workers = workers
        self.alerts = alerts
        self.health = health

    async def snapshot(self) -> Snapshot:
        """Read what one scrape exposes."""
        stats, _ = await self.stats.stats()
        names = [queue.name for queue in stats.queues]
        previous_minute = bucket_starts("minute", 2, time.time())[:1]
        raw = await self.history.raw(names, "minute", previous_minute)
        totals: dict[str, str] = await self.redis.hgetall(self.keys.metrics_totals)  # type: ignore[assignment]
        health, _ = await self.health.health()
        return Snapshot(
            stats=stats,
            totals=totals,
            last_minute={name: Tally.parse(rows[0]) for name, rows in raw.items()},
            workers=await self.workers.views(),
            alerts=list((await self.alerts.firing()).values()),
            health=health,
        )

    async def render(self) -> bytes:
        """The exposition text."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_SnapshotCollector(await self.snapshot()))
        return generate_latest(registry)

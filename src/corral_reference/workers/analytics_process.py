"""The analytics-process worker: ingest events, roll them up by hour or day, and write reports."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.analytics import AnalyticsStore, batch_key, report_path, write_atomically
from corral_reference.contracts import AnalyticsEventsIngest, AnalyticsReport, AnalyticsRollup


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `analytics.*` handlers; reports go to `<data_dir>/reports`."""
    reports_dir = services.settings.data_dir / "reports"

    def store() -> AnalyticsStore:
        return AnalyticsStore(services.database)

    async def ingest(ctx: JobContext, payload: AnalyticsEventsIngest) -> dict[str, Any]:
        key = batch_key(ctx.job_id, payload.events)
        outcome = await asyncio.to_thread(store().ingest, payload.events, key)
        return {"stored": outcome.stored, "duplicate": outcome.duplicate, "batch": key}

    async def rollup(_ctx: JobContext, payload: AnalyticsRollup) -> dict[str, Any]:
        outcome = await asyncio.to_thread(store().rollup, payload.granularity, payload.start)
        return {
            "granularity": outcome.granularity,
            "bucketStart": outcome.bucket_start.isoformat(),
            "bucketEnd": outcome.bucket_end.isoformat(),
            "events": outcome.events,
            "rows": outcome.rows,
        }

    async def report(_ctx: JobContext, payload: AnalyticsReport) -> dict[str, Any]:
        path = report_path(reports_dir, payload.reportId, payload.format)
        data = await asyncio.to_thread(store().report, payload.reportId, payload.from_, payload.to, payload.metrics)
        size = await asyncio.to_thread(write_atomically, path, data.render(payload.format))
        return {
            "reportId": payload.reportId,
            "format": payload.format,
            "path": str(path.resolve()),
            "bytes": size,
            "totals": {metric.name: metric.total.count for metric in data.metrics},
        }

    handlers.add("analytics.events.ingest", ingest)
    handlers.add("analytics.rollup", rollup)
    handlers.add("analytics.report", report)

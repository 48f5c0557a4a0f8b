"""System maintenance: trims finished jobs, event streams, DLQ entries and audit rows past a given age."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from redis.asyncio import Redis
from sqlalchemy import delete

from corral.dlq.store import DeadLetterStore
from corral.dlq.store import Retention as DlqRetention
from corral.engine import Engine
from corral.lifetime import set_within
from corral.sql.database import Database
from corral.sql.models import AuditLog

if TYPE_CHECKING:
    from corral.hooks import HookBus
    from corral.runtime import Runtime
    from corral.worker_services import WorkerServices

logger = logging.getLogger(__name__)

CleanupTarget = Literal["completed", "failed", "events", "dlq", "audit"]
CLEAN_BATCH = 10_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class CleanupReport:
    """What one cleanup removed, per queue or per kind, and in total."""

    target: CleanupTarget
    older_than_hours: int
    cutoff: datetime
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Everything removed."""
        return sum(self.removed.values())

    def as_result(self) -> dict[str, Any]:
        """The report as a job result."""
        return {
            "target": self.target,
            "olderThanHours": self.older_than_hours,
            "cutoff": self.cutoff.isoformat(),
            "removed": dict(self.removed),
            "total": self.total,
        }


class Maintenance:
    """Retention cleanups over the queues of one server, its DLQ and the SQL store's audit log."""

    def __init__(
        self,
        engine: Engine,
        queues: Sequence[str],
        redis: Redis,
        dlq: DeadLetterStore,
        database: Callable[[], Database],
    ) -> None:
        self.engine = engine
        self.queues = list(queues)
        self.redis = redis
        self.dlq = dlq
        # A provider, so cleanups that never touch SQL never open the store.
        self._database = database

    async def cleanup(self, target: CleanupTarget, older_than_hours: int) -> CleanupReport:
        """Remove what `target` names that is older than `older_than_hours`; report the counts."""
        older_than_ms = older_than_hours * HOUR_MS
        cutoff_ms = int(time.time() * 1000) - older_than_ms
        report = CleanupReport(target, older_than_hours, datetime.fromtimestamp(cutoff_ms / 1000, UTC))
        if target in ("completed", "failed"):
            for queue in self.queues:
                report.removed[queue] = await self.clean_jobs(queue, target, older_than_ms)
        elif target == "events":
            for queue in self.queues:
                report.removed[queue] = await self.engine.trim_events(queue, older_than_ms, self.redis)
        elif target == "dlq":
            report.removed["entries"] = await self.dlq.delete_older_than(cutoff_ms)
            if retained := await self.dlq.enforce_retention():  # settings' max age and max entries
                report.removed["retention"] = retained
            report.removed["tombstones"] = await self.dlq.prune_tombstones()
        else:
            report.removed["rows"] = await asyncio.to_thread(self.delete_audit_rows, report.cutoff)
        logger.info("cleanup of %s older than %dh removed %d", target, older_than_hours, report.total)
        return report

    async def clean_jobs(self, queue: str, state: str, older_than_ms: int) -> int:
        """Remove every `state` job of `queue` finished more than `older_than_ms` ago, in batches."""
        removed = 0
        while True:
            batch = await self.engine.clean(queue, state, older_than_ms, limit=CLEAN_BATCH)
            removed += batch
            if batch < CLEAN_BATCH:
                return removed

    def delete_audit_rows(self, cutoff: datetime) -> int:
        """Delete audit rows created before `cutoff`; returns how many."""
        with self._database().transaction() as session:
            result = session.execute(delete(AuditLog).where(AuditLog.created_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long the platform keeps what it stores, beyond each queue's own job retention."""

    event_hours: int
    audit_days: int


class MaintenanceLoop:
    """The platform's own retention, run by every worker process in turn: one run per interval across all of them.

    Each run takes a Redis lock (so two processes never run it at once), then enforces the DLQ's retention
    (`CORRAL_DLQ_MAX_AGE_HOURS`, `CORRAL_DLQ_MAX_ENTRIES`), removes finished jobs past their queue's retention age,
    trims the queues' event streams and deletes audit rows past their retention. No job is needed for it.
    """

    def __init__(
        self,
        maintenance: Maintenance,
        redis: Redis,
        lock_key: str,
        policy: RetentionPolicy,
        keep_age_ms: Callable[[str, str], int | None],
        *,
        interval_seconds: float,
    ) -> None:
        self.maintenance = maintenance
        self.redis = redis
        self.lock_key = lock_key
        self.policy = policy
        self.keep_age_ms = keep_age_ms
        self.interval_seconds = interval_seconds
        self.runs = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> list[CleanupReport] | None:
        """One run under the lock; None when another process holds it (it is running or ran within the interval)."""
        ttl_ms = max(int(self.interval_seconds * 1000), 1_000)
        if not await self.redis.set(self.lock_key, "1", nx=True, px=ttl_ms):
            return None
        reports = [await self.maintenance.cleanup("dlq", 1_000_000)]
        for queue in self.maintenance.queues:
            for state in ("completed", "failed"):
                age_ms = self.keep_age_ms(queue, state)
                if age_ms:
                    await self.maintenance.clean_jobs(queue, state, age_ms)
        reports.append(await self.maintenance.cleanup("events", self.policy.event_hours))
        reports.append(await self.maintenance.cleanup("audit", self.policy.audit_days * 24))
        self.runs += 1
        return reports

    def start(self) -> None:
        """Run once soon, then every interval, until `stop()`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="corral-maintenance")

    async def _run(self) -> None:
        delay = min(30.0, self.interval_seconds)
        while True:
            if await set_within(self._stopping, delay):
                return
            try:
                await self.run_once()
            except Exception:
                logger.exception("platform maintenance failed; trying again next interval")
            delay = self.interval_seconds

    async def stop(self) -> None:
        """Stop after the run in progress, if any (bounded)."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            done, _ = await asyncio.wait({task}, timeout=30)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=5)


def maintenance_loop(services: WorkerServices) -> MaintenanceLoop:
    """The platform maintenance of one worker process, over its application's queues."""
    registry = services.producer.registry
    settings = services.settings

    def keep_age_ms(queue: str, state: str) -> int | None:
        config = registry.queue(queue)
        keep = config.keep_completed if state == "completed" else config.keep_failed
        return keep.age_seconds * 1000 if keep.age_seconds else None

    dlq = services.provided(DeadLetterStore)
    if dlq is None:  # shared services made without the composition root (a test's worker)
        dlq = DeadLetterStore(services.redis, services.keys, registry, retention=DlqRetention.of(settings))
    maintenance = Maintenance(
        services.producer.engine, registry.work_queues, services.redis, dlq, lambda: services.database
    )
    return MaintenanceLoop(
        maintenance,
        services.redis,
        services.keys.lock("platform-maintenance"),
        RetentionPolicy(event_hours=settings.event_retention_hours, audit_days=settings.audit_retention_days),
        keep_age_ms,
        interval_seconds=settings.maintenance_interval_seconds,
    )


def observe_maintenance(hooks: HookBus, services: WorkerServices, runtime: Runtime) -> None:
    """Worker observer: run the platform maintenance in this process's turn while it runs."""
    loop = maintenance_loop(services)
    loop.start()
    services.on_close(loop.stop)

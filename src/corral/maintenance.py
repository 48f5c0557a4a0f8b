"""System maintenance: trims finished jobs, event streams, DLQ entries and audit rows past a given age."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from redis.asyncio import Redis
from sqlalchemy import delete

from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.store.database import Database
from corral.store.models import AuditLog

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
                report.removed[queue] = await self._clean_jobs(queue, target, older_than_ms)
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

    async def _clean_jobs(self, queue: str, state: str, older_than_ms: int) -> int:
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

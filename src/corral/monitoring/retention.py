"""Retention warnings: DLQ entries, failed jobs and audit rows that retention will trim within a horizon.

Three rules look ahead `CORRAL_RETENTION_WARNING_HOURS` (24 h by default):

- `retention_dlq`: entries older than `CORRAL_DLQ_MAX_AGE_HOURS` minus the horizon, and the oldest entries beyond
  `CORRAL_DLQ_MAX_ENTRIES` once the horizon's expected new entries are added;
- `retention_failed` (per queue): failed jobs finished before the queue's `keep_failed` age minus the horizon, and
  the oldest beyond its `keep_failed` count once the horizon's expected new failures are added;
- `retention_audit`: audit rows older than `CORRAL_AUDIT_RETENTION_DAYS` minus the horizon.

Expected growth is the last 24 complete hours' dead-lettered jobs, scaled to the horizon. Trimming by age and by
count both take the oldest first, so the affected count is the larger of the two. Every issue is a warning; it
fires an alert like any health issue, and it does not lower a queue's score.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from corral.contracts.base import Registry
from corral.dlq.store import DeadLetterStore, Retention
from corral.engine import Engine
from corral.monitoring.history import MetricsHistory, bucket_starts
from corral.monitoring.rules import HealthIssue, IssueSeverity
from corral.monitoring.tally import Tally
from corral.sql.database import Database
from corral.sql.models import AuditLog

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000
RETENTION_RULES = ("retention_dlq", "retention_failed", "retention_audit")
TARGET_OF_RULE = {"retention_dlq": "dlq", "retention_failed": "failed", "retention_audit": "audit"}


@dataclass(frozen=True)
class Trim:
    """What one retention rule will remove within the horizon: of how many stored, by age, by count, the oldest."""

    stored: int
    by_age: int
    by_count: int
    oldest_ms: int | None

    @property
    def affected(self) -> int:
        """How many go (age and count both take the oldest first)."""
        return max(self.by_age, self.by_count)


def projected_overflow(stored: int, growth: int, cap: int) -> int:
    """How many of the `stored` oldest a count cap of `cap` pushes out once `growth` more arrive."""
    return min(stored, max(stored + growth - cap, 0))


def _hours(value: float) -> str:
    return f"{value:.0f} h" if value < 48 else f"{value / 24:.1f} days"


class RetentionWatch:
    """Looks ahead at every retention rule of the platform and names what it will trim within the horizon."""

    def __init__(
        self,
        engine: Engine,
        redis: Redis,
        dlq: DeadLetterStore,
        history: MetricsHistory,
        registry: Registry,
        database: Callable[[], Database] | None,
        *,
        dlq_retention: Retention,
        audit_days: int,
        horizon_hours: int,
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.dlq = dlq
        self.history = history
        self.registry = registry
        # A provider, so a process that never looks at retention never opens the SQL store.
        self._database = database
        self.dlq_retention = dlq_retention
        self.audit_days = audit_days
        self.horizon_hours = horizon_hours
        self._audit_failure_logged = False

    async def _daily_dead_lettered(self, now: float) -> dict[str, int]:
        queues = self.registry.work_queues
        hours = bucket_starts("hour", 25, now)[:-1]  # the 24 complete hours before this one
        rows = await self.history.raw(queues, "hour", hours)
        return {queue: Tally.total(Tally.parse(row) for row in rows[queue]).dead_lettered for queue in queues}

    def _growth(self, per_day: int) -> int:
        return -(-per_day * self.horizon_hours // 24)  # rounded up: one a day still counts within an hour's horizon

    async def issues(self, now: float | None = None) -> list[HealthIssue]:
        """Every retention warning now: the DLQ's first, then each queue's failed jobs, then the audit log's."""
        clock = now if now is not None else time.time()
        now_ms = int(clock * 1000)
        horizon_ms = self.horizon_hours * HOUR_MS
        daily = await self._daily_dead_lettered(clock)
        found: list[HealthIssue] = []

        max_age_ms = self.dlq_retention.max_age_hours * HOUR_MS
        stored, before, oldest = await self.dlq.span(now_ms - max_age_ms + horizon_ms)
        growth = self._growth(sum(daily.values()))
        dlq_trim = Trim(stored, before, projected_overflow(stored, growth, self.dlq_retention.max_entries), oldest)
        if dlq_trim.affected:
            found.append(
                self._issue(
                    "retention_dlq",
                    "dlq",
                    f"{dlq_trim.affected} dead-letter entries will be deleted by retention within "
                    f"{self.horizon_hours} h",
                    dlq_trim,
                    now_ms,
                    {
                        "max_age_hours": self.dlq_retention.max_age_hours,
                        "max_entries": self.dlq_retention.max_entries,
                        "expected_new": growth,
                    },
                    "Export or replay the entries you still need (the DLQ page's export, or `corral dlq export`), "
                    "or raise CORRAL_DLQ_MAX_AGE_HOURS / CORRAL_DLQ_MAX_ENTRIES.",
                )
            )

        for queue in self.registry.work_queues:
            keep = self.registry.queue(queue).keep_failed
            cutoff_ms = now_ms - keep.age_seconds * 1000 + horizon_ms if keep.age_seconds else 0
            span = await self.engine.finished_span(queue, "failed", cutoff_ms, self.redis)
            growth = self._growth(daily.get(queue, 0))
            trim = Trim(span.total, span.before, projected_overflow(span.total, growth, keep.count), span.oldest_ms)
            if trim.affected:
                found.append(
                    self._issue(
                        "retention_failed",
                        queue,
                        f"{trim.affected} failed jobs of {queue} will be removed by the queue's retention within "
                        f"{self.horizon_hours} h",
                        trim,
                        now_ms,
                        {"keep_age_hours": keep.age_seconds / 3600, "keep_count": keep.count, "expected_new": growth},
                        f"Their dead-letter entries stay in the DLQ; to keep the failed jobs themselves longer, raise "
                        f"keep_failed (age or count) in the config of queue {queue}.",
                    )
                )

        if self._database is not None:
            cutoff = datetime.fromtimestamp((now_ms - self.audit_days * 24 * HOUR_MS + horizon_ms) / 1000, UTC)
            try:
                rows, oldest_at = await asyncio.to_thread(self._audit_before, self._database(), cutoff)
            except SQLAlchemyError as exc:  # a store not migrated yet (a worker started first), or unreachable
                if not self._audit_failure_logged:
                    self._audit_failure_logged = True
                    logger.warning("audit retention not checked (logged once): %s", type(exc).__name__)
                rows, oldest_at = 0, None
            if rows:
                oldest_ms = int(oldest_at.timestamp() * 1000) if oldest_at is not None else None
                found.append(
                    self._issue(
                        "retention_audit",
                        "audit",
                        f"{rows} audit rows will be deleted by retention within {self.horizon_hours} h",
                        Trim(rows, rows, 0, oldest_ms),
                        now_ms,
                        {"retention_days": self.audit_days},
                        "Export the audit log (the Audit page's CSV export, or GET /owner/audit.csv) if you must keep "
                        "these rows, or raise CORRAL_AUDIT_RETENTION_DAYS.",
                    )
                )
        return found

    @staticmethod
    def _audit_before(database: Database, cutoff: datetime) -> tuple[int, datetime | None]:
        with database.transaction() as session:
            count, oldest = session.execute(
                select(func.count(AuditLog.id), func.min(AuditLog.created_at)).where(AuditLog.created_at < cutoff)
            ).one()
        if isinstance(oldest, datetime) and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return int(count or 0), oldest

    def _issue(
        self,
        rule: str,
        queue: str,
        summary: str,
        trim: Trim,
        now_ms: int,
        policy: dict[str, float | int],
        recommendation: str,
    ) -> HealthIssue:
        age = (now_ms - trim.oldest_ms) / 1000 if trim.oldest_ms is not None else None
        if age is not None:
            summary += f"; the oldest is {_hours(age / 3600)} old"
        return HealthIssue(
            rule,
            queue,
            IssueSeverity.WARNING,
            summary,
            {
                "kind": "retention",
                "target": TARGET_OF_RULE[rule],
                "horizon_hours": self.horizon_hours,
                "stored": trim.stored,
                "affected": trim.affected,
                "by_age": trim.by_age,
                "by_count": trim.by_count,
                "oldest_at": trim.oldest_ms,
                "oldest_age_seconds": round(age, 3) if age is not None else None,
                **policy,
            },
            recommendation,
        )

"""Analytics of the reference platform: raw events in the SQL store, hourly and daily rollups, and reports.

Ingest is a bulk insert keyed by batch, so a retried ingest stores nothing twice. A rollup replaces its
bucket's rows in one transaction, so running it again gives the same numbers. Reports are computed from
the raw events and written atomically as CSV or JSON.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, delete, distinct, func, insert, select

from corral.sql.database import Database
from corral.sql.models import utcnow
from corral_reference.contracts import AnalyticsEvent
from corral_reference.tables import AnalyticsEvent as EventRow
from corral_reference.tables import AnalyticsRollup as RollupRow

logger = logging.getLogger(__name__)

Granularity = Literal["hour", "day"]
ReportFormat = Literal["csv", "json"]
BUCKET_LENGTH: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
CSV_COLUMNS = ("metric", "day", "count", "unique_users", "unique_sessions")


def batch_key(job_id: str, events: Sequence[AnalyticsEvent]) -> str:
    """A key naming one ingest batch: the same job with the same events makes the same key."""
    digest = hashlib.sha256(job_id.encode())
    for item in events:
        digest.update(b"\x00" + item.model_dump_json().encode())
    return digest.hexdigest()[:64]


def bucket_bounds(granularity: Granularity, start: datetime) -> tuple[datetime, datetime]:
    """The UTC hour or day holding `start`, as [begin, end)."""
    begin = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        begin = begin.replace(hour=0)
    return begin, begin + BUCKET_LENGTH[granularity]


@dataclass(frozen=True)
class IngestOutcome:
    """How many events one batch stored, and whether the batch had been stored before."""

    stored: int
    duplicate: bool


@dataclass(frozen=True)
class RollupOutcome:
    """One rollup run: its bucket, the events it covered and the rows it wrote."""

    granularity: Granularity
    bucket_start: datetime
    bucket_end: datetime
    events: int
    rows: int


@dataclass(frozen=True)
class Counts:
    """Event count with distinct users and sessions."""

    count: int = 0
    unique_users: int = 0
    unique_sessions: int = 0


@dataclass(frozen=True)
class RollupValue:
    """One stored rollup row; article_id None is the total over all articles."""

    type: str
    article_id: str | None
    counts: Counts


@dataclass
class MetricReport:
    """One metric (an event type) over the report's range: totals and per-day counts."""

    name: str
    total: Counts = field(default_factory=Counts)
    days: dict[str, Counts] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """A computed report, ready to be written as CSV or JSON."""

    report_id: str
    start: datetime
    end: datetime
    generated_at: datetime
    metrics: list[MetricReport]

    def as_document(self) -> dict[str, Any]:
        """The report as a JSON document."""
        return {
            "reportId": self.report_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "generatedAt": self.generated_at.isoformat(),
            "metrics": {
                metric.name: {
                    **_counts_document(metric.total),
                    "days": [{"day": day, **_counts_document(counts)} for day, counts in metric.days.items()],
                }
                for metric in self.metrics
            },
        }

    def as_csv(self) -> str:
        """The report as CSV: one row per metric and day, then a `total` row per metric."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for metric in self.metrics:
            for day, counts in [*metric.days.items(), ("total", metric.total)]:
                writer.writerow([metric.name, day, counts.count, counts.unique_users, counts.unique_sessions])
        return buffer.getvalue()

    def render(self, report_format: ReportFormat) -> str:
        """The report's text in `report_format`."""
        if report_format == "csv":
            return self.as_csv()
        return json.dumps(self.as_document(), indent=2, sort_keys=False) + "\n"


def _counts_document(counts: Counts) -> dict[str, int]:
    return {"count": counts.count, "uniqueUsers": counts.unique_users, "uniqueSessions": counts.unique_sessions}


def _aggregates() -> tuple[Any, Any, Any]:
    return (
        func.count(EventRow.id),
        func.count(distinct(EventRow.user_id)),
        func.count(distinct(EventRow.session_id)),
    )


class AnalyticsStore:
    """Events, rollups and report queries over the SQL store; blocking calls, run them in a thread."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _day(self) -> ColumnElement[str]:
        if self.database.dialect == "postgresql":
            return func.to_char(func.timezone("UTC", EventRow.ts), "YYYY-MM-DD", type_=String)
        # SQLite keeps UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
        return func.substr(EventRow.ts, 1, 10, type_=String)

    def ingest(self, events: Sequence[AnalyticsEvent], key: str) -> IngestOutcome:
        """Store a batch of events with one bulk insert; a batch already stored under `key` is skipped."""
        rows = [
            {
                "type": item.type,
                "ts": item.ts,
                "article_id": item.articleId,
                "user_id": item.userId,
                "session_id": item.sessionId,
                "props": dict(item.props),
                "batch_key": key,
                "seq": seq,
            }
            for seq, item in enumerate(events)
        ]
        with self.database.transaction() as session:
            self.database.lock(session, f"analytics-batch:{key}")
            if session.scalar(select(func.count()).select_from(EventRow).where(EventRow.batch_key == key)):
                logger.info("analytics batch %s was stored before; skipped", key)
                return IngestOutcome(stored=0, duplicate=True)
            if rows:
                session.execute(insert(EventRow), rows)
        return IngestOutcome(stored=len(rows), duplicate=False)

    def rollup(self, granularity: Granularity, start: datetime, now: datetime | None = None) -> RollupOutcome:
        """Recompute the bucket holding `start`: per event type in total, and per type and article."""
        begin, end = bucket_bounds(granularity, start)
        computed_at = now or utcnow()
        in_bucket = (EventRow.ts >= begin) & (EventRow.ts < end)
        totals = select(EventRow.type, *_aggregates()).where(in_bucket).group_by(EventRow.type)
        per_article = (
            select(EventRow.type, EventRow.article_id, *_aggregates())
            .where(in_bucket, EventRow.article_id.is_not(None))
            .group_by(EventRow.type, EventRow.article_id)
        )
        with self.database.transaction() as session:
            # Delete and insert in one transaction, one run per bucket at a time: re-runs replace, never add.
            self.database.lock(session, f"analytics-rollup:{granularity}:{begin.isoformat()}")
            session.execute(
                delete(RollupRow).where(RollupRow.granularity == granularity, RollupRow.bucket_start == begin)
            )
            rows: list[dict[str, Any]] = []
            events = 0
            for event_type, count, users, sessions in session.execute(totals):
                events += count
                rows.append(_rollup_row(granularity, begin, event_type, None, count, users, sessions, computed_at))
            for event_type, article_id, count, users, sessions in session.execute(per_article):
                rows.append(
                    _rollup_row(granularity, begin, event_type, article_id, count, users, sessions, computed_at)
                )
            if rows:
                session.execute(insert(RollupRow), rows)
        return RollupOutcome(granularity, begin, end, events, len(rows))

    def rollups(self, granularity: Granularity, start: datetime) -> list[RollupValue]:
        """The stored rollup rows of the bucket holding `start`, totals first, then by type and article."""
        begin, _ = bucket_bounds(granularity, start)
        query = (
            select(RollupRow)
            .where(RollupRow.granularity == granularity, RollupRow.bucket_start == begin)
            .order_by(RollupRow.article_id.is_not(None), RollupRow.type, RollupRow.article_id)
        )
        with self.database.transaction() as session:
            return [
                RollupValue(row.type, row.article_id, Counts(row.count, row.unique_users, row.unique_sessions))
                for row in session.scalars(query)
            ]

    def report(self, report_id: str, start: datetime, end: datetime, metrics: Sequence[str]) -> Report:
        """Counts of each metric (event type) over [start, end), in total and per UTC day."""
        in_range = (EventRow.ts >= start) & (EventRow.ts < end) & EventRow.type.in_(list(metrics))
        day = self._day().label("day")
        per_day = select(EventRow.type, day, *_aggregates()).where(in_range).group_by(EventRow.type, day).order_by(day)
        totals = select(EventRow.type, *_aggregates()).where(in_range).group_by(EventRow.type)
        by_name = {name: MetricReport(name) for name in metrics}
        with self.database.transaction() as session:
            for event_type, count, users, sessions in session.execute(totals):
                by_name[event_type].total = Counts(count, users, sessions)
            for event_type, day_text, count, users, sessions in session.execute(per_day):
                by_name[event_type].days[str(day_text)] = Counts(count, users, sessions)
        return Report(report_id, start, end, utcnow(), [by_name[name] for name in metrics])


def _rollup_row(
    granularity: str,
    bucket_start: datetime,
    event_type: str,
    article_id: str | None,
    count: int,
    users: int,
    sessions: int,
    computed_at: datetime,
) -> dict[str, Any]:
    return {
        "granularity": granularity,
        "bucket_start": bucket_start,
        "type": event_type,
        "article_id": article_id,
        "count": count,
        "unique_users": users,
        "unique_sessions": sessions,
        "computed_at": computed_at,
    }


def report_path(directory: Path, report_id: str, report_format: ReportFormat) -> Path:
    """Where a report is written: `<directory>/<reportId>.<format>`."""
    if "/" in report_id or "\\" in report_id or report_id in (".", ".."):
        raise ValueError(f"report id {report_id!r} is not a file name")
    return directory / f"{report_id}.{report_format}"


def write_atomically(path: Path, content: str) -> int:
    """Write `content` to `path` through a temporary file and a rename; readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(data)

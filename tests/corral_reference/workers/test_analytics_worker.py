"""The analytics-process worker on a real Valkey and SQL store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from corral.engine import Engine, JobRecord
from corral.handlers import HandlerSet
from corral_reference.analytics import AnalyticsStore, Counts, batch_key
from corral_reference.contracts import AnalyticsEvent, default_registry
from corral_reference.workers import analytics_process

from sql.sql_peers import database, postgres_schemas, postgres_store_url, store_url  # noqa: F401
from support import eventually

pytestmark = pytest.mark.timeout(30)

HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.fixture
def settings(settings, store_url):  # noqa: F811
    """The shared test settings, with the SQL store under test."""
    return settings.model_copy(update={"database_url": store_url})


@pytest.fixture
async def analytics_worker(start_runtime, worker_services) -> Any:
    """Runs the analytics-process worker on the analytics queue; returns the producer."""
    handlers = HandlerSet()
    analytics_process.register(handlers, worker_services)
    await start_runtime(default_registry(), handlers, queues=["analytics"])
    return worker_services.producer


async def run(engine: Engine, job_id: str) -> JobRecord:
    # The engine reads a job's hash and its state separately; finishedOn proves the hash is the final one.
    async def check() -> JobRecord | None:
        job = await engine.get_job("analytics", job_id)
        return job if job is not None and job.state in ("completed", "failed") and job.finished_on else None

    job: JobRecord = await eventually(check)
    assert job.state == "completed", job.failed_reason
    return job


def event(kind: str, at: datetime, article: str | None, user: str | None, session: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "ts": at.isoformat(), "props": {"path": f"/a/{article}"}}
    for field, value in (("articleId", article), ("userId", user), ("sessionId", session)):
        if value is not None:
            item[field] = value
    return item


SAMPLE = [
    # 10:00-11:00: four views of two articles by three users in three sessions, one signup without article
    event("page_view", HOUR + timedelta(minutes=1), "a1", "u1", "s1"),
    event("page_view", HOUR + timedelta(minutes=2), "a1", "u1", "s1"),
    event("page_view", HOUR + timedelta(minutes=30), "a2", "u2", "s2"),
    event("page_view", HOUR + timedelta(minutes=59, seconds=59), "a1", "u3", "s3"),
    event("signup", HOUR + timedelta(minutes=5), None, "u2", "s2"),
    # 11:00-12:00: one view of a1 by an anonymous session
    event("page_view", HOUR + timedelta(hours=1), "a1", None, "s4"),
    # the next day
    event("page_view", HOUR + timedelta(days=1), "a2", "u1", "s5"),
]


async def test_ingest_stores_every_event_of_the_batch(analytics_worker, engine, database) -> None:  # noqa: F811
    # Given a batch of seven events
    # When analytics.events.ingest runs
    job = await run(engine, await analytics_worker.analytics_events_ingest({"events": SAMPLE}))
    # Then all seven are stored, with their fields and props
    assert job.return_value["stored"] == 7 and job.return_value["duplicate"] is False
    report = AnalyticsStore(database).report("check", HOUR, HOUR + timedelta(days=2), ["page_view", "signup"])
    assert [metric.total.count for metric in report.metrics] == [6, 1]


def test_a_batch_ingested_twice_is_stored_once(database) -> None:  # noqa: F811
    # Given a batch already stored under its key (a retried job recomputes the same key)
    events = [AnalyticsEvent.model_validate(item) for item in SAMPLE]
    key = batch_key("job-1", events)
    store = AnalyticsStore(database)
    first = store.ingest(events, key)
    # When it is ingested again
    again = store.ingest(events, batch_key("job-1", events))
    # Then nothing more is stored; a different job with the same events is a different batch
    assert (first.stored, first.duplicate) == (7, False)
    assert (again.stored, again.duplicate) == (0, True)
    assert batch_key("job-2", events) != key
    assert store.report("r", HOUR, HOUR + timedelta(days=2), ["page_view"]).metrics[0].total.count == 6


async def test_hourly_rollup_run_twice_gives_the_same_numbers(analytics_worker, engine, database) -> None:  # noqa: F811
    producer = analytics_worker
    await run(engine, await producer.analytics_events_ingest({"events": SAMPLE}))
    store = AnalyticsStore(database)
    # Given the 10:00 hour rolled up once (from a start inside the hour)
    first = await run(
        engine, await producer.analytics_rollup({"granularity": "hour", "start": HOUR + timedelta(minutes=17)})
    )
    rows_once = store.rollups("hour", HOUR)
    # When the same rollup runs again
    second = await run(engine, await producer.analytics_rollup({"granularity": "hour", "start": HOUR}))
    rows_twice = store.rollups("hour", HOUR)
    # Then the numbers are identical, and right
    assert rows_once == rows_twice
    assert first.return_value == second.return_value
    assert first.return_value["bucketStart"] == HOUR.isoformat()
    assert first.return_value["bucketEnd"] == (HOUR + timedelta(hours=1)).isoformat()
    assert first.return_value["events"] == 5
    assert [(row.type, row.article_id, row.counts) for row in rows_once] == [
        ("page_view", None, Counts(4, 3, 3)),
        ("signup", None, Counts(1, 1, 1)),
        ("page_view", "a1", Counts(3, 2, 2)),
        ("page_view", "a2", Counts(1, 1, 1)),
    ]


async def test_rollup_rerun_replaces_its_bucket_with_late_events(analytics_worker, engine, database) -> None:  # noqa: F811
    producer = analytics_worker
    await run(engine, await producer.analytics_events_ingest({"events": SAMPLE}))
    store = AnalyticsStore(database)
    # Given the day of 2024-05-01 rolled up
    await run(engine, await producer.analytics_rollup({"granularity": "day", "start": HOUR}))
    assert store.rollups("day", HOUR)[0].counts == Counts(5, 3, 4)
    # When a late event of that day arrives and the rollup runs again
    late = [event("page_view", HOUR + timedelta(hours=5), "a2", "u9", "s9")]
    await run(engine, await producer.analytics_events_ingest({"events": late}))
    again = await run(engine, await producer.analytics_rollup({"granularity": "day", "start": HOUR}))
    # Then the day's rows are replaced, not added to; other buckets are untouched
    day_rows = store.rollups("day", HOUR)
    assert again.return_value["events"] == 7
    assert [(row.type, row.article_id, row.counts) for row in day_rows] == [
        ("page_view", None, Counts(6, 4, 5)),
        ("signup", None, Counts(1, 1, 1)),
        ("page_view", "a1", Counts(4, 2, 3)),
        ("page_view", "a2", Counts(2, 2, 2)),
    ]
    assert store.rollups("hour", HOUR) == []
    assert store.rollups("day", HOUR + timedelta(days=1)) == []


async def test_reports_are_written_as_json_and_csv(analytics_worker, engine, settings) -> None:
    producer = analytics_worker
    await run(engine, await producer.analytics_events_ingest({"events": SAMPLE}))
    span = {"from": HOUR.isoformat(), "to": (HOUR + timedelta(days=2)).isoformat()}
    # Given events over two days
    # When a JSON and a CSV report are requested
    as_json = await run(
        engine,
        await producer.analytics_report(
            {"reportId": "weekly-1", **span, "metrics": ["page_view", "signup", "share"], "format": "json"}
        ),
    )
    as_csv = await run(
        engine,
        await producer.analytics_report({"reportId": "weekly-1", **span, "metrics": ["page_view"], "format": "csv"}),
    )
    # Then both files are in <data_dir>/reports, with the per-day and total numbers
    reports = settings.data_dir / "reports"
    assert sorted(path.name for path in reports.iterdir()) == ["weekly-1.csv", "weekly-1.json"]
    assert as_json.return_value["path"] == str((reports / "weekly-1.json").resolve())
    assert as_json.return_value["totals"] == {"page_view": 6, "signup": 1, "share": 0}
    document = json.loads((reports / "weekly-1.json").read_text())
    assert document["reportId"] == "weekly-1" and datetime.fromisoformat(document["from"]) == HOUR
    assert document["metrics"]["page_view"] == {
        "count": 6,
        "uniqueUsers": 3,
        "uniqueSessions": 5,
        "days": [
            {"day": "2024-05-01", "count": 5, "uniqueUsers": 3, "uniqueSessions": 4},
            {"day": "2024-05-02", "count": 1, "uniqueUsers": 1, "uniqueSessions": 1},
        ],
    }
    assert document["metrics"]["share"] == {"count": 0, "uniqueUsers": 0, "uniqueSessions": 0, "days": []}
    content = (reports / "weekly-1.csv").read_text()
    assert as_csv.return_value["bytes"] == len(content.encode())
    assert list(csv.reader(io.StringIO(content))) == [
        ["metric", "day", "count", "unique_users", "unique_sessions"],
        ["page_view", "2024-05-01", "5", "3", "4"],
        ["page_view", "2024-05-02", "1", "1", "1"],
        ["page_view", "total", "6", "3", "5"],
    ]


async def test_a_report_overwrites_its_file_atomically(analytics_worker, engine, settings) -> None:
    producer = analytics_worker
    reports = settings.data_dir / "reports"
    payload = {
        "reportId": "daily",
        "from": HOUR.isoformat(),
        "to": (HOUR + timedelta(hours=1)).isoformat(),
        "metrics": ["page_view"],
        "format": "json",
    }
    # Given a report written before any event existed
    await run(engine, await producer.analytics_report(payload))
    assert json.loads((reports / "daily.json").read_text())["metrics"]["page_view"]["count"] == 0
    # When events arrive and the same report runs again
    await run(engine, await producer.analytics_events_ingest({"events": SAMPLE}))
    await run(engine, await producer.analytics_report(payload))
    # Then the file holds the new numbers and no temporary file is left behind
    assert json.loads((reports / "daily.json").read_text())["metrics"]["page_view"]["count"] == 4
    assert [path.name for path in reports.iterdir()] == ["daily.json"]


async def test_concurrent_runs_of_one_rollup_never_double_count(database) -> None:  # noqa: F811
    # Given the sample events stored
    store = AnalyticsStore(database)
    store.ingest([AnalyticsEvent.model_validate(item) for item in SAMPLE], "batch")
    # When eight runs of the same hourly rollup race from worker threads
    outcomes = await asyncio.gather(*(asyncio.to_thread(store.rollup, "hour", HOUR) for _ in range(8)))
    # Then the bucket holds one set of rows, as a single run writes them
    assert {outcome.rows for outcome in outcomes} == {4}
    rows = store.rollups("hour", HOUR)
    assert len(rows) == 4 and rows[0].counts == Counts(4, 3, 3)

"""The system-maintenance worker on a real Valkey and SQL store: retention of jobs, streams, DLQ and audit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from corral.dlq.store import DeadLetterStore
from corral.engine import Engine, JobRecord
from corral.handlers import HandlerSet
from corral.sql import AuditLog
from corral_reference.contracts import default_registry
from corral_reference.workers import article_autosave, article_publish, system_maintenance

from sql.sql_peers import database, postgres_schemas, postgres_store_url, store_url  # noqa: F401
from support import eventually

pytestmark = pytest.mark.timeout(30)

TWO_HOURS_AGO_MS = int(time.time() * 1000) - 2 * 3_600_000
WORK_QUEUES = ["ai", "workflows", "analytics", "email", "plugins", "system"]


@pytest.fixture
def settings(settings, store_url):  # noqa: F811
    """The shared test settings, with the SQL store under test."""
    return settings.model_copy(update={"database_url": store_url})


@pytest.fixture
async def system_worker(start_runtime, worker_services) -> Any:
    """Runs maintenance and the article workers (which make completed and failed jobs) on the system queue."""
    handlers = HandlerSet()
    for register in (system_maintenance.register, article_autosave.register, article_publish.register):
        register(handlers, worker_services)
    await start_runtime(default_registry(), handlers, queues=["system"])
    return worker_services.producer


async def finished(engine: Engine, job_id: str) -> JobRecord:
    # The engine reads a job's hash and its state separately; finishedOn proves the hash is the final one.
    async def check() -> JobRecord | None:
        job = await engine.get_job("system", job_id)
        return job if job is not None and job.state in ("completed", "failed") and job.finished_on else None

    job: JobRecord = await eventually(check)
    return job


async def cleanup(producer: Any, engine: Engine, target: str, hours: int) -> dict[str, Any]:
    job = await finished(engine, await producer.system_cleanup({"target": target, "olderThanHours": hours}))
    assert job.state == "completed", job.failed_reason
    result: dict[str, Any] = job.return_value
    return result


async def age_job(redis_client, keys, state: str, job_id: str) -> None:
    """Make a finished job look two hours old, as the engine would after that long."""
    await redis_client.hset(keys.job("system", job_id), "finishedOn", TWO_HOURS_AGO_MS)
    await redis_client.zadd(keys.queue("system", state), {job_id: TWO_HOURS_AGO_MS})


async def test_cleanup_removes_old_completed_jobs_and_reports_counts(system_worker, engine, redis_client, keys) -> None:
    producer = system_worker
    # Given three completed jobs on the system queue, two of them finished two hours ago
    ids = []
    for revision in (1, 2, 3):
        payload = {"articleId": "a", "userId": "u", "revision": revision, "title": "t", "body": "b"}
        ids.append((await finished(engine, await producer.article_autosave(payload))).id)
    for job_id in ids[:2]:
        await age_job(redis_client, keys, "completed", job_id)
    # When completed jobs older than one hour are cleaned up
    result = await cleanup(producer, engine, "completed", 1)
    # Then the two old ones are gone, the recent one stays, and the counts say so per queue
    assert result["removed"] == {queue: (2 if queue == "system" else 0) for queue in WORK_QUEUES}
    assert result["total"] == 2 and result["target"] == "completed" and result["olderThanHours"] == 1
    assert [await engine.get_job("system", job_id) is None for job_id in ids] == [True, True, False]


async def test_cleanup_removes_old_failed_jobs_then_their_dlq_entries(
    system_worker, engine, redis_client, keys
) -> None:
    producer = system_worker
    dlq = DeadLetterStore(redis_client, keys)
    # Given two failed jobs with DLQ entries, one failed two hours ago
    old = await finished(engine, await producer.article_publish({"articleId": "ghost-1", "channels": ["web"]}))
    new = await finished(engine, await producer.article_publish({"articleId": "ghost-2", "channels": ["web"]}))
    assert old.state == new.state == "failed"
    await eventually(lambda: _has_entries(dlq, 2))
    entry_of = {entry.job_id: entry.id for entry in await dlq.recent()}
    await age_job(redis_client, keys, "failed", old.id)
    await redis_client.zadd(keys.dlq_by_time, {entry_of[old.id]: TWO_HOURS_AGO_MS})
    # When failed jobs, then DLQ entries, older than one hour are cleaned up
    failed = await cleanup(producer, engine, "failed", 1)
    dead = await cleanup(producer, engine, "dlq", 1)
    # Then the old failed job and its entry are gone, with its capture record; the recent ones stay
    assert failed["removed"]["system"] == 1 and failed["total"] == 1
    assert await engine.get_job("system", old.id) is None
    assert await engine.get_job("system", new.id) is not None
    assert dead["removed"] == {"entries": 1, "tombstones": 1} and dead["total"] == 2
    assert await dlq.get(entry_of[old.id]) is None
    assert [entry.job_id for entry in await dlq.recent()] == [new.id]


async def test_cleanup_trims_old_entries_of_the_event_streams(system_worker, engine, redis_client, keys) -> None:
    producer = system_worker
    stream = keys.queue("analytics", "events")
    # Given an event stream with three entries from two hours ago and one from now
    for sequence in range(3):
        await redis_client.xadd(stream, {"event": "completed"}, id=f"{TWO_HOURS_AGO_MS}-{sequence}")
    await redis_client.xadd(stream, {"event": "completed"})
    # When events older than one hour are cleaned up
    result = await cleanup(producer, engine, "events", 1)
    # Then the three old entries are gone and the recent one stays
    assert result["removed"]["analytics"] == 3
    assert result["removed"]["system"] == 0
    assert await redis_client.xlen(stream) == 1


async def test_cleanup_deletes_old_audit_rows(system_worker, engine, database) -> None:  # noqa: F811
    producer = system_worker
    now = datetime.now(UTC)
    # Given three audit rows from two days ago and two from the last hour
    with database.transaction() as session:
        for age in (timedelta(days=2), timedelta(days=2, hours=1), timedelta(days=3), timedelta(0), timedelta(hours=1)):
            session.add(AuditLog(actor="ada", action="dlq.replay", resource="dlq:1", created_at=now - age))
    # When audit rows older than a day are cleaned up
    result = await cleanup(producer, engine, "audit", 24)
    # Then the three old rows are deleted and counted; the recent two remain
    assert result["removed"] == {"rows": 3} and result["total"] == 3
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 2
        assert session.scalar(select(func.min(AuditLog.created_at))) >= now - timedelta(hours=1, seconds=1)


async def _has_entries(dlq: DeadLetterStore, count: int) -> bool:
    return await dlq.count() == count

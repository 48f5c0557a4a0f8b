"""The engine adapter's reads of bullmq's stored jobs, on a real worker's failed jobs; and that no other module reads
bullmq's keys or job fields."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from corral.engine import FAILED_JOB_FIELDS, StoredJobs
from corral.errors import JobFailure
from corral.handlers import HandlerSet, JobContext

from support import Echo, eventually, make_registry

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "corral"


def failing_handlers() -> HandlerSet:
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def echo(ctx: JobContext, payload: Echo) -> dict[str, Any]:
        if payload.behaviour == "fail":
            raise JobFailure(f"boom for value {payload.value}")
        return {"value": payload.value}

    return handlers


async def test_a_job_failed_by_a_real_worker_is_read_through_the_adapter(
    start_runtime, make_producer, engine, redis_client, keys
) -> None:
    # Given a job that failed for good in a real worker
    registry = make_registry(attempts=1)
    await start_runtime(registry, failing_handlers())
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 3, "behaviour": "fail"})
    jobs = StoredJobs(redis_client, keys)
    await eventually(lambda: jobs.is_failed("work", job_id), timeout=60)
    record = await engine.get_job("work", job_id)
    assert record is not None and record.finished_on is not None
    # Then bullmq stored every field a DLQ capture copies, under the names the adapter gives the capture script
    stored = await redis_client.hgetall(keys.job("work", job_id))
    assert set(FAILED_JOB_FIELDS) <= set(stored), set(FAILED_JOB_FIELDS) - set(stored)
    assert jobs.failed_job_keys("work", job_id)[0] == keys.job("work", job_id)
    # And the adapter reads its reason and finds it among the failed jobs with its finish time
    assert await jobs.failed_reason("work", job_id) == "boom for value 3"
    assert (job_id, record.finished_on) in await jobs.failed_since("work", 0, 0, 100)
    assert await jobs.failed_since("work", record.finished_on + 1, 0, 100) == []
    assert not await jobs.is_failed("work", "no-such-job")
    assert await jobs.failed_reason("work", "no-such-job") == ""


async def test_waiting_jobs_ready_times_and_the_oldest_waiting(make_producer, engine, redis_client, keys) -> None:
    # Given two jobs waiting on a queue no worker consumes
    registry = make_registry()
    producer = make_producer(registry)
    first = await producer.enqueue("test.echo", {"value": 1})
    second = await producer.enqueue("test.echo", {"value": 2})
    jobs = StoredJobs(redis_client, keys)
    # Then the oldest waiting job is the first, and each job's ready time is when it was queued (no delay)
    assert await jobs.oldest_waiting(["work", "empty"]) == [first, None]
    ready = await jobs.ready_times([("work", first), ("work", second), ("work", "gone")])
    records = [await engine.get_job("work", job_id) for job_id in (first, second)]
    assert ready == [records[0].timestamp, records[1].timestamp, None]
    assert await jobs.ready_times([]) == []


def test_no_module_but_the_engine_adapter_reads_bullmq_keys_or_job_fields() -> None:
    # Given every Python and Lua file of the platform besides the engine adapter and the key-name module
    pattern = re.compile(
        r"keys\.(queue|job)\(|'(failedReason|finishedOn|processedOn|stacktrace|atm)'"
        r"|\"(failedReason|finishedOn|processedOn|atm|stacktrace)\"\s*[,)]"
    )
    offenders = []
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.lua")]):
        if path.name in {"engine.py", "keys.py"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    # Then none of them names a bullmq key or a field of bullmq's job hash
    assert offenders == []

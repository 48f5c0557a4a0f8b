"""The worker runtime on a real Valkey: dispatch, validation, retries and backoff, timeouts, DLQ routing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from corral.contracts.base import EnqueueOptions, JobType, QueueConfig, RateLimit, Registry
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.errors import JobFailure, UnrecoverableJobError
from corral.handlers import HandlerSet, JobContext
from corral.hooks import HookBus, JobEvent, JobEventKind
from corral.runtime import Runtime
from corral.settings import Settings

from support import Echo, eventually, make_registry


def echo_handlers(starts: dict[str, list[float]] | None = None) -> HandlerSet:
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def echo(ctx: JobContext, payload: Echo) -> dict[str, Any]:
        if starts is not None:
            starts.setdefault(ctx.job_id, []).append(time.monotonic())
        if payload.behaviour == "fail":
            raise JobFailure(f"boom on attempt {ctx.attempt} for value {payload.value}")
        if payload.behaviour == "fail-twice" and ctx.attempt <= 2:
            raise JobFailure("transient")
        if payload.behaviour == "unrecoverable":
            raise UnrecoverableJobError("account 42 is closed")
        if payload.behaviour == "sleep":
            await asyncio.sleep(payload.sleep_seconds)
        await ctx.progress(100)
        return {"value": payload.value, "attempt": ctx.attempt}

    return handlers


async def state_of(engine: Engine, job_id: str) -> str:
    job = await engine.get_job("work", job_id)
    return job.state if job else "missing"


async def test_completes_a_valid_job_and_stores_its_result(start_runtime, make_producer, engine) -> None:
    # Given a runtime consuming the test queue
    registry = make_registry()
    await start_runtime(registry, echo_handlers())
    # When a valid job is enqueued
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 7})
    # Then it completes with the handler's result
    await eventually(lambda: _is(engine, job_id, "completed"))
    job = await engine.get_job("work", job_id)
    assert job is not None
    assert job.return_value == {"value": 7, "attempt": 1}
    assert job.progress == 100


async def test_transient_failures_are_retried_until_success(start_runtime, make_producer, engine) -> None:
    # Given a handler that fails its first two attempts
    registry = make_registry(attempts=3, backoff_ms=50)
    await start_runtime(registry, echo_handlers())
    # When the job runs
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 1, "behaviour": "fail-twice"})
    # Then the third attempt completes and nothing reaches the DLQ
    await eventually(lambda: _is(engine, job_id, "completed"))
    job = await engine.get_job("work", job_id)
    assert job is not None and job.return_value == {"value": 1, "attempt": 3}


async def test_sub_second_exponential_backoff_is_honoured_not_rounded_to_a_second(
    start_runtime, make_producer, engine
) -> None:
    # Given a queue with 4 attempts and a 150 ms exponential backoff without jitter
    # (regresses if the engine rounds blocking waits up to a whole second again)
    registry = make_registry(attempts=4, backoff_ms=150, jitter=0.0)
    starts: dict[str, list[float]] = {}
    await start_runtime(registry, echo_handlers(starts))
    # When a job fails every attempt
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 1, "behaviour": "fail"})
    await eventually(lambda: _is(engine, job_id, "failed"))
    # Then no attempt starts before its backoff (150, 300, 600 ms) has passed, and the sub-second ones start well
    # before the whole second the regression rounds them up to (a busy machine adds its own delay on top, so the
    # bound is not the backoff plus a few milliseconds: 66 ms more was seen with both cores busy)
    times = starts[job_id]
    gaps = [(later - earlier) * 1000 for earlier, later in zip(times, times[1:], strict=False)]
    assert len(gaps) == 3
    for gap, expected in zip(gaps, [150, 300, 600], strict=True):
        assert gap >= expected - 5, (gaps, expected)
    assert gaps[0] < 750 and gaps[1] < 750, gaps


async def test_jittered_backoff_stays_within_its_band(start_runtime, make_producer, engine, redis_client, keys) -> None:
    # Given a 400 ms backoff with 50 % jitter
    registry = make_registry(attempts=2, backoff_ms=400, jitter=0.5)
    starts: dict[str, list[float]] = {}
    await start_runtime(registry, echo_handlers(starts))
    producer = make_producer(registry)
    # When several jobs fail once
    ids = [await producer.enqueue("test.echo", {"value": i, "behaviour": "fail"}) for i in range(6)]
    for job_id in ids:
        await eventually(lambda job_id=job_id: _is(engine, job_id, "failed"))
    # Then each retry was scheduled at most 400 ms after its failure (the engine's `delayed` event holds the due
    # time; its stream id, the moment the retry was scheduled), and not all the same ...
    scheduled = {
        fields["jobId"]: int(fields["delay"]) - int(entry_id.split("-")[0])
        for entry_id, fields in await redis_client.xrange(keys.queue("work", "events"))
        if fields.get("event") == "delayed"
    }
    assert sorted(scheduled) == sorted(ids)
    assert all(0 < delay <= 401 for delay in scheduled.values()), scheduled
    assert max(scheduled.values()) - min(scheduled.values()) > 10, scheduled
    # ... and no retry started before 200 ms, the band's low end (a busy machine can only make it later)
    gaps = [(starts[j][1] - starts[j][0]) * 1000 for j in ids]
    assert all(gap >= 195 for gap in gaps), gaps


async def test_exhausted_job_gets_exactly_one_dlq_entry(start_runtime, make_producer, engine) -> None:
    # Given a handler that always fails
    registry = make_registry(attempts=2, backoff_ms=20)
    runtime = await start_runtime(registry, echo_handlers())
    # When the job exhausts its attempts
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 5, "behaviour": "fail"})
    await eventually(lambda: _is(engine, job_id, "failed"))
    # Then the DLQ holds one entry with the job's fields and a fingerprint
    await eventually(runtime.dlq.count)
    entries = await runtime.dlq.recent()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.queue, entry.job_id, entry.name) == ("work", job_id, "test.echo")
    assert entry.data == {"value": 5, "behaviour": "fail", "sleep_seconds": 0.0}
    assert entry.failed_reason == "boom on attempt 2 for value 5"
    assert entry.attempts_made == 2
    assert entry.opts["attempts"] == 2
    assert entry.stacktrace and "JobFailure" in entry.stacktrace[-1]
    assert entry.fingerprint and entry.failed_at >= entry.created_at > 0
    # And the sweeper does not add a second one
    assert await runtime.dlq.sweep("work") == 0
    assert await runtime.dlq.count() == 1


async def test_unrecoverable_failure_skips_retries(start_runtime, make_producer, engine) -> None:
    # Given a handler that raises an unrecoverable error
    registry = make_registry(attempts=5)
    runtime = await start_runtime(registry, echo_handlers())
    # When the job runs once
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 5, "behaviour": "unrecoverable"})
    await eventually(lambda: _is(engine, job_id, "failed"))
    # Then it failed after one attempt and is in the DLQ
    job = await engine.get_job("work", job_id)
    assert job is not None and job.attempts_made == 1
    entries = await runtime.dlq.recent()
    assert [e.failed_reason for e in entries] == ["account 42 is closed"]


async def test_foreign_payload_fails_with_contract_violation(start_runtime, engine, keys) -> None:
    # Given a runtime and a foreign producer that bypasses validation
    registry = make_registry(attempts=5)
    runtime = await start_runtime(registry, echo_handlers())
    # When a job with a bad payload arrives
    job_id = await engine.add("work", "test.echo", {"value": "seven"}, {"attempts": 5})
    await eventually(lambda: _is(engine, job_id, "failed"))
    # Then it fails at once, unrecoverably, naming the field
    job = await engine.get_job("work", job_id)
    assert job is not None
    assert job.attempts_made == 1
    assert job.failed_reason is not None and job.failed_reason.startswith("contract violation: value: ")
    assert (await runtime.dlq.recent())[0].failed_reason == job.failed_reason


async def test_unknown_job_name_fails_unrecoverably(start_runtime, engine) -> None:
    registry = make_registry()
    await start_runtime(registry, echo_handlers())
    job_id = await engine.add("work", "nobody.handles.this", {}, {"attempts": 3})
    await eventually(lambda: _is(engine, job_id, "failed"))
    job = await engine.get_job("work", job_id)
    assert job is not None and job.attempts_made == 1
    assert "no job type 'nobody.handles.this'" in (job.failed_reason or "")


async def test_timeout_cancels_the_attempt_and_counts_as_failed(start_runtime, make_producer, engine) -> None:
    # Given a 0.3 s job timeout and two attempts
    registry = make_registry(attempts=2, backoff_ms=10, timeout=0.3)
    cancelled: list[str] = []
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def slow(ctx: JobContext, payload: Echo) -> None:
        try:
            await asyncio.sleep(payload.sleep_seconds)
        except asyncio.CancelledError:
            cancelled.append(ctx.job_id)
            raise

    await start_runtime(registry, handlers)
    # When a job sleeps past the timeout
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 1, "behaviour": "sleep", "sleep_seconds": 5})
    await eventually(lambda: _is(engine, job_id, "failed"), timeout=5)
    # Then both attempts were cancelled and the reason says why
    job = await engine.get_job("work", job_id)
    assert job is not None
    assert job.attempts_made == 2
    assert job.failed_reason == "timed out after 0.3s"
    assert cancelled == [job_id, job_id]


async def test_hooks_see_the_whole_lifecycle(start_runtime, make_producer, engine) -> None:
    # Given subscribers on every hook
    registry = make_registry(attempts=2, backoff_ms=10)
    events: list[JobEvent] = []
    hooks = HookBus()
    hooks.subscribe(events.append)
    await start_runtime(registry, echo_handlers(), hooks=hooks)
    producer = make_producer(registry, hooks)
    # When one job succeeds and one dies
    ok = await producer.enqueue("test.echo", {"value": 1})
    dead = await producer.enqueue("test.echo", {"value": 2, "behaviour": "fail"})
    await eventually(lambda: _is(engine, dead, "failed"))
    await eventually(lambda: _is(engine, ok, "completed"))
    # Then each emitted the expected sequence
    by_job = {job: [e.kind for e in events if e.job_id == job] for job in (ok, dead)}
    assert by_job[ok] == [JobEventKind.QUEUED, JobEventKind.STARTED, JobEventKind.PROGRESS, JobEventKind.COMPLETED]
    assert by_job[dead] == [
        JobEventKind.QUEUED,
        JobEventKind.STARTED,
        JobEventKind.FAILED,
        JobEventKind.DELAYED,
        JobEventKind.STARTED,
        JobEventKind.FAILED,
        JobEventKind.DEAD_LETTERED,
    ]
    assert next(e for e in events if e.kind is JobEventKind.PROGRESS).detail == {"progress": 100}
    dead_event = next(e for e in events if e.kind is JobEventKind.DEAD_LETTERED)
    assert dead_event.detail["entry_id"]


async def test_delayed_and_prioritised_jobs(start_runtime, make_producer, engine) -> None:
    # Given a paused-until-later job and an immediate one
    registry = make_registry()
    producer = make_producer(registry)
    delayed = await producer.enqueue("test.echo", {"value": 1}, EnqueueOptions(delay_ms=400))
    assert await state_of(engine, delayed) == "delayed"
    started = time.monotonic()
    await start_runtime(registry, echo_handlers())
    # Then the delayed job runs after its delay, not before
    await eventually(lambda: _is(engine, delayed, "completed"))
    assert time.monotonic() - started >= 0.3


async def _is(engine: Engine, job_id: str, state: str) -> bool:
    return await state_of(engine, job_id) == state


async def test_rate_limited_queue_keeps_going_at_its_limit(start_runtime, make_producer, engine) -> None:
    # Given a queue limited to 5 jobs per second (bullmq 3.4's Python worker stalls once limited unless
    # the runtime waits for the limit itself)
    registry = Registry()
    registry.add_queue(QueueConfig("work", concurrency=5, rate_limit=RateLimit(max_jobs=5, per_ms=1_000)))
    registry.add_queue(QueueConfig("dlq"))
    registry.add_job(JobType("test.echo", "work", "test-worker", Echo))
    starts: dict[str, list[float]] = {}
    await start_runtime(registry, echo_handlers(starts))
    # When 15 jobs arrive at once
    producer = make_producer(registry)
    ids = [await producer.enqueue("test.echo", {"value": n}) for n in range(15)]
    # Then all complete, taking at least the three windows of 5 the limit allows
    await eventually(lambda: _all(engine, ids, "completed"), timeout=60)
    # (When each job was taken, by the worker's timestamp of its move to active. The limiter's windows are fixed,
    # one second from the first job taken in each, so the 6th job taken is in the second window and the 11th in the
    # third: at least 1 s and 2 s after the first. The timestamp precedes the move by the time the command takes to
    # reach the server, so a busy machine is allowed 300 ms of it.)
    taken = sorted([(await engine.get_job("work", job_id)).processed_on for job_id in ids])  # type: ignore[union-attr]
    assert taken[5] - taken[0] >= 700, taken
    assert taken[10] - taken[0] >= 1_700, taken
    assert len(starts) == 15


async def _all(engine: Engine, ids: list[str], state: str) -> bool:
    return all([await state_of(engine, job_id) == state for job_id in ids])


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_rate_limited_queue_with_a_backlog_drains_at_its_rate_over_long_windows(
    start_runtime, make_producer, engine
) -> None:
    # Given a queue limited to 2 jobs per 12 s, a window longer than bullmq's 10 s longest block, and a backlog of 6
    # (bullmq's clients timed the blocking wait out client-side and backed off up to 20 s per retry: the queue then
    # ran at a fraction of its rate until something else woke it)
    registry = Registry()
    registry.add_queue(QueueConfig("work", concurrency=5, rate_limit=RateLimit(max_jobs=2, per_ms=12_000)))
    registry.add_queue(QueueConfig("dlq"))
    registry.add_job(JobType("test.echo", "work", "test-worker", Echo))
    starts: dict[str, list[float]] = {}
    await start_runtime(registry, echo_handlers(starts))
    producer = make_producer(registry)
    ids = [await producer.enqueue("test.echo", {"value": n}) for n in range(6)]
    # When nothing else is enqueued, then all six run, two per window, the windows one after the other
    await eventually(lambda: _all(engine, ids, "completed"), timeout=120, interval=0.2)
    times = sorted(t for job_times in starts.values() for t in job_times)
    assert all(sum(1 for t in times if first <= t < first + 11.9) <= 2 for first in times)
    # The limit is kept, not under-run: the third window opens within a few seconds of its due time
    assert times[-1] - times[0] < 2 * 12 + 6, [round(t - times[0], 2) for t in times]


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_an_idle_worker_keeps_its_blocking_wait_and_takes_a_new_job_at_once(
    start_runtime, make_producer, engine, redis_client
) -> None:
    # Given a worker that has been idle for longer than two of bullmq's 5 s drain waits
    await start_runtime(make_registry(), echo_handlers())
    await asyncio.sleep(11)
    # Then its blocking connection is the one it opened: the wait ended on the server's answer, never on a
    # client-side timeout followed by a reconnect and a back-off (during which a new job waited seconds)
    blocked = [c for c in await redis_client.client_list() if c.get("cmd") in {"bzpopmin", "bzpopmax"}]
    assert blocked, "no worker is waiting for jobs"
    assert all(int(c["age"]) >= 10 for c in blocked), blocked
    # And a job enqueued now runs
    job_id = await make_producer(make_registry()).enqueue("test.echo", {"value": 1})
    await eventually(lambda: _is(engine, job_id, "completed"), timeout=60)


async def test_progress_reported_on_the_running_job_reaches_the_hooks_once(
    start_runtime, make_producer, engine
) -> None:
    # Given a handler that reports progress on the running job itself (as a workflow run's coordinator does)
    # and once through its context
    registry = make_registry()
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def coordinate(ctx: JobContext, payload: Echo) -> dict[str, Any]:
        await ctx.job.report_progress({"runId": "r1", "steps": 3, "finished": 1})
        await ctx.progress(90)
        return {}

    events: list[JobEvent] = []
    hooks = HookBus()
    hooks.subscribe(events.append, JobEventKind.PROGRESS)
    await start_runtime(registry, handlers, hooks=hooks)
    # When a job runs
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 1})
    await eventually(lambda: _is(engine, job_id, "completed"))
    # Then both reports were emitted as progress hooks, each once, and the job keeps the last one
    assert [event.detail for event in events] == [
        {"progress": {"runId": "r1", "steps": 3, "finished": 1}},
        {"progress": 90},
    ]
    stored = await engine.get_job("work", job_id)
    assert stored is not None and stored.progress == 90


async def test_a_killed_workers_job_is_reported_stalled_soon_with_the_default_stall_check(
    valkey_url, settings, make_producer, engine
) -> None:
    # Given the default stall check (every 5 s) and a 2 s job lock, and a worker process busy with a long job
    from monitoring.monitoring_peers import spawn_worker, two_queue_registry

    defaults = Settings(
        redis_url=valkey_url, key_prefix=settings.key_prefix, data_dir=settings.data_dir, lock_duration_ms=2_000
    )
    assert defaults.stalled_interval_ms == 5_000
    registry = two_queue_registry()
    process = spawn_worker(valkey_url, "work", lock_duration_ms=2_000)
    try:
        job_id = await make_producer(registry).enqueue(
            "test.echo", {"value": 1, "behaviour": "sleep", "sleep_seconds": 30}
        )
        await eventually(lambda: _is(engine, job_id, "active"))
        # When that process is killed, while another worker (default settings) runs the queue
        stalled: list[JobEvent] = []
        hooks = HookBus()
        hooks.subscribe(stalled.append, JobEventKind.STALLED)
        runtime = Runtime(defaults, valkey_url, registry, {}, queues=["work"], dlq=DeadLetterStore, hooks=hooks)
        await runtime.start()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        try:
            # Then the job is reported stalled (within the lock and two checks, about 12 s here; the delay is not
            # asserted, as it depends on the machine's load: the 5 s default above is what makes it short)
            await eventually(lambda: _async(stalled), timeout=60)
            assert [event.job_id for event in stalled] == [job_id]
        finally:
            await runtime.close(grace_seconds=0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _async(value: Any) -> Any:
    return value

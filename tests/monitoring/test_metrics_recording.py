"""Metrics written by a worker's hooks on real traffic: counts, processing and wait times, history, rolling average."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from corral.hooks import JobEvent, JobEventKind
from corral.monitoring import MetricsRecorder
from corral.monitoring.histogram import bucket_index, percentile, upper_bound_ms
from corral.monitoring.history import bucket_starts

from support import eventually, make_registry


async def test_completed_failed_dead_lettered_and_times_are_recorded_per_queue_and_job_type(
    start_worker, monitoring_for, make_producer
) -> None:
    # Given a monitored worker on a queue with two attempts per job
    registry = make_registry(attempts=2, backoff_ms=20)
    await start_worker(registry)
    producer = make_producer(registry)
    monitoring = monitoring_for(registry)
    # When 6 jobs complete (2 of them after 150 ms of work) and 3 fail both their attempts
    for value in range(4):
        await producer.enqueue("test.echo", {"value": value})
    for value in range(2):
        await producer.enqueue("test.echo", {"value": value, "behaviour": "sleep", "sleep_seconds": 0.15})
    for value in range(3):
        await producer.enqueue("test.echo", {"value": 500 + value, "behaviour": "fail"})

    async def recorded():
        report, _ = await monitoring.metrics("work", points=5, refresh=True)
        summary = report.summary
        return report if (summary.completed, summary.dead_lettered) == (6, 3) else None

    report = await eventually(recorded)
    # Then the minute history counts them, queue-wide ...
    summary = report.summary
    assert (summary.completed, summary.failed, summary.dead_lettered, summary.stalled) == (6, 6, 3, 0)
    assert summary.error_rate == 0.5 and summary.success_rate == 0.5
    assert summary.throughput_per_minute == round(6 / 5, 3)
    assert summary.processing.count == 6
    assert summary.processing.max_ms is not None and 150 <= summary.processing.max_ms < 1_000
    assert summary.processing.p99_ms is not None and summary.processing.p99_ms >= 120
    assert summary.processing.p50_ms is not None and summary.processing.p50_ms < 50
    assert summary.processing.avg_ms is not None and 45 <= summary.processing.avg_ms < 400
    # ... every first attempt has a wait time ...
    assert summary.wait.count == 9 and summary.wait.avg_ms is not None
    # ... and so does the job type, and the hour history agrees
    by_type, _ = await monitoring.metrics("work", job_type="test.echo", points=5, refresh=True)
    assert (by_type.summary.completed, by_type.summary.failed, by_type.summary.dead_lettered) == (6, 6, 3)
    hourly, _ = await monitoring.metrics("work", granularity="hour", points=2, refresh=True)
    assert (hourly.summary.completed, hourly.summary.failed, hourly.summary.dead_lettered) == (6, 6, 3)
    assert sum(point.completed for point in report.points) == 6


async def test_wait_time_and_oldest_waiting_age_measure_time_in_the_queue(
    start_worker, monitoring_for, make_producer
) -> None:
    # Given one job enqueued while no worker runs, and two more 0.6 s later
    registry = make_registry()
    producer = make_producer(registry)
    monitoring = monitoring_for(registry)
    await producer.enqueue("test.echo", {"value": 0})
    await asyncio.sleep(0.6)
    for value in range(1, 3):
        await producer.enqueue("test.echo", {"value": value})
    # Then the oldest waiting job's age is shown
    report, _ = await monitoring.metrics("work", refresh=True)
    assert report.oldest_waiting_age_seconds is not None and report.oldest_waiting_age_seconds >= 0.6
    # When a worker starts and takes them
    await start_worker(registry)

    async def waited():
        found, _ = await monitoring.metrics("work", refresh=True)
        return found if found.summary.wait.count == 3 else None

    report = await eventually(waited)
    # Then their wait times are at least the time spent waiting, and nothing waits any more
    assert report.summary.wait.avg_ms is not None and report.summary.wait.avg_ms >= 600 / 3
    assert report.summary.wait.max_ms is not None and report.summary.wait.max_ms >= 600
    assert report.oldest_waiting_age_seconds is None


async def test_history_keeps_minutes_and_hours_apart_with_a_rolling_average(redis_client, keys, monitoring_for) -> None:
    # Given processing times recorded over the last five minutes: 10 ms, 20 ms, 30 ms, 40 ms, 50 ms
    registry = make_registry()
    monitoring = monitoring_for(registry)
    recorder = MetricsRecorder(redis_client, keys)
    now = time.time()
    starts = bucket_starts("minute", 5, now)
    for start, duration_ms in zip(starts, (10, 20, 30, 40, 50), strict=True):
        for _ in range(4):
            recorder.record_completed("work", "test.echo", start * 1000 + 5_000, duration_ms * 1000)
    await recorder.flush()
    # When the history is read with a rolling window of two points
    report, _ = await monitoring.metrics("work", points=5, rolling_points=2, refresh=True)
    # Then each minute has its own average, and the rolling average spans it and the one before
    assert [point.processing.avg_ms for point in report.points] == [10, 20, 30, 40, 50]
    assert [point.rolling_avg_ms for point in report.points] == [10, 15, 25, 35, 45]
    assert [point.at for point in report.points] == starts
    assert report.summary.processing.avg_ms == 30
    # And the hour bucket holds all twenty, as one point
    hourly, _ = await monitoring.metrics("work", granularity="hour", points=1, refresh=True)
    in_this_hour = sum(1 for start in starts if start // 3600 == int(now) // 3600)
    assert hourly.points[0].completed == 4 * in_this_hour


def test_histogram_percentiles_are_within_a_bucket_of_the_truth() -> None:
    # Given 1,000 durations spread from 1 ms to 1,000 ms
    durations = [1 + i for i in range(1_000)]
    buckets: dict[int, int] = {}
    for duration in durations:
        index = bucket_index(duration)
        buckets[index] = buckets.get(index, 0) + 1
        # every duration lies in its bucket
        assert duration <= upper_bound_ms(index) and (index == 0 or duration > upper_bound_ms(index - 1))
    # Then p50, p95 and p99 are within 19 % of the exact values
    for quantile, exact in ((0.5, 500), (0.95, 950), (0.99, 990)):
        estimate = percentile(buckets, quantile, max_ms=1_000)
        assert estimate is not None and abs(estimate - exact) / exact < 0.19, (quantile, estimate)
    assert percentile({}, 0.5) is None


async def test_wait_times_are_sampled_when_many_jobs_start_at_once(
    redis_client, keys, make_producer, monitoring_for
) -> None:
    # Given a recorder that reads at most 2 queued times per flush, and 5 real waiting jobs
    registry = make_registry()
    producer = make_producer(registry)
    ids = [await producer.enqueue("test.echo", {"value": value}) for value in range(5)]
    recorder = MetricsRecorder(redis_client, keys, max_wait_samples=2)
    # When all 5 start and complete within one flush interval
    for job_id in ids:
        recorder.on_event(JobEvent(JobEventKind.STARTED, "work", job_id, "test.echo", 1))
        recorder.on_event(JobEvent(JobEventKind.COMPLETED, "work", job_id, "test.echo", 1))
    await recorder.flush()
    # Then every completion is counted, and 2 of them carry a wait time
    report, _ = await monitoring_for(registry).metrics("work", points=2, refresh=True)
    assert report.summary.completed == 5 and report.summary.processing.count == 5
    assert report.summary.wait.count == 2


async def test_a_flush_that_writes_a_completion_writes_its_wait_time_too(redis_client, keys, monitoring_for) -> None:
    # Given a recorder with one started job, and a second job queued a moment ago
    monitoring = monitoring_for(make_registry())
    recorder = MetricsRecorder(redis_client, keys)
    now_ms = int(time.time() * 1000)
    for job_id in ("1", "2"):
        await redis_client.hset(keys.job("work", job_id), mapping={"timestamp": now_ms - 500, "delay": 0})
    recorder.on_event(JobEvent(JobEventKind.STARTED, "work", "1", "test.echo", attempt=1, at_ms=now_ms))
    # When the second job starts and completes while a flush reads the first one's queued time
    flushing = asyncio.create_task(recorder.flush())
    await asyncio.sleep(0)  # the flush now waits on Redis
    recorder.on_event(JobEvent(JobEventKind.STARTED, "work", "2", "test.echo", attempt=1, at_ms=now_ms))
    recorder.on_event(JobEvent(JobEventKind.COMPLETED, "work", "2", "test.echo", attempt=1, at_ms=now_ms))
    await flushing
    # Then what that flush wrote counts the completed job's wait with it
    report, _ = await monitoring.metrics("work", refresh=True)
    assert (report.summary.completed, report.summary.wait.count) == (1, 2)


async def test_closing_the_recorder_as_a_full_batch_wakes_it_still_ends_its_loop(redis_client, keys) -> None:
    # Given recorders that wake their flush loop at every event (a full batch)
    for round_number in range(20):
        recorder = MetricsRecorder(redis_client, keys, flush_seconds=60, max_pending=1)
        recorder.start()
        await asyncio.sleep(0.01)  # the loop waits for its wake-up
        # When an event fills the batch and the recorder is closed in the same turn of the event loop
        recorder.on_event(JobEvent(JobEventKind.STARTED, "work", f"job-{round_number}", "test.echo"))
        # Then the close ends (its loop stops even though its wake-up and the close arrived together)
        async with asyncio.timeout(30):
            await recorder.close()


async def test_a_lost_server_is_logged_once_not_on_every_flush(caplog: pytest.LogCaptureFixture) -> None:
    # Given a recorder holding metrics whose server is gone (nothing listens on its port)
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from corral.keys import Keys
    from corral.server import free_port

    redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=5, retry=Retry(NoBackoff(), 0))
    recorder = MetricsRecorder(redis, Keys("lost"), flush_seconds=0.05)
    recorder.record_completed("email", "email.send", int(time.time() * 1000), 1_000)
    caplog.set_level(logging.DEBUG, logger="corral.monitoring.recorder")

    def attempts() -> int:
        return sum(
            record.levelno == logging.DEBUG and record.getMessage() == "metrics flush failed"
            for record in caplog.records
        )

    # When its flush loop fails again and again
    recorder.start()
    try:
        await eventually(lambda: _at_least(attempts, 5), timeout=120)
    finally:
        await recorder.close()
        await redis.aclose()
    # Then the failure is one error line naming the cause, not one per flush
    errors = [
        r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == "corral.monitoring.recorder"
    ]
    periodic = [line for line in errors if line.startswith("metrics flush failed")]
    assert len(periodic) == 1, errors
    assert "ConnectionError" in periodic[0] and "retried every 0.05s" in periodic[0]


async def _at_least(count: Callable[[], int], wanted: int) -> bool:
    return count() >= wanted

"""Failure reasons from real failures: top fingerprints per queue and job type over 1 h, 24 h and 7 d."""

from __future__ import annotations

import time

from corral.dlq.fingerprint import fingerprint
from corral.monitoring import MetricsRecorder
from monitoring.monitoring_peers import two_queue_registry

from support import eventually


async def test_top_fingerprints_group_alike_failures_by_queue_and_job_type(
    start_worker, monitoring_for, make_producer
) -> None:
    # Given a worker on both queues: two attempts per job on `work`, three on `other`
    registry = two_queue_registry(attempts=2, backoff_ms=10)
    await start_worker(registry)
    producer = make_producer(registry)
    monitoring = monitoring_for(registry)
    # When three jobs time out (each with another number), two hit a closed account, one `other` job times out
    for value in (100, 250, 3_000):
        await producer.enqueue("test.echo", {"value": value, "behaviour": "fail"})
    for value in (7, 8):
        await producer.enqueue("test.echo", {"value": value, "behaviour": "unrecoverable"})
    await producer.enqueue("test.other", {"value": 9, "behaviour": "fail"})

    async def all_dead():
        report = await monitoring.failure_reasons(window="1h")
        return report if sum(reason.dead_lettered for reason in report.reasons) == 6 else None

    report = await eventually(all_dead)
    # Then the timeouts of `work` are one fingerprint: 6 failed attempts, 3 dead, with a normalised pattern
    top = report.reasons[0]
    assert (top.queue, top.job_type, top.failed_attempts, top.dead_lettered) == ("work", "test.echo", 6, 3)
    assert top.fingerprint == fingerprint("provider timed out after 1 ms")
    assert top.pattern == "provider timed out after <id> ms"
    assert top.sample.startswith("provider timed out after ")
    assert top.last_seen > 0
    # ... the closed accounts another (unrecoverable: one attempt each), and `other`'s timeouts a third
    rows = {(r.queue, r.job_type, r.pattern): (r.failed_attempts, r.dead_lettered) for r in report.reasons}
    assert rows[("work", "test.echo", "account <id> is closed")] == (2, 2)
    assert rows[("other", "test.other", "provider timed out after <id> ms")] == (3, 1)
    assert report.total_failed_attempts == 11
    # And filters by queue and job type narrow it down
    only_other = await monitoring.failure_reasons(queue="other", window="1h")
    assert [(r.queue, r.failed_attempts) for r in only_other.reasons] == [("other", 3)]
    assert (await monitoring.failure_reasons(job_type="test.other", window="24h")).total_failed_attempts == 3
    assert len((await monitoring.failure_reasons(window="7d", limit=1)).reasons) == 1


async def test_windows_cover_the_last_hour_day_and_week(redis_client, keys, monitoring_for) -> None:
    # Given failures recorded 10 minutes, 5 hours and 3 days ago
    monitoring = monitoring_for(two_queue_registry())
    recorder = MetricsRecorder(redis_client, keys)
    now_ms = int(time.time() * 1000)
    for minutes_ago, reason in ((10, "recent error"), (5 * 60, "error of this morning"), (3 * 24 * 60, "old error")):
        recorder.record_failed("work", "test.echo", now_ms - minutes_ago * 60_000, reason, final=True)
    await recorder.flush()

    # When each window is read, then it holds the failures within it
    async def patterns(window):
        return {reason.pattern for reason in (await monitoring.failure_reasons(window=window)).reasons}

    assert await patterns("1h") == {"recent error"}
    assert await patterns("24h") == {"recent error", "error of this morning"}
    assert await patterns("7d") == {"recent error", "error of this morning", "old error"}

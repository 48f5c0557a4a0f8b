"""Health rules on real traffic: each issue appears with its evidence and recommendation; scoring and caching."""

from __future__ import annotations

import asyncio
import os
import signal

from corral.monitoring import MetricsRecorder
from corral.monitoring.health import HealthReport
from corral.monitoring.history import bucket_starts
from monitoring.monitoring_peers import spawn_worker, two_queue_registry

from support import eventually


def issues_of(report: HealthReport, queue: str = "work") -> dict[str, object]:
    return {issue.rule: issue for issue in report.issues if issue.queue == queue}


async def test_an_idle_system_is_healthy_and_the_report_is_cached(start_worker, monitoring_for) -> None:
    # Given workers on both queues and no traffic
    registry = two_queue_registry()
    await start_worker(registry)
    monitoring = monitoring_for(registry)
    await eventually(monitoring.workers.views)
    # When health is asked twice
    report, cached = await monitoring.health.health()
    again, cached_again = await monitoring.health.health()
    # Then every queue scores 100, the second answer comes from the cache
    assert (report.score, report.status, report.issues) == (100, "healthy", [])
    assert [(q.queue, q.score, q.status) for q in report.queues] == [
        ("work", 100, "healthy"),
        ("other", 100, "healthy"),
    ]
    assert not cached and cached_again and again.generated_at == report.generated_at


async def test_backlog_size_and_age_warn_when_workers_fall_behind(
    start_worker, monitoring_for, make_producer, monitoring_settings
) -> None:
    # Given a worker with concurrency 1 busy with a long job, and low backlog thresholds
    settings = monitoring_settings.model_copy(
        update={"health_backlog_warning": 3, "health_backlog_critical": 100, "health_backlog_age_warning_seconds": 0.5}
    )
    registry = two_queue_registry(concurrency=1)
    await start_worker(registry, queues=["work"])
    producer = make_producer(registry)
    await producer.enqueue("test.echo", {"value": 0, "behaviour": "sleep", "sleep_seconds": 2})
    monitoring = monitoring_for(registry, settings)
    await eventually(monitoring.workers.views)
    # When four more jobs wait for more than half a second
    for value in range(4):
        await producer.enqueue("test.echo", {"value": value})
    await asyncio.sleep(0.6)
    report = await monitoring.health.compute()
    # Then both backlog rules warn, with the numbers, and the queue is degraded
    found = issues_of(report)
    size, age = found["backlog_size"], found["backlog_age"]
    assert size.severity == "warning" and size.evidence["backlog"] == 4 and size.evidence["warning_at"] == 3
    assert "worker" in size.recommendation
    assert age.severity == "warning" and age.evidence["oldest_waiting_age_seconds"] >= 0.6
    work = next(q for q in report.queues if q.queue == "work")
    assert (work.score, work.status) == (70, "degraded")
    assert "no_workers" not in found


async def test_error_rate_and_dlq_growth_flag_failing_jobs(
    start_worker, monitoring_for, make_producer, monitoring_settings
) -> None:
    # Given low thresholds: error rate from 4 finished attempts, DLQ growth from 2 dead jobs an hour
    settings = monitoring_settings.model_copy(
        update={
            "health_error_rate_min_jobs": 4,
            "health_error_rate_warning": 0.2,
            "health_error_rate_critical": 0.5,
            "health_dlq_growth_warning": 2,
            "health_dlq_growth_critical": 10,
        }
    )
    registry = two_queue_registry(attempts=1)
    await start_worker(registry)
    monitoring = monitoring_for(registry, settings)
    producer = make_producer(registry)
    # When 4 jobs complete and 4 fail for good
    for value in range(4):
        await producer.enqueue("test.echo", {"value": value})
        await producer.enqueue("test.echo", {"value": value, "behaviour": "fail"})

    async def judged():
        found = issues_of(await monitoring.health.compute())
        dlq = found.get("dlq_growth")
        return found if "error_rate" in found and dlq and dlq.evidence["dead_lettered_last_hour"] == 4 else None

    found = await eventually(judged)
    # Then the error rate is critical (50 %) and the DLQ growth a warning, each with its evidence
    rate = found["error_rate"]
    assert rate.severity == "critical"
    assert (rate.evidence["error_rate"], rate.evidence["failed_attempts"], rate.evidence["completed"]) == (0.5, 4, 4)
    assert "failure reasons" in rate.recommendation
    growth = found["dlq_growth"]
    assert growth.severity == "warning" and growth.evidence["warning_at"] == 2
    assert "replay" in growth.recommendation
    report = await monitoring.health.compute()
    assert (report.score, report.status) == (45, "critical")


async def test_a_non_empty_queue_without_workers_is_critical_unless_paused(
    start_worker, monitoring_for, make_producer, engine
) -> None:
    # Given a worker on `other` only, and two jobs waiting on `work`
    registry = two_queue_registry()
    await start_worker(registry, queues=["other"])
    monitoring = monitoring_for(registry)
    await eventually(monitoring.workers.views)
    producer = make_producer(registry)
    await producer.enqueue("test.echo", {"value": 1})
    await producer.enqueue("test.echo", {"value": 2})
    # When health is computed
    found = issues_of(await monitoring.health.compute())
    # Then `work` has a critical no-workers issue with the backlog as evidence
    issue = found["no_workers"]
    assert issue.severity == "critical"
    assert issue.evidence["backlog"] == 2 and issue.evidence["live_workers"] == 0
    assert "corral worker --queue work" in issue.recommendation
    # And once the queue is paused, nobody is expected to consume it
    await engine.pause("work")
    assert "no_workers" not in issues_of(await monitoring.health.compute())


async def test_stalled_jobs_are_flagged(valkey_url, start_worker, monitoring_for, make_producer) -> None:
    # Given a real worker process working on a long job
    registry = two_queue_registry()
    monitoring = monitoring_for(registry)
    producer = make_producer(registry)
    process = spawn_worker(valkey_url, "work", lock_duration_ms=1_000, stalled_interval_ms=500)
    try:
        await eventually(monitoring.workers.views, timeout=60)
        await producer.enqueue("test.echo", {"value": 1, "behaviour": "sleep", "sleep_seconds": 20})
        await eventually(lambda: _active(monitoring))
        # When the process is killed, and another worker finds its job's lock expired
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    await start_worker(registry, queues=["work"])

    async def judged():
        return issues_of(await monitoring.health.compute()).get("stalled")

    # Then the stalled job is counted and flagged
    issue = await eventually(judged, timeout=60)
    assert issue.severity == "warning" and issue.evidence["stalled"] == 1
    assert "lock" in issue.recommendation


async def test_processing_time_drift_against_the_queues_own_baseline(
    start_worker, monitoring_for, make_producer, monitoring_settings, redis_client, keys
) -> None:
    # Given a baseline of 40 jobs of 10 ms over the previous hours
    settings = monitoring_settings.model_copy(update={"health_drift_min_jobs": 5})
    registry = two_queue_registry()
    monitoring = monitoring_for(registry, settings)
    recorder = MetricsRecorder(redis_client, keys)
    for start in bucket_starts("hour", 3)[:-1]:
        for _ in range(20):
            recorder.record_completed("work", "test.echo", start * 1000 + 60_000, 10_000)
    await recorder.flush()
    assert "processing_drift" not in issues_of(await monitoring.health.compute())
    # When the queue's jobs now take 60 ms
    await start_worker(registry)
    producer = make_producer(registry)
    for value in range(6):
        await producer.enqueue("test.echo", {"value": value, "behaviour": "sleep", "sleep_seconds": 0.06})

    async def judged():
        return issues_of(await monitoring.health.compute()).get("processing_drift")

    issue = await eventually(judged)
    # Then a critical drift is reported with both averages and their ratio
    assert issue.severity == "critical"
    assert issue.evidence["baseline_avg_ms"] == 10.0 and issue.evidence["baseline_jobs"] == 40
    assert issue.evidence["recent_avg_ms"] >= 60 and issue.evidence["ratio"] >= 6
    assert issue.evidence["recent_jobs"] >= 5


async def _active(monitoring) -> bool:
    stats = await monitoring.stats.collect()
    return stats.totals["active"] > 0


def test_scoring_is_documented_and_bounded() -> None:
    from corral.monitoring.rules import HealthIssue, IssueSeverity, score

    def issue(severity: IssueSeverity) -> HealthIssue:
        return HealthIssue("rule", "q", severity, "s", {}, "r")

    assert score([]) == (100, "healthy")
    assert score([issue(IssueSeverity.WARNING)]) == (85, "degraded")
    assert score([issue(IssueSeverity.CRITICAL), issue(IssueSeverity.WARNING)]) == (45, "critical")
    assert score([issue(IssueSeverity.CRITICAL)] * 3) == (0, "critical")

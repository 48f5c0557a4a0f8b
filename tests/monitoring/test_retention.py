"""Retention warnings on real data: failed jobs, DLQ entries and audit rows that retention trims within the horizon,
as health issues and alerts, and `corral monitoring retention`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.contracts.base import JobType, QueueConfig, Registry, Retention
from corral.dlq.store import DeadLetterStore
from corral.monitoring import Monitoring
from corral.monitoring.retention import projected_overflow
from corral.sql.database import Database
from corral.sql.models import AuditLog
from monitoring.monitoring_peers import echo_handlers

from support import Echo, eventually


def short_retention_registry(keep_failed: Retention) -> Registry:
    """Queue `work` (one attempt, failed jobs kept as given) and its job `test.echo`."""
    registry = Registry()
    registry.add_queue(QueueConfig("work", attempts=1, keep_failed=keep_failed))
    registry.add_queue(QueueConfig("dlq"))
    registry.add_job(JobType("test.echo", "work", "test-worker", Echo))
    return registry


@pytest.fixture
def database(settings) -> Iterator[Database]:
    """The test's SQL store, migrated."""
    store = Database(settings.resolved_database_url)
    store.upgrade()
    yield store
    store.dispose()


def by_rule(issues) -> dict[str, object]:
    return {issue.key: issue for issue in issues}


def test_a_count_cap_pushes_out_the_oldest_once_the_expected_growth_arrives() -> None:
    assert projected_overflow(stored=10, growth=0, cap=20) == 0
    assert projected_overflow(stored=10, growth=15, cap=20) == 5
    assert projected_overflow(stored=10, growth=500, cap=20) == 10  # never more than what is stored
    assert projected_overflow(stored=30, growth=0, cap=20) == 10


async def test_failed_jobs_and_dlq_entries_trimmed_within_the_horizon_warn_and_fire_alerts(
    start_worker, make_producer, monitoring_settings, redis_client, keys, engine
) -> None:
    # Given a queue keeping failed jobs 2 h (and at most 2), a DLQ keeping 25 h and at most 2 entries
    registry = short_retention_registry(Retention(count=2, age_seconds=7_200))
    settings = monitoring_settings.model_copy(update={"dlq_max_age_hours": 25, "dlq_max_entries": 2})
    await start_worker(registry, echo_handlers(), settings=settings)
    producer = make_producer(registry)
    started = int(time.time() * 1000)
    # When three jobs fail for good
    for value in range(3):
        await producer.enqueue("test.echo", {"value": value, "behaviour": "fail"})
    dlq = DeadLetterStore(redis_client, keys)
    await eventually(lambda: _at_least(dlq.count(), 3))
    monitoring = Monitoring.build(settings, redis_client, keys, engine, registry)
    report = await monitoring.health.compute()
    found = by_rule(report.retention)
    # Then the failed jobs bullmq kept (2) all leave within 24 h: their age limit is 2 h
    failed = found["retention_failed:work"]
    assert failed.severity == "warning" and failed.summary.startswith("2 failed jobs of work will be removed")
    assert {k: failed.evidence[k] for k in ("target", "stored", "affected", "by_age", "by_count", "keep_count")} == {
        "target": "failed",
        "stored": 2,
        "affected": 2,
        "by_age": 2,
        "by_count": 0,
        "keep_count": 2,
    }
    assert failed.evidence["oldest_at"] >= started and 0 <= failed.evidence["oldest_age_seconds"] < 60
    # And one DLQ entry is over the count cap (none is near 25 h old), the oldest named
    entry = found["retention_dlq:dlq"]
    assert (entry.evidence["stored"], entry.evidence["by_age"], entry.evidence["by_count"]) == (3, 0, 1)
    assert entry.evidence["max_entries"] == 2 and entry.evidence["oldest_at"] >= started
    assert "1 dead-letter entries will be deleted by retention within 24 h" in entry.summary
    # And the warnings are health issues that move no score
    assert {"retention_failed:work", "retention_dlq:dlq"} <= {issue.key for issue in report.issues}
    assert [q.score for q in report.queues if q.queue == "work"] == [100]

    # When the worker's alert evaluator runs, then each warning fires its own alert
    async def retention_alerts() -> bool:
        firing = await monitoring.alerts.firing()
        return {"retention_failed:work", "retention_dlq:dlq"} <= set(firing)

    await eventually(retention_alerts)
    alert = (await monitoring.alerts.firing())["retention_dlq:dlq"]
    assert (alert.rule, alert.severity, alert.evidence["by_count"]) == ("retention_dlq", "warning", 1)
    # When the horizon is 1 h instead, then the failed jobs (2 h left) are not warned about
    short = Monitoring.build(
        settings.model_copy(update={"retention_warning_hours": 1}), redis_client, keys, engine, registry
    )
    assert "retention_failed:work" not in by_rule(await short.retention.issues())


async def _at_least(count, wanted: int) -> bool:
    return await count >= wanted


async def test_audit_rows_past_their_retention_within_the_horizon_warn_with_the_oldest(
    settings, database, redis_client, keys, engine
) -> None:
    # Given audit rows 50 h and 1 h old, and audit rows kept 3 days
    now = datetime.now(UTC)
    with database.transaction() as session:
        for hours in (50, 1):
            session.add(
                AuditLog(actor="owner@example.com", action="queues.pause", created_at=now - timedelta(hours=hours))
            )
    registry = short_retention_registry(Retention(count=100, age_seconds=86_400 * 30))
    configured = settings.model_copy(update={"audit_retention_days": 3})
    monitoring = Monitoring.build(configured, redis_client, keys, engine, registry, lambda: database)
    # When retention is looked at 24 h ahead
    [issue] = await monitoring.retention.issues()
    # Then the row that turns 72 h old within 24 h is named, with its age
    assert (issue.rule, issue.queue, issue.severity) == ("retention_audit", "audit", "warning")
    assert (issue.evidence["affected"], issue.evidence["retention_days"]) == (1, 3)
    assert 49.9 * 3600 < issue.evidence["oldest_age_seconds"] < 50.1 * 3600
    assert issue.summary == "1 audit rows will be deleted by retention within 24 h; the oldest is 2.1 days old"
    # When the horizon is 12 h, then nothing is warned about
    shorter = configured.model_copy(update={"retention_warning_hours": 12})
    quiet = Monitoring.build(shorter, redis_client, keys, engine, registry, lambda: database)
    assert await quiet.retention.issues() == []


def cli(valkey_url: str, settings, *args: str, **extra: str) -> tuple[int, str, str]:
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CORRAL_")}
    env.update(
        {
            "CORRAL_REDIS_URL": valkey_url,
            "CORRAL_DATA_DIR": str(settings.data_dir),
            "CORRAL_KEY_PREFIX": os.environ["CORRAL_KEY_PREFIX"],
            **extra,
        }
    )
    result = CliRunner().invoke(app, ["monitoring", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_retention_command_lists_the_warnings_and_refuses_a_bad_horizon(valkey_url, settings, database) -> None:
    # Given an audit row two days old, and audit rows kept one day
    with database.transaction() as session:
        session.add(AuditLog(actor="cli:ops", action="dlq.replay", created_at=datetime.now(UTC) - timedelta(days=2)))
    # When the retention warnings are asked for as JSON
    code, stdout, _ = cli(valkey_url, settings, "retention", "--json", CORRAL_AUDIT_RETENTION_DAYS="1")
    # Then the audit row is listed with its counts
    assert code == 0
    [warning] = json.loads(stdout)
    assert (warning["rule"], warning["evidence"]["affected"], warning["evidence"]["target"]) == (
        "retention_audit",
        1,
        "audit",
    )
    # And the table says the same in words
    code, stdout, _ = cli(valkey_url, settings, "retention", CORRAL_AUDIT_RETENTION_DAYS="1")
    assert code == 0 and "retention_audit (audit): 1 audit rows will be deleted" in stdout
    assert "affected 1 of 1 (by age 1, by count 0)" in stdout
    # When nothing is near its retention, then it says so
    code, stdout, _ = cli(valkey_url, settings, "retention")
    assert code == 0 and "nothing will be trimmed" in stdout
    # When the horizon setting is not a positive number of hours, then one error line names it
    code, _, stderr = cli(valkey_url, settings, "retention", CORRAL_RETENTION_WARNING_HOURS="0")
    assert code == 2 and stderr.startswith("error: setting retention_warning_hours") and "Traceback" not in stderr

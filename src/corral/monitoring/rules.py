"""Health rules: each judges one queue's signals and names an issue with its evidence and a recommendation.

Scoring: a queue starts at 100 and loses 15 points per warning and 40 per critical issue (never below 0).
Its status is critical with any critical issue, degraded with any warning, healthy otherwise. The overall score is
the lowest queue score and the overall status the worst queue status.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from corral.monitoring.tally import Tally
from corral.settings import Settings


class IssueSeverity(enum.StrEnum):
    """How bad an issue is."""

    WARNING = "warning"
    CRITICAL = "critical"


PENALTY = {IssueSeverity.WARNING: 15, IssueSeverity.CRITICAL: 40}


@dataclass(frozen=True)
class Thresholds:
    """Where each rule starts warning and turns critical; from `CORRAL_HEALTH_*` settings."""

    window_minutes: int = 15
    backlog_warning: int = 1_000
    backlog_critical: int = 10_000
    backlog_age_warning_seconds: float = 300.0
    backlog_age_critical_seconds: float = 1_800.0
    error_rate_warning: float = 0.10
    error_rate_critical: float = 0.50
    error_rate_min_jobs: int = 20
    dlq_growth_warning: int = 10
    dlq_growth_critical: int = 100
    stalled_warning: int = 1
    stalled_critical: int = 10
    drift_warning: float = 2.0
    drift_critical: float = 4.0
    drift_min_jobs: int = 20

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        """The thresholds configured in settings."""
        return cls(
            window_minutes=settings.health_window_minutes,
            backlog_warning=settings.health_backlog_warning,
            backlog_critical=settings.health_backlog_critical,
            backlog_age_warning_seconds=settings.health_backlog_age_warning_seconds,
            backlog_age_critical_seconds=settings.health_backlog_age_critical_seconds,
            error_rate_warning=settings.health_error_rate_warning,
            error_rate_critical=settings.health_error_rate_critical,
            error_rate_min_jobs=settings.health_error_rate_min_jobs,
            dlq_growth_warning=settings.health_dlq_growth_warning,
            dlq_growth_critical=settings.health_dlq_growth_critical,
            stalled_warning=settings.health_stalled_warning,
            stalled_critical=settings.health_stalled_critical,
            drift_warning=settings.health_drift_warning,
            drift_critical=settings.health_drift_critical,
            drift_min_jobs=settings.health_drift_min_jobs,
        )


@dataclass(frozen=True)
class QueueSignals:
    """What the rules look at for one queue."""

    queue: str
    paused: bool
    backlog: int
    oldest_waiting_age_seconds: float | None
    live_workers: int
    recent: Tally = field(default_factory=Tally)
    last_hour: Tally = field(default_factory=Tally)
    baseline: Tally = field(default_factory=Tally)


Evidence = dict[str, float | int | str | bool | None]


@dataclass(frozen=True)
class HealthIssue:
    """One problem of one queue: the rule, how bad, the numbers behind it, and what to do."""

    rule: str
    queue: str
    severity: IssueSeverity
    summary: str
    evidence: Evidence
    recommendation: str

    @property
    def key(self) -> str:
        """Identifies the issue across evaluations: rule and queue."""
        return f"{self.rule}:{self.queue}"


def _level(value: float, warning: float, critical: float) -> IssueSeverity | None:
    if value >= critical:
        return IssueSeverity.CRITICAL
    if value >= warning:
        return IssueSeverity.WARNING
    return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3_600:.1f} h"


def backlog_size(s: QueueSignals, t: Thresholds) -> HealthIssue | None:
    """Too many jobs ready to run and not taken."""
    severity = _level(s.backlog, t.backlog_warning, t.backlog_critical)
    if severity is None:
        return None
    if s.paused:
        advice = "The queue is paused: resume it when its jobs may run, or purge jobs that are no longer wanted."
    else:
        advice = (
            "Add worker processes or raise the queue's concurrency, and check that a slow dependency is not "
            "holding the workers."
        )
    return HealthIssue(
        "backlog_size",
        s.queue,
        severity,
        f"{s.backlog} jobs are waiting in {s.queue}",
        {"backlog": s.backlog, "warning_at": t.backlog_warning, "critical_at": t.backlog_critical, "paused": s.paused},
        advice,
    )


def backlog_age(s: QueueSignals, t: Thresholds) -> HealthIssue | None:
    """The oldest waiting job has waited too long."""
    age = s.oldest_waiting_age_seconds
    severity = None if age is None else _level(age, t.backlog_age_warning_seconds, t.backlog_age_critical_seconds)
    if severity is None or age is None:
        return None
    return HealthIssue(
        "backlog_age",
        s.queue,
        severity,
        f"the oldest waiting job of {s.queue} has waited {_duration(age)}",
        {
            "oldest_waiting_age_seconds": age,
            "warning_at_seconds": t.backlog_age_warning_seconds,
            "critical_at_seconds": t.backlog_age_critical_seconds,
            "paused": s.paused,
        },
        "Workers are not keeping up with this queue: add workers or concurrency, or look for jobs that block them."
        if not s.paused
        else "The queue is paused, so nothing runs: resume it when its jobs may run.",
    )


def error_rate(s: QueueSignals, t: Thresholds) -> HealthIssue | None:
    """Too many attempts fail."""
    finished = s.recent.finished_attempts
    rate = s.recent.error_rate
    if finished < t.error_rate_min_jobs or rate is None:
        return None
    severity = _level(rate, t.error_rate_warning, t.error_rate_critical)
    if severity is None:
        return None
    return HealthIssue(
        "error_rate",
        s.queue,
        severity,
        f"{rate:.0%} of the attempts of {s.queue} failed in the last {t.window_minutes} min",
        {
            "error_rate": round(rate, 4),
            "failed_attempts": s.recent.failed,
            "completed": s.recent.completed,
            "window_minutes": t.window_minutes,
            "warning_at": t.error_rate_warning,
            "critical_at": t.error_rate_critical,
        },
        f"Look at the top failure reasons of {s.queue} over the last hour (on the queue's page in the console) and "
        "fix the failing dependency or the payloads that fail.",
    )


def dlq_growth(s: QueueSignals, t: Thresholds) -> HealthIssue | None:
    """Jobs keep dying into the dead-letter queue."""
    dead = s.last_hour.dead_lettered
    severity = _level(dead, t.dlq_growth_warning, t.dlq_growth_critical)
    if severity is None:
        return None
    return HealthIssue(
        "dlq_growth",
        s.queue,
        severity,
        f"{dead} jobs of {s.queue} reached the dead-letter queue in the last hour",
        {"dead_lettered_last_hour": dead, "warning_at": t.dlq_growth_warning, "critical_at": t.dlq_growth_critical},
        "Inspect the dead-letter entries and their failure reasons, fix the cause, then replay them.",
    )


def no_workers(s: QueueSignals, t: Thresholds) -> HealthIssue | None:
    """Jobs wait and no live worker consumes the queue."""
    if s.backlog <= 0 or s.live_workers > 0 or s.paused:
        return None
    return HealthIssue(
        "no_workers",
        s.queue,
        IssueSeverity.CRITICAL,
        f"{s.backlog} jobs wait in {s.queue} and no live worker consumes it",
        {"backlog": s.backlog, "live_workers": 0, "oldest_waiting_age_seconds": s.oldest_waiting_age_seconds},
        f"Start a worker for this queue (corral worker --queue {s.queue}), or find out why its workers stopped "
        "sending heartbeats (the console's Workers page lists them, lost ones included).",
    )


def stalled(s: QueueSignals, t: Thresholds) -> HealthIssue | None:
    """Jobs stalled: their worker stopped renewing their lock."""
    count = s.recent.stalled
    severity = _level(count, t.stalled_warning, t.stalled_critical)
    if severity is None:
        return None
    return HealthIssue(
        "stalled",
        s.queue,
        severity,
        f"{count} jobs of {s.queue} stalled in the last {t.window_minutes} min",
        {
            "stalled": count,
            "window_minutes": t.window_minutes,
            "warning_at": t.stalled_warning,
            "critical_at": t.stalled_critical,
        },
        "A worker died or blocked its event loop while running jobs: check worker crashes and restarts, and move "
        "long CPU-bound work out of the event loop or lengthen the job lock.",
    )


def processing_drift(s: QueueSignals, t: Thresholds) -> HealthIssue | None:
    """Jobs take much longer than this queue's own baseline."""
    recent, baseline = s.recent.processing_avg_ms, s.baseline.processing_avg_ms
    if (
        recent is None
        or baseline is None
        or baseline <= 0
        or s.recent.processing_count < t.drift_min_jobs
        or s.baseline.processing_count < t.drift_min_jobs
    ):
        return None
    ratio = recent / baseline
    severity = _level(ratio, t.drift_warning, t.drift_critical)
    if severity is None:
        return None
    return HealthIssue(
        "processing_drift",
        s.queue,
        severity,
        f"jobs of {s.queue} take {ratio:.1f}x longer than usual",
        {
            "recent_avg_ms": round(recent, 3),
            "baseline_avg_ms": round(baseline, 3),
            "ratio": round(ratio, 3),
            "recent_jobs": s.recent.processing_count,
            "baseline_jobs": s.baseline.processing_count,
            "window_minutes": t.window_minutes,
            "warning_at": t.drift_warning,
            "critical_at": t.drift_critical,
        },
        "Check the services these jobs call (slow responses, timeouts) and any recent change to the handlers or "
        "their payloads.",
    )


RULES: tuple[Callable[[QueueSignals, Thresholds], HealthIssue | None], ...] = (
    backlog_size,
    backlog_age,
    error_rate,
    dlq_growth,
    no_workers,
    stalled,
    processing_drift,
)


def judge(signals: QueueSignals, thresholds: Thresholds) -> list[HealthIssue]:
    """Every issue the rules find for one queue, worst first."""
    issues = [issue for rule in RULES if (issue := rule(signals, thresholds)) is not None]
    return sorted(issues, key=lambda issue: issue.severity != IssueSeverity.CRITICAL)


def score(issues: list[HealthIssue]) -> tuple[int, str]:
    """The score (0-100) and status (healthy, degraded, critical) that a queue's issues give it."""
    points = max(100 - sum(PENALTY[issue.severity] for issue in issues), 0)
    severities = {issue.severity for issue in issues}
    if IssueSeverity.CRITICAL in severities:
        return points, "critical"
    if IssueSeverity.WARNING in severities:
        return points, "degraded"
    return points, "healthy"

"""Monitoring: stats, metrics history, failure reasons, workers, health, alerts, and `/metrics` for Prometheus."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from corral.api.context import ApiServices
from corral.api.errors import problem
from corral.api.routing import PROBLEM_RESPONSES, AuditNote, audit_note, owner_router, problem_response
from corral.api.security import Principal, client_ip, require
from corral.monitoring.failures import Window
from corral.monitoring.prometheus import CONTENT_TYPE
from corral.monitoring.rules import Thresholds
from corral.monitoring.service import Monitoring
from corral.security.permissions import Permission
from corral.security.ratelimit import Budget

router = owner_router(prefix="/owner", tags=["monitoring"])
metrics_router = APIRouter(tags=["monitoring"])

Reader = Annotated[Principal, require(Permission.MONITORING_READ)]
AlertManager = Annotated[Principal, require(Permission.ALERTS_MANAGE)]
Note = Annotated[AuditNote, Depends(audit_note)]
Refresh = Annotated[bool, Query(description="skip the cache and recompute")]


def monitoring_of(api: ApiServices) -> Monitoring:
    """The monitoring services of this API process (the composition root's)."""
    return api.monitoring


def monitoring_service(request: Request) -> Monitoring:
    """The monitoring services of this API process (a FastAPI dependency)."""
    return monitoring_of(request.app.state.services)


Mon = Annotated[Monitoring, Depends(monitoring_service)]


async def queues_changed(api: ApiServices) -> None:
    """Drop the cached stats, metrics and health after a queue operation made through the API."""
    await monitoring_of(api).cache.invalidate()


@asynccontextmanager
async def alert_evaluation(api: ApiServices) -> AsyncIterator[None]:
    """Run the alert evaluator loop for as long as the API process serves (the lock elects one evaluator)."""
    evaluator = monitoring_of(api).evaluator()
    evaluator.start()
    try:
        yield
    finally:
        await evaluator.stop()


class Public(BaseModel):
    """Read from Corral's dataclasses."""

    model_config = ConfigDict(from_attributes=True)


class QueueStatsPublic(Public):
    """One queue's job counts by state."""

    name: str
    paused: bool
    counts: dict[str, int]
    backlog: int


class StatsPublic(Public):
    """Every queue's counts, the totals by state and the DLQ size; `cached` answers are at most 10 s old."""

    queues: list[QueueStatsPublic]
    totals: dict[str, int]
    dlq: int
    generated_at: int
    cached: bool = False


class TimingPublic(Public):
    """A duration summary in milliseconds."""

    count: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class MetricsPointPublic(Public):
    """One minute or hour; `at` is its start in epoch seconds."""

    at: int
    completed: int
    failed: int
    dead_lettered: int
    stalled: int
    error_rate: float | None
    processing: TimingPublic
    wait: TimingPublic
    rolling_avg_ms: float | None


class MetricsSummaryPublic(Public):
    """The whole window."""

    completed: int
    failed: int
    dead_lettered: int
    stalled: int
    throughput_per_minute: float
    failed_per_minute: float
    success_rate: float | None
    error_rate: float | None
    processing: TimingPublic
    wait: TimingPublic


class MetricsPublic(Public):
    """History and summary of one queue or job type, and the age of its oldest waiting job."""

    queue: str
    job_type: str | None
    granularity: str
    rolling_points: int
    points: list[MetricsPointPublic]
    summary: MetricsSummaryPublic
    oldest_waiting_age_seconds: float | None
    generated_at: int
    cached: bool = False


class FailureReasonPublic(Public):
    """One error fingerprint of one job type."""

    fingerprint: str
    queue: str
    job_type: str
    pattern: str
    sample: str
    failed_attempts: int
    dead_lettered: int
    last_seen: int


class FailuresPublic(Public):
    """The most frequent failure reasons over a window."""

    window: str
    queue: str | None
    job_type: str | None
    total_failed_attempts: int
    reasons: list[FailureReasonPublic]


class WorkerPublic(BaseModel):
    """A worker process: its last heartbeat and whether it is live or lost."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    active_jobs: int
    processed: int
    failed: int
    started_at: int
    last_heartbeat: int
    status: Literal["live", "lost"]
    seconds_since_heartbeat: float


class IssuePublic(Public):
    """A health issue: severity, the numbers behind it and what to do."""

    rule: str
    queue: str
    severity: str
    summary: str
    evidence: dict[str, Any]
    recommendation: str


class QueueHealthPublic(Public):
    """One queue's health."""

    queue: str
    score: int
    status: str
    issues: list[IssuePublic]


class HealthPublic(Public):
    """Overall and per-queue health, and the retention warnings (also among `issues`); `cached` answers are at most
    60 s old."""

    score: int
    status: str
    queues: list[QueueHealthPublic]
    issues: list[IssuePublic]
    generated_at: int
    retention: list[IssuePublic] = []
    cached: bool = False


class RetentionPublic(BaseModel):
    """What retention will trim within the horizon (CORRAL_RETENTION_WARNING_HOURS): one warning per store."""

    horizon_hours: int
    warnings: list[IssuePublic]
    generated_at: int


class AlertPublic(Public):
    """An alert: the issue that fired it, when, and when it resolved."""

    id: int
    key: str
    rule: str
    queue: str
    severity: str
    summary: str
    evidence: dict[str, Any]
    recommendation: str
    fired_at: int
    last_seen: int
    resolved_at: int | None
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None


class AlertTransitionPublic(Public):
    """One line of the alert history."""

    event: Literal["fired", "resolved"]
    at: int
    alert: AlertPublic


class AlertHistoryPublic(BaseModel):
    """Alert transitions, newest first."""

    items: list[AlertTransitionPublic]
    total: int


class AlertRulesPublic(BaseModel):
    """The alert rules' thresholds and the evaluator's policy, from settings."""

    rules: list[str]
    thresholds: dict[str, float | int]
    min_severity: str
    interval_seconds: float
    cooldown_seconds: float
    webhook: bool


@router.get("/stats", name="monitoring.stats", response_model=StatsPublic)
async def get_stats(monitoring: Mon, _: Reader, refresh: Refresh = False) -> StatsPublic:
    """Job counts of every queue in every state and the DLQ size; cached 10 s, dropped by queue operations."""
    stats, cached = await monitoring.stats.stats(refresh)
    return StatsPublic(
        queues=[QueueStatsPublic.model_validate(queue) for queue in stats.queues],
        totals=stats.totals,
        dlq=stats.dlq,
        generated_at=stats.generated_at,
        cached=cached,
    )


@router.get("/metrics/{queue}", name="monitoring.metrics", response_model=MetricsPublic)
async def get_metrics(
    queue: str,
    monitoring: Mon,
    _: Reader,
    job_type: Annotated[str | None, Query(max_length=128, description="one job type of the queue")] = None,
    granularity: Annotated[Literal["minute", "hour"], Query()] = "minute",
    points: Annotated[int, Query(ge=1, le=1440, description="minutes (<= 1440) or hours (<= 720)")] = 60,
    rolling: Annotated[int | None, Query(ge=1, le=720, description="rolling-average window, in points")] = None,
    refresh: Refresh = False,
) -> MetricsPublic:
    """Throughput, failures, processing and wait times per minute (24 h) or hour (30 days), with a rolling
    average of processing time and a summary of the window; cached 10 s."""
    report, cached = await monitoring.metrics(queue, job_type, granularity, points, rolling, refresh)
    result = MetricsPublic.model_validate(report)
    result.cached = cached
    return result


@router.get("/failures", name="monitoring.failures", response_model=FailuresPublic)
async def get_failures(
    monitoring: Mon,
    _: Reader,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    job_type: Annotated[str | None, Query(max_length=128)] = None,
    window: Annotated[Window, Query()] = "24h",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> FailuresPublic:
    """The most frequent error fingerprints per queue and job type over 1 h, 24 h or 7 d."""
    return FailuresPublic.model_validate(await monitoring.failure_reasons(queue, job_type, window, limit))


@router.get("/workers", name="monitoring.workers", response_model=list[WorkerPublic])
async def get_workers(monitoring: Mon, _: Reader) -> list[WorkerPublic]:
    """Every worker process with its last heartbeat; one silent for 20 s (CORRAL_WORKER_LOST_SECONDS) is lost."""
    return [
        WorkerPublic(
            **{key: value for key, value in vars(view.state).items() if key != "lost_announced"},
            status=view.status,
            seconds_since_heartbeat=view.seconds_since_heartbeat,
        )
        for view in await monitoring.workers.views()
    ]


@router.get("/health", name="monitoring.health", response_model=HealthPublic)
async def get_health(monitoring: Mon, _: Reader, refresh: Refresh = False) -> HealthPublic:
    """A 0-100 score and a status per queue and overall, with each issue's evidence and recommendation; cached 60 s."""
    report, cached = await monitoring.health.health(refresh)
    result = HealthPublic.model_validate(report)
    result.cached = cached
    return result


@router.get("/retention", name="monitoring.retention", response_model=RetentionPublic)
async def get_retention(
    monitoring: Mon,
    _: Reader,
    target: Annotated[Literal["dlq", "failed", "audit"] | None, Query(description="only this store")] = None,
    queue: Annotated[str | None, Query(max_length=64, description="only this queue's failed jobs")] = None,
) -> RetentionPublic:
    """DLQ entries, failed jobs and audit rows that retention will trim within the horizon, each with how many,
    by age or by count, and the oldest affected; computed now, not cached."""
    if queue is not None:
        monitoring.queue(queue)
    warnings = [
        issue
        for issue in await monitoring.retention.issues()
        if (target is None or issue.evidence["target"] == target)
        and (queue is None or (issue.rule == "retention_failed" and issue.queue == queue))
    ]
    return RetentionPublic(
        horizon_hours=monitoring.settings.retention_warning_hours,
        warnings=[IssuePublic.model_validate(issue) for issue in warnings],
        generated_at=int(time.time() * 1000),
    )


@router.get("/alerts", name="alerts.firing", response_model=list[AlertPublic])
async def get_alerts(monitoring: Mon, _: Reader) -> list[AlertPublic]:
    """Alerts firing now, oldest first."""
    firing = sorted((await monitoring.alerts.firing()).values(), key=lambda alert: alert.fired_at)
    return [AlertPublic.model_validate(alert) for alert in firing]


@router.post("/alerts/{alert_id}/acknowledge", name="alerts.acknowledge", response_model=AlertPublic)
async def acknowledge_alert(
    alert_id: Annotated[int, Path(ge=1, le=2**62, description="the firing alert's id")],
    monitoring: Mon,
    note: Note,
    principal: AlertManager,
) -> AlertPublic:
    """Acknowledge a firing alert: it keeps firing until its issue goes, and shows who is on it and since when.
    404 when no firing alert has that id; acknowledging twice keeps the first acknowledgement."""
    alert = await monitoring.alerts.acknowledge(alert_id, principal.actor, int(time.time() * 1000))
    note.resource, note.params, note.affected = f"alert:{alert.key}", {"id": alert_id}, 1
    return AlertPublic.model_validate(alert)


@router.get("/alerts/history", name="alerts.history", response_model=AlertHistoryPublic)
async def get_alert_history(
    monitoring: Mon,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertHistoryPublic:
    """Alerts fired and resolved, newest first."""
    items, total = await monitoring.alerts.history(limit, offset)
    return AlertHistoryPublic(items=[AlertTransitionPublic.model_validate(item) for item in items], total=total)


@router.get("/alerts/rules", name="alerts.rules", response_model=AlertRulesPublic)
async def get_alert_rules(monitoring: Mon, _: Reader) -> AlertRulesPublic:
    """The rules and thresholds alerts are evaluated with (CORRAL_HEALTH_* and CORRAL_ALERT_* settings)."""
    from corral.monitoring.retention import RETENTION_RULES
    from corral.monitoring.rules import RULES

    settings = monitoring.settings
    return AlertRulesPublic(
        rules=[rule.__name__ for rule in RULES] + list(RETENTION_RULES),
        thresholds={**vars(Thresholds.of(settings)), "retention_warning_hours": settings.retention_warning_hours},
        min_severity=settings.alert_min_severity,
        interval_seconds=settings.alert_interval_seconds,
        cooldown_seconds=settings.alert_cooldown_seconds,
        webhook=bool(settings.alert_webhook_url),
    )


@metrics_router.get(
    "/metrics",
    name="monitoring.prometheus",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
        401: PROBLEM_RESPONSES[401],
        404: problem_response("Disabled: no CORRAL_METRICS_TOKEN is set"),
        429: PROBLEM_RESPONSES[429],
    },
)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus exposition; needs `Authorization: Bearer <CORRAL_METRICS_TOKEN>` (404 while no token is set)."""
    api: ApiServices = request.app.state.services
    # Every request spends the address's budget before the token is compared: guesses are throttled (429).
    await api.limits.spend(Budget.METRICS, client_ip(request, api.settings), report=False)
    expected = api.settings.metrics_token.get_secret_value()
    if not expected:
        return problem(404, "not found", "/metrics is disabled: set CORRAL_METRICS_TOKEN to enable it")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return problem(
            401,
            "authentication required",
            "send the metrics token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="corral-metrics"'},
        )
    return Response(await monitoring_of(api).prometheus.render(), media_type=CONTENT_TYPE)

"""The alert evaluator: every API and worker process runs it; a Redis lock lets one of them evaluate at a time.

Whoever takes the lock computes the health report, fires an alert for each issue at or above the alerting
severity that is not already firing (nor cooling down after a recent resolve), resolves firing alerts whose issue
is gone, announces lost workers, and keeps the lock until one interval after it started: the cluster evaluates about
once per interval however many processes run the loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from dataclasses import asdict, dataclass, field

from redis.asyncio import Redis

from corral.keys import Keys
from corral.lifetime import end_task, set_within
from corral.monitoring.alerts import Alert, AlertStore, AlertTransition
from corral.monitoring.health import HealthService
from corral.monitoring.rules import IssueSeverity
from corral.monitoring.webhook import AlertWebhook
from corral.monitoring.workers import WorkerRegistry
from corral.realtime.bus import EventBus
from corral.realtime.events import EventDraft, Severity

logger = logging.getLogger(__name__)

LOCK_NAME = "alert-evaluator"
MAX_EVALUATION_SECONDS = 30

_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) <= 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


@dataclass
class Evaluation:
    """What one evaluation did."""

    fired: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    still_firing: list[Alert] = field(default_factory=list)
    lost_workers: list[str] = field(default_factory=list)


class AlertEvaluator:
    """Turns health issues into alerts, under a cluster-wide lock."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        health: HealthService,
        store: AlertStore,
        bus: EventBus,
        workers: WorkerRegistry,
        *,
        interval_seconds: float,
        cooldown_seconds: float,
        min_severity: str = "warning",
        webhook: AlertWebhook | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.health = health
        self.store = store
        self.bus = bus
        self.workers = workers
        self.interval_seconds = interval_seconds
        self.cooldown_seconds = cooldown_seconds
        self.alerting = {IssueSeverity.CRITICAL} if min_severity == "critical" else set(IssueSeverity)
        self.webhook = webhook
        self._release = redis.register_script(_RELEASE)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def evaluate(self) -> Evaluation | None:
        """Evaluate once if no other process is (or did within the interval); None when the lock was taken."""
        lock = self.keys.lock(LOCK_NAME)
        token = secrets.token_hex(8)
        started = time.monotonic()
        if not await self.redis.set(lock, token, nx=True, px=MAX_EVALUATION_SECONDS * 1000):
            return None
        try:
            return await self._evaluate()
        finally:
            remaining_ms = int((self.interval_seconds - (time.monotonic() - started)) * 1000)
            await self._release(keys=[lock], args=[token, remaining_ms])

    async def _evaluate(self) -> Evaluation:
        outcome = Evaluation()
        report = await self.health.compute()
        await self.health.store(report)
        now = int(time.time() * 1000)
        current = {issue.key: issue for issue in report.issues if issue.severity in self.alerting}
        firing = await self.store.firing()
        for key, issue in current.items():
            alert = firing.get(key)
            if alert is None:
                fired = await self.store.fire(issue, now)
                if fired is not None:
                    outcome.fired.append(fired)
                    await self._announce(AlertTransition("fired", now, fired))
            else:
                updated = alert.seen(issue, now)
                if await self.store.update(updated):
                    outcome.still_firing.append(updated)
        for key, alert in firing.items():
            if key not in current:
                resolved = await self.store.resolve(alert, now, self.cooldown_seconds)
                if resolved is not None:
                    outcome.resolved.append(resolved)
                    await self._announce(AlertTransition("resolved", now, resolved))
        lost = await self.workers.announce_lost(self.bus, now)
        outcome.lost_workers = [view.state.id for view in lost]
        return outcome

    async def _announce(self, transition: AlertTransition) -> None:
        alert = transition.alert
        severity = Severity.INFO if transition.event == "resolved" else Severity(alert.severity)
        await self.bus.publish(
            EventDraft(type=f"alert.{transition.event}", queue=alert.queue, severity=severity, data=asdict(alert))
        )
        if self.webhook is not None:
            await self.webhook.send(transition)

    def start(self) -> None:
        """Try to evaluate every interval until stopped."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="corral-alert-evaluator")

    async def _run(self) -> None:
        # A random first delay spreads the processes started together over the interval.
        delay = random.uniform(0, min(self.interval_seconds, 2.0))
        while not await set_within(self._stopping, delay):
            try:
                await self.evaluate()
            except Exception:
                logger.exception("alert evaluation failed")
            delay = self.interval_seconds

    async def stop(self) -> None:
        """Stop the loop once the evaluation in progress has finished (its transitions announced), then close.

        The loop is asked, not cancelled, first: a cancel can be lost inside a Redis call, and a cancelled
        evaluation could resolve an alert without announcing it. One that does not finish in 10 s is cancelled.
        """
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            await end_task(task, wait_seconds=10)
        if self.webhook is not None:
            await self.webhook.close()

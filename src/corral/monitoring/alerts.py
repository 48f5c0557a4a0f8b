"""Alerts in Redis: the firing set, fired once per condition, a cool-down after each resolve, and their history."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from redis.asyncio import Redis

from corral.errors import NotFoundError
from corral.keys import Keys
from corral.monitoring.rules import Evidence, HealthIssue


@dataclass(frozen=True)
class Alert:
    """A health issue that crossed the alerting severity: when it fired, what it saw last, when it resolved."""

    id: int
    key: str
    rule: str
    queue: str
    severity: str
    summary: str
    evidence: Evidence
    recommendation: str
    fired_at: int
    last_seen: int
    resolved_at: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None

    @classmethod
    def of(cls, alert_id: int, issue: HealthIssue, now_ms: int) -> Alert:
        """A new alert for an issue."""
        return cls(
            id=alert_id,
            key=issue.key,
            rule=issue.rule,
            queue=issue.queue,
            severity=issue.severity.value,
            summary=issue.summary,
            evidence=issue.evidence,
            recommendation=issue.recommendation,
            fired_at=now_ms,
            last_seen=now_ms,
        )

    def seen(self, issue: HealthIssue, now_ms: int) -> Alert:
        """The alert with the issue's latest severity, summary and evidence."""
        return replace(
            self,
            severity=issue.severity.value,
            summary=issue.summary,
            evidence=issue.evidence,
            recommendation=issue.recommendation,
            last_seen=now_ms,
        )

    def to_json(self) -> str:
        """The stored document."""
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> Alert:
        """Parse a stored document."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class AlertTransition:
    """One line of the alert history."""

    event: Literal["fired", "resolved"]
    at: int
    alert: Alert

    def to_json(self) -> str:
        """The stored document."""
        return json.dumps({"event": self.event, "at": self.at, "alert": asdict(self)["alert"]}, default=str)

    @classmethod
    def from_json(cls, text: str) -> AlertTransition:
        """Parse a stored document."""
        raw: dict[str, Any] = json.loads(text)
        return cls(raw["event"], int(raw["at"]), Alert(**raw["alert"]))


# KEYS: firing hash, cool-down marker, history list. ARGV: alert key, alert document, transition, history size.
_FIRE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return 1
"""

# KEYS: firing hash, cool-down marker, history list, acknowledgements. ARGV: alert key, transition, history size,
# cool-down ms.
_RESOLVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[4], ARGV[1])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[4]) end
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return 1
"""

# KEYS: firing hash, acknowledgements. ARGV: alert key, alert id, acknowledgement. Acknowledges only the alert
# of that id while it fires; the first acknowledgement stays. Returns 0 (not firing), 1 (done) or 2 (already).
_ACKNOWLEDGE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
if tostring(cjson.decode(current)['id']) ~= ARGV[2] then return 0 end
local known = redis.call('HGET', KEYS[2], ARGV[1])
if known and tostring(cjson.decode(known)['id']) == ARGV[2] then return 2 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: firing hash. ARGV: alert key, new document. Updates only an alert still firing.
_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class AlertStore:
    """Fires, updates and resolves alerts atomically, so concurrent evaluators never double-fire."""

    def __init__(self, redis: Redis, keys: Keys, history_size: int = 10_000) -> None:
        self.redis = redis
        self.keys = keys
        self.history_size = history_size
        self._fire = redis.register_script(_FIRE)
        self._resolve = redis.register_script(_RESOLVE)
        self._update = redis.register_script(_UPDATE)
        self._acknowledge = redis.register_script(_ACKNOWLEDGE)

    async def firing(self) -> dict[str, Alert]:
        """Every firing alert by key, with who acknowledged it, if anyone did."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.alerts_firing)
            pipe.hgetall(self.keys.alerts_acknowledged)
            raw, acks = await pipe.execute()
        found = {}
        for key, document in raw.items():
            alert = Alert.from_json(document)
            ack = json.loads(acks[key]) if key in acks else None
            if ack is not None and ack.get("id") == alert.id:
                alert = replace(alert, acknowledged_by=str(ack["by"]), acknowledged_at=int(ack["at"]))
            found[key] = alert
        return found

    async def acknowledge(self, alert_id: int, actor: str, now_ms: int) -> Alert:
        """Mark the firing alert `alert_id` as acknowledged by `actor` (the first acknowledgement stays).

        Raises NotFoundError when no firing alert has that id (it resolved, or never existed).
        """
        alert = next((a for a in (await self.firing()).values() if a.id == alert_id), None)
        if alert is not None:
            document = json.dumps({"id": alert_id, "by": actor, "at": now_ms}, separators=(",", ":"))
            done = await self._acknowledge(
                keys=[self.keys.alerts_firing, self.keys.alerts_acknowledged], args=[alert.key, alert_id, document]
            )
            if done:
                return (
                    (await self.firing())[alert.key]
                    if done == 2
                    else replace(alert, acknowledged_by=actor, acknowledged_at=now_ms)
                )
        raise NotFoundError(f"no firing alert #{alert_id}: it resolved, or never fired")

    async def fire(self, issue: HealthIssue, now_ms: int) -> Alert | None:
        """Fire an alert for `issue`; None when it is already firing or cooling down after a resolve."""
        alert = Alert.of(int(await self.redis.incr(self.keys.alerts_sequence)), issue, now_ms)
        fired = await self._fire(
            keys=[self.keys.alerts_firing, self.keys.alert_cooldown(alert.key), self.keys.alerts_history],
            args=[alert.key, alert.to_json(), AlertTransition("fired", now_ms, alert).to_json(), self.history_size],
        )
        return alert if fired else None

    async def update(self, alert: Alert) -> bool:
        """Store a firing alert's latest evidence; False if it resolved meanwhile."""
        return bool(await self._update(keys=[self.keys.alerts_firing], args=[alert.key, alert.to_json()]))

    async def resolve(self, alert: Alert, now_ms: int, cooldown_seconds: float) -> Alert | None:
        """Resolve a firing alert and start its cool-down; None when another evaluator resolved it first."""
        resolved = replace(alert, resolved_at=now_ms)
        done = await self._resolve(
            keys=[
                self.keys.alerts_firing,
                self.keys.alert_cooldown(alert.key),
                self.keys.alerts_history,
                self.keys.alerts_acknowledged,
            ],
            args=[
                alert.key,
                AlertTransition("resolved", now_ms, resolved).to_json(),
                self.history_size,
                int(cooldown_seconds * 1000),
            ],
        )
        return resolved if done else None

    async def history(self, limit: int = 100, offset: int = 0) -> tuple[list[AlertTransition], int]:
        """Transitions newest first, and how many the history holds."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(self.keys.alerts_history, offset, offset + limit - 1)
            pipe.llen(self.keys.alerts_history)
            rows, total = await pipe.execute()
        return [AlertTransition.from_json(row) for row in rows], int(total)

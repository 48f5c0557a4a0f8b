"""The realtime event envelope and its kinds; published by the runtime's hooks and by the services."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

ENVELOPE_VERSION = 1


class Severity(enum.StrEnum):
    """How much an event matters to an operator; clients can filter by a minimum severity."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order of severities, debug lowest."""
        return list(Severity).index(self)


class Channel(enum.StrEnum):
    """The five pub/sub channels: every event goes to OWNER (global) and to its topic's channel."""

    OWNER = "owner"
    QUEUES = "queues"
    WORKFLOWS = "workflows"
    ANALYTICS = "analytics"
    PLUGINS = "plugins"


TOPIC_BY_QUEUE = {"workflows": Channel.WORKFLOWS, "analytics": Channel.ANALYTICS, "plugins": Channel.PLUGINS}


@dataclass(frozen=True)
class EventDraft:
    """An event before publication: the bus assigns its id and time."""

    type: str
    queue: str | None = None
    job_id: str | None = None
    job_name: str | None = None
    severity: Severity = Severity.INFO
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Where it is published: the global channel and the topic channel of its queue (queues by default)."""
        topic = TOPIC_BY_QUEUE.get(self.queue or "", Channel.QUEUES)
        return Channel.OWNER, topic


@dataclass(frozen=True)
class Event:
    """A published event: a versioned envelope with a monotonically increasing id (a Redis stream id)."""

    id: str
    type: str
    time: int
    queue: str | None
    job_id: str | None
    job_name: str | None
    severity: Severity
    data: dict[str, Any]
    version: int = ENVELOPE_VERSION

    def to_json(self) -> str:
        """The envelope as JSON, as sent to WebSocket clients."""
        return json.dumps(
            {
                "v": self.version,
                "id": self.id,
                "type": self.type,
                "time": self.time,
                "queue": self.queue,
                "jobId": self.job_id,
                "jobName": self.job_name,
                "severity": self.severity.value,
                "data": self.data,
            },
            separators=(",", ":"),
            default=str,
        )

    @classmethod
    def from_json(cls, text: str) -> Event:
        """Parse an envelope published by the bus."""
        raw = json.loads(text)
        return cls(
            id=raw["id"],
            type=raw["type"],
            time=int(raw["time"]),
            queue=raw.get("queue"),
            job_id=raw.get("jobId"),
            job_name=raw.get("jobName"),
            severity=Severity(raw["severity"]),
            data=raw.get("data") or {},
            version=int(raw.get("v", ENVELOPE_VERSION)),
        )

"""The realtime event envelope, its types and severities; published by the runtime's hooks and by the services."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

ENVELOPE_VERSION = 1


class EventType(enum.StrEnum):
    """Every kind of event Corral publishes; the envelope's `type`."""

    JOB_QUEUED = "job.queued"
    JOB_STARTED = "job.started"
    JOB_PROGRESS = "job.progress"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_STALLED = "job.stalled"
    JOB_DELAYED = "job.delayed"
    DLQ_ADDED = "dlq.added"
    DLQ_REPLAYED = "dlq.replayed"
    DLQ_DELETED = "dlq.deleted"
    DLQ_CLEARED = "dlq.cleared"
    BULK_PROGRESS = "bulk.progress"
    QUEUE_PAUSED = "queue.paused"
    QUEUE_RESUMED = "queue.resumed"
    QUEUE_PURGED = "queue.purged"
    WORKER_ONLINE = "worker.online"
    WORKER_OFFLINE = "worker.offline"
    ALERT_FIRED = "alert.fired"
    ALERT_RESOLVED = "alert.resolved"


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
        return _RANKS[self]


_RANKS = {severity: index for index, severity in enumerate(Severity)}


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
    """An event before publication: the bus assigns its id and time.

    `topic` defaults to the queue's topic channel (workflows, analytics, plugins), else queues.
    """

    type: str
    queue: str | None = None
    job_id: str | None = None
    job_name: str | None = None
    severity: Severity = Severity.INFO
    data: dict[str, Any] = field(default_factory=dict)
    topic: Channel | None = None

    @property
    def topic_channel(self) -> Channel:
        """The topic channel of this event."""
        if self.topic is not None and self.topic is not Channel.OWNER:
            return self.topic
        return TOPIC_BY_QUEUE.get(self.queue or "", Channel.QUEUES)

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Where it is published: the global channel and its topic channel."""
        return Channel.OWNER, self.topic_channel

    @property
    def rooms(self) -> tuple[str, ...]:
        """The gateway rooms it belongs to: global, its topic's room and `queue:<name>`."""
        return event_rooms(self.queue, self.topic_channel.value)


def event_rooms(queue: str | None, topic: str | None) -> tuple[str, ...]:
    """Rooms of an event with this queue and topic: global, the topic's room (not `queues`), and `queue:<name>`."""
    rooms = ["global"]
    if topic and topic in TOPIC_ROOMS:
        rooms.append(topic)
    if queue:
        rooms.append(f"queue:{queue}")
    return tuple(rooms)


TOPIC_ROOMS = frozenset({Channel.WORKFLOWS.value, Channel.ANALYTICS.value, Channel.PLUGINS.value})


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
    topic: str | None = None

    @property
    def rooms(self) -> tuple[str, ...]:
        """The gateway rooms it belongs to."""
        return event_rooms(self.queue, self.topic)

    def to_json(self) -> str:
        """The envelope as JSON, as sent to WebSocket clients."""
        return json.dumps(
            {
                "v": self.version,
                "type": self.type,
                "queue": self.queue,
                "jobId": self.job_id,
                "jobName": self.job_name,
                "severity": self.severity.value,
                "topic": self.topic,
                "data": self.data,
                "id": self.id,
                "time": self.time,
            },
            separators=(",", ":"),
            default=str,
        )

    @classmethod
    def from_json(cls, text: str) -> Event:
        """Parse an envelope published by the bus."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        """Build from a parsed envelope."""
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
            topic=raw.get("topic"),
        )


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """A stream id (`<ms>-<seq>`) as a tuple that orders like the stream."""
    milliseconds, _, sequence = stream_id.partition("-")
    return int(milliseconds), int(sequence or 0)

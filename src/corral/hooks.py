"""Lifecycle hooks: the runtime and producer emit job events; monitoring, realtime and audit subscribe."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


class JobEventKind(enum.StrEnum):
    """What happened to a job."""

    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"
    STALLED = "stalled"
    DELAYED = "delayed"
    DEAD_LETTERED = "dead-lettered"


@dataclass(frozen=True)
class JobEvent:
    """One lifecycle event of one job."""

    kind: JobEventKind
    queue: str
    job_id: str
    name: str = ""
    attempt: int = 0
    at_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    detail: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[JobEvent], Awaitable[None] | None]


class HookBus:
    """Delivers job events to subscribers; a failing subscriber is logged and never fails the job."""

    def __init__(self) -> None:
        self._subscribers: dict[JobEventKind, list[Subscriber]] = defaultdict(list)

    def subscribe(self, callback: Subscriber, *kinds: JobEventKind) -> None:
        """Call `callback` for events of `kinds` (all kinds when none are given)."""
        for kind in kinds or tuple(JobEventKind):
            self._subscribers[kind].append(callback)

    def wants(self, kind: JobEventKind) -> bool:
        """Whether anyone listens to `kind`; lets hot paths skip building events nobody reads."""
        return bool(self._subscribers.get(kind))

    async def emit(self, event: JobEvent) -> None:
        """Deliver `event` to its subscribers in order of subscription."""
        for callback in self._subscribers.get(event.kind, ()):
            try:
                result = callback(event)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                logger.exception("hook subscriber %r failed on %s of job %s", callback, event.kind, event.job_id)

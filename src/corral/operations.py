"""Operator events: what an operator did, emitted once by the code that did it; audit and caches subscribe.

An action (a DLQ replay, a queue purge, an account disabled) runs inside `OperatorEvents.action(...)`, which
times it, records its outcome (`ok`, `denied`, `error ...`) and how many things it affected, and emits one
`OperatorEvent` to every subscriber: the audit trail writes a row, the monitoring cache drops what it affected.
The command line gives its own actor (`cli:<os user>` or `--actor`), so an action from a shell is audited like one
from the console.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from corral.errors import AuthenticationError, PermissionDeniedError

logger = logging.getLogger(__name__)

Subscriber = Callable[["OperatorEvent"], Awaitable[None]]


@dataclass(frozen=True)
class OperatorEvent:
    """One operator action and its outcome."""

    actor: str
    action: str
    resource: str
    params: dict[str, Any]
    affected: int
    result: str
    duration_ms: int
    source: str
    ip: str | None = None
    user_agent: str | None = None


@dataclass
class ActionNote:
    """What the action tells its event beyond what was known at its start."""

    resource: str
    params: dict[str, Any] = field(default_factory=dict)
    affected: int = 0


def cli_actor(explicit: str | None = None) -> str:
    """The actor of a command typed in a shell: `--actor` if given, else `cli:<os user>`."""
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


class OperatorEvents:
    """Runs operator actions and emits each one's event to the subscribers, once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber(event)` after every action."""
        self._subscribers.append(subscriber)

    async def emit(self, event: OperatorEvent) -> None:
        """Hand one event to every subscriber; a failing subscriber is logged, the others still run."""
        for subscriber in self._subscribers:
            try:
                await subscriber(event)
            except Exception:
                logger.exception("operator event %s by %s: a subscriber failed", event.action, event.actor)

    @asynccontextmanager
    async def action(
        self,
        actor: str,
        action: str,
        resource: str,
        params: dict[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> AsyncIterator[ActionNote]:
        """Run the body as one action; its event is emitted whether it succeeds or fails."""
        note = ActionNote(resource, dict(params or {}))
        started = time.perf_counter()
        result = "ok"
        try:
            yield note
        except (AuthenticationError, PermissionDeniedError):
            result = "denied"
            raise
        except BaseException as exc:
            result = f"error {type(exc).__name__}"
            raise
        finally:
            await self.emit(
                OperatorEvent(
                    actor=actor,
                    action=action,
                    resource=note.resource,
                    params=note.params,
                    affected=note.affected,
                    result=result,
                    duration_ms=int((time.perf_counter() - started) * 1000),
                    source=self.source,
                    ip=ip,
                    user_agent=user_agent,
                )
            )


def audit_subscriber(record: Callable[[Any], Awaitable[None]]) -> Subscriber:
    """A subscriber that writes each event as an audit row through `record` (an AuditTrail's `record`)."""
    from corral.security.audit import AuditEntry

    async def write(event: OperatorEvent) -> None:
        await record(
            AuditEntry(
                actor=event.actor,
                action=event.action,
                resource=event.resource,
                params={**event.params, "source": event.source},
                ip=event.ip,
                user_agent=event.user_agent,
                result=event.result,
                affected=event.affected,
                duration_ms=event.duration_ms,
            )
        )

    return write


# Actions on these resources change what monitoring shows (counts, backlog, DLQ size; a schedule's next run is a
# delayed job).
QUEUE_ACTIONS = ("queues.", "jobs.", "dlq.", "schedules.")


def cache_subscriber(invalidate: Callable[[], Awaitable[None]]) -> Subscriber:
    """A subscriber that drops cached stats, metrics and health after an action on queues, jobs or the DLQ."""

    async def drop(event: OperatorEvent) -> None:
        if event.result == "ok" and event.action.startswith(QUEUE_ACTIONS):
            await invalidate()

    return drop


def realtime_subscriber(publish: Callable[[Any], Awaitable[Any]]) -> Subscriber:
    """A subscriber that announces queue pauses, resumes and purges on the realtime bus (`EventBus.publish`).

    The DLQ service announces its own `dlq.*` events, with the entries they concern; they are not repeated here.
    """
    from corral.realtime.events import EventDraft, EventType, Severity

    async def announce(event: OperatorEvent) -> None:
        if event.result != "ok" or not event.resource.startswith("queue:"):
            return
        queue = event.resource.removeprefix("queue:")
        draft = None
        if event.action == "queues.pause":
            draft = EventDraft(EventType.QUEUE_PAUSED, queue=queue, severity=Severity.WARNING)
        elif event.action == "queues.resume":
            draft = EventDraft(EventType.QUEUE_RESUMED, queue=queue)
        elif event.action == "queues.purge" and event.params.get("stage") == "confirmed":
            draft = EventDraft(
                EventType.QUEUE_PURGED, queue, severity=Severity.WARNING, data={"removed": event.affected}
            )
        if draft is not None:
            await publish(draft)

    return announce

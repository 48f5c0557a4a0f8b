"""One client's conversation with the gateway, without the transport: frames out, messages in.

Frames (JSON text): `hello` first; then `latest` (the rooms' latest events) or, when resuming, the missed events
as `events` frames followed by `resumed` (or `gap` and `latest` when some were already trimmed); then live
`events` frames. Messages: `subscribe`/`unsubscribe` rooms, `filter` by severity, `ping`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from corral.errors import FieldError, InvalidRequestError
from corral.realtime.bus import EventBus
from corral.realtime.events import Severity, stream_id_key
from corral.realtime.hub import ClientStream, EventHub, StopReason, WireEvent
from corral.realtime.rooms import ClientFilter, parse_rooms, parse_severity

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 4_096
RESUME_PAGE = 1_000
_EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_ACTIONS = ("subscribe", "unsubscribe", "filter", "ping")


class BadMessage(ValueError):
    """A client message that is not a JSON object within the size limit (the connection is closed)."""


@dataclass(frozen=True)
class GatewayLimits:
    """The gateway's tunables, from settings."""

    client_queue: int = 2_000
    batch: int = 500
    batch_window_seconds: float = 0.01
    heartbeat_seconds: float = 15.0
    idle_timeout_seconds: float = 60.0


def parse_last_id(value: str | None) -> str | None:
    """A resume point: a stream id like `1718000000000-0`, or None."""
    if value is None or value == "":
        return None
    if not _EVENT_ID.match(value):
        raise InvalidRequestError(
            "last_id: an event id like 1718000000000-0", [FieldError("last_id", "an event id like 1718000000000-0")]
        )
    return value


def events_frame(events: Iterable[WireEvent], kind: str = "events", **extra: Any) -> str:
    """A frame carrying envelopes verbatim (no re-encoding)."""
    head = json.dumps({"type": kind, **extra}, separators=(",", ":"))[:-1]
    return head + ',"events":[' + ",".join(event.raw for event in events) + "]}"


def frame(kind: str, **fields: Any) -> str:
    """A control frame."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


class GatewaySession:
    """Feeds one client: latest events or a gap-free resume, then live events; answers its messages."""

    def __init__(
        self,
        hub: EventHub,
        bus: EventBus,
        queues: Collection[str],
        limits: GatewayLimits,
        event_filter: ClientFilter,
    ) -> None:
        self.hub = hub
        self.bus = bus
        self.queues = queues
        self.limits = limits
        self.stream = ClientStream(event_filter, limits.client_queue)

    @property
    def filter(self) -> ClientFilter:
        """The client's current rooms and minimum severity."""
        return self.stream.filter

    async def open(self, last_id: str | None) -> AsyncIterator[str]:
        """The frames a client gets on connecting; afterwards live events flow from `next_frame`."""
        yield frame(
            "hello",
            version=PROTOCOL_VERSION,
            rooms=sorted(self.filter.rooms),
            severity=self.filter.min_severity.value,
            heartbeatSeconds=self.limits.heartbeat_seconds,
            idleTimeoutSeconds=self.limits.idle_timeout_seconds,
        )
        if last_id is None:
            self.hub.attach(self.stream)
            yield await self._latest(self.filter.rooms, None)
            return
        async for resumed in self._resume(last_id):
            yield resumed

    async def _resume(self, last_id: str) -> AsyncIterator[str]:
        # Read the stream page by page; attach to the live feed only near its end, then read once more and drop
        # live events up to the last one read: every event once, none missing.
        cursor, count, attached = last_id, 0, False
        while True:
            page = await self.bus.envelopes_after(cursor, RESUME_PAGE)
            if page is None:
                if not attached:
                    self.hub.attach(self.stream)
                yield frame("gap", lastId=last_id, message="some events after this id are no longer retained")
                yield await self._latest(self.filter.rooms, None)
                return
            events = [WireEvent.parse(raw) for raw in page]
            if events:
                cursor = events[-1].id
            wanted = [event for event in events if self.filter.matches(event.rooms, event.severity_rank)]
            for start in range(0, len(wanted), self.limits.batch):
                yield events_frame(wanted[start : start + self.limits.batch])
            count += len(wanted)
            if len(page) < RESUME_PAGE:
                if attached:
                    break
                self.hub.attach(self.stream)
                attached = True
        self.stream.advance_floor(stream_id_key(cursor))
        yield frame("resumed", lastId=cursor, count=count)

    async def _latest(self, rooms: Iterable[str], previous: ClientFilter | None) -> str:
        """The latest events of `rooms` that pass the filter (and that `previous` would not have delivered).

        Called once the client is attached with its new filter: live events that are also in the snapshot are
        skipped, so none is missed and none is sent twice.
        """
        seen: dict[str, WireEvent] = {}
        for room in sorted(rooms):
            for raw in await self.bus.latest_envelopes(room):
                event = WireEvent.parse(raw)
                if not self.filter.matches(event.rooms, event.severity_rank):
                    continue
                if previous is not None and previous.matches(event.rooms, event.severity_rank):
                    continue
                seen[event.id] = event
        ordered = sorted(seen.values(), key=lambda event: event.key)
        self.stream.skip({event.key for event in ordered})
        return events_frame(ordered, "latest", rooms=sorted(rooms))

    async def next_frame(self) -> str | StopReason:
        """The next frame of live events (up to `batch` of them), or why the client is no longer fed."""
        events = await self.stream.take(self.limits.batch)
        if not events:
            return self.stream.stop_reason or StopReason.SHUTDOWN
        if len(events) < self.limits.batch and self.limits.batch_window_seconds > 0:
            # Gather what follows for a few milliseconds: one frame per client per window instead of one per event
            # keeps the cost of fan-out flat as the rate grows.
            await asyncio.sleep(self.limits.batch_window_seconds)
            events.extend(self.stream.take_nowait(self.limits.batch - len(events)))
        return events_frame(events)

    async def handle(self, text: str | bytes) -> list[str]:
        """Answer one client message; invalid content gets an `error` frame naming the field."""
        message = _decode(text)
        try:
            return await self._apply(message)
        except InvalidRequestError as exc:
            errors = [{"field": error.field, "reason": error.reason} for error in exc.errors]
            return [frame("error", message=str(exc), errors=errors, action=message.get("action"))]

    async def _apply(self, message: dict[str, Any]) -> list[str]:
        action = message.get("action")
        if action not in _ACTIONS:
            raise InvalidRequestError(
                f"action: one of {', '.join(_ACTIONS)}", [FieldError("action", f"one of {', '.join(_ACTIONS)}")]
            )
        allowed = {"action", "rooms"} if action in ("subscribe", "unsubscribe") else {"action"}
        if action == "filter":
            allowed = {"action", "severity"}
        unknown = sorted(set(message) - allowed)
        if unknown:
            raise InvalidRequestError(
                f"{unknown[0]}: not a field of {action}",
                [FieldError(name, f"not a field of {action}") for name in unknown],
            )
        if action == "ping":
            return [frame("pong")]
        if action == "filter":
            if "severity" not in message:
                raise InvalidRequestError("severity: required", [FieldError("severity", "required")])
            severity: Severity = parse_severity(message["severity"])
            self.stream.filter = self.filter.with_severity(severity)
            return [frame("filter", severity=severity.value)]
        rooms = parse_rooms(message.get("rooms"), self.queues)
        previous = self.filter
        if action == "unsubscribe":
            self.stream.filter = previous.with_rooms(previous.rooms - rooms)
            return [frame("unsubscribed", rooms=sorted(rooms), current=sorted(self.filter.rooms))]
        added = rooms - previous.rooms
        self.stream.filter = previous.with_rooms(previous.rooms | rooms)
        replies = [frame("subscribed", rooms=sorted(rooms), current=sorted(self.filter.rooms))]
        if added:
            replies.append(await self._latest(added, previous))
        return replies

    def close(self) -> None:
        """Stop receiving live events."""
        self.hub.detach(self.stream)
        self.stream.stop(StopReason.SHUTDOWN)


def _decode(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        raise BadMessage("messages are JSON text frames, not binary")
    if len(text) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"a message is at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage('a message is a JSON object like {"action": "ping"}') from None
    if not isinstance(message, dict):
        raise BadMessage('a message is a JSON object like {"action": "ping"}')
    return message

"""The gateway's process-wide subscriber: ONE Redis pub/sub subscription fanned out to bounded per-client queues.

The hub never waits for a client: each event is offered to every client's queue without blocking, and a client
whose queue is full is stopped as too slow (its queue is emptied at once), so a slow client neither delays the
others nor grows memory. After a reconnection to Redis, the hub reads what it missed from the retained stream.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from corral.connection import pubsub_of
from corral.keys import Keys
from corral.realtime.bus import EventBus, channel_envelopes
from corral.realtime.events import Channel, Severity, event_rooms, stream_id_key
from corral.realtime.rooms import ClientFilter

logger = logging.getLogger(__name__)

BACKFILL_PAGE = 1_000
_SEVERITY_RANKS = {severity.value: severity.rank for severity in Severity}


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One published envelope, parsed once per process: its text as sent to clients and what filters need."""

    raw: str
    id: str
    key: tuple[int, int]
    rooms: tuple[str, ...]
    severity_rank: int

    @classmethod
    def parse(cls, raw: str) -> WireEvent:
        """Read an envelope published by the bus."""
        body: dict[str, Any] = json.loads(raw)
        event_id = str(body["id"])
        return cls(
            raw=raw,
            id=event_id,
            key=stream_id_key(event_id),
            rooms=event_rooms(body.get("queue"), body.get("topic")),
            severity_rank=_SEVERITY_RANKS.get(str(body.get("severity")), 0),
        )


class StopReason(enum.StrEnum):
    """Why the hub stopped feeding a client."""

    TOO_SLOW = "too-slow"
    EVENTS_LOST = "events-lost"
    SHUTDOWN = "shutdown"


class ClientStream:
    """One client's bounded queue of live events, filtered by its rooms and severity."""

    def __init__(self, event_filter: ClientFilter, capacity: int) -> None:
        self.filter = event_filter
        self.capacity = capacity
        self.floor: tuple[int, int] = (0, 0)
        self._skip: set[tuple[int, int]] = set()
        self._skip_max: tuple[int, int] = (0, 0)
        self.stop_reason: StopReason | None = None
        self._events: deque[WireEvent] = deque()
        self._ready = asyncio.Event()
        self.stopped = asyncio.Event()

    def offer(self, event: WireEvent) -> None:
        """Queue `event` if it passes the filter; a full queue stops the client as too slow."""
        if self.stop_reason is not None or event.key <= self.floor:
            return
        if self._skip:
            if event.key <= self._skip_max:
                if event.key in self._skip:
                    return
            else:  # publication order: no skipped event can come after this one
                self._skip.clear()
        if not self.filter.matches(event.rooms, event.severity_rank):
            return
        if len(self._events) >= self.capacity:
            self.stop(StopReason.TOO_SLOW)
            return
        self._events.append(event)
        if len(self._events) == 1:
            self._ready.set()

    def stop(self, reason: StopReason) -> None:
        """Stop feeding this client and release what it holds."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._events.clear()
        self._ready.set()
        self.stopped.set()

    def advance_floor(self, key: tuple[int, int]) -> None:
        """Never deliver events at or before `key` (already sent from the retained stream)."""
        self.floor = max(self.floor, key)
        while self._events and self._events[0].key <= self.floor:
            self._events.popleft()

    def skip(self, keys: set[tuple[int, int]]) -> None:
        """Never deliver these events (already sent in a snapshot), whether queued now or offered later."""
        if not keys:
            return
        self._skip |= keys
        self._skip_max = max(self._skip_max, *keys)
        if any(event.key in keys for event in self._events):
            self._events = deque(event for event in self._events if event.key not in keys)

    @property
    def pending(self) -> int:
        """Events queued and not yet taken."""
        return len(self._events)

    async def take(self, limit: int) -> list[WireEvent]:
        """Wait for events and return up to `limit` of them, oldest first; empty once stopped."""
        while not self._events:
            if self.stop_reason is not None:
                return []
            self._ready.clear()
            await self._ready.wait()
        return self.take_nowait(limit)

    def take_nowait(self, limit: int) -> list[WireEvent]:
        """Up to `limit` queued events, oldest first, without waiting."""
        count = min(limit, len(self._events))
        return [self._events.popleft() for _ in range(count)]


class EventHub:
    """Subscribes once to the global channel and offers every event to the attached clients."""

    def __init__(self, redis: Redis, keys: Keys, bus: EventBus, *, reconnect_delay: float = 0.5) -> None:
        self.redis = redis
        self.keys = keys
        self.bus = bus
        self.reconnect_delay = reconnect_delay
        self._clients: set[ClientStream] = set()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._last_key: tuple[int, int] = (0, 0)
        self._last_id = "0-0"
        self.subscriptions = 0

    def start(self) -> None:
        """Start subscribing in the background (retrying while Redis is unreachable); see `wait_subscribed`."""
        self._reader = asyncio.create_task(self._read_forever(), name="corral-realtime-hub")

    async def wait_subscribed(self) -> None:
        """Return once the pub/sub subscription is active (clients rely on it before reading the stream)."""
        waiter = asyncio.create_task(self._subscribed.wait())
        assert self._reader is not None
        done, _ = await asyncio.wait({waiter, self._reader}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            self._reader.result()  # re-raises why the reader ended
            raise RuntimeError("realtime hub stopped")

    async def close(self) -> None:
        """Stop every client, unsubscribe and release the connection."""
        for client in list(self._clients):
            client.stop(StopReason.SHUTDOWN)
        self._clients.clear()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        await self._drop_pubsub()

    def attach(self, client: ClientStream) -> None:
        """Start offering events to `client`."""
        self._clients.add(client)

    def detach(self, client: ClientStream) -> None:
        """Stop offering events to `client`."""
        self._clients.discard(client)

    @property
    def client_count(self) -> int:
        """Clients attached now."""
        return len(self._clients)

    def dispatch(self, event: WireEvent) -> None:
        """Offer one event to every client, in publication order, each event once."""
        if event.key <= self._last_key:
            return
        self._last_key, self._last_id = event.key, event.id
        stopped = []
        for client in self._clients:
            client.offer(event)
            if client.stop_reason is not None:
                stopped.append(client)
        for client in stopped:
            self._clients.discard(client)

    async def _read_forever(self) -> None:
        channel = self.keys.channel(Channel.OWNER.value)
        while True:
            try:
                pubsub = self._pubsub = await pubsub_of(self.redis)
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "message":
                        for envelope in channel_envelopes(message["data"]):
                            self.dispatch(WireEvent.parse(envelope))
                    elif kind == "subscribe":
                        await self._on_subscribed()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                logger.warning("realtime subscription lost (%s); reconnecting", exc)
            except Exception:
                logger.exception("realtime hub failed; resubscribing")
            self._subscribed.clear()
            await self._drop_pubsub()
            await asyncio.sleep(self.reconnect_delay)

    async def _on_subscribed(self) -> None:
        self.subscriptions += 1
        if self.subscriptions > 1:
            await self._backfill()
        elif self._last_id == "0-0":
            # A later backfill starts from here, not from the stream's beginning; live dedupe is left alone, so
            # events published since the subscription began are still delivered.
            self._last_id = await self.bus.last_id()
        self._subscribed.set()

    async def _backfill(self) -> None:
        """Deliver what was published while the subscription was down, from the retained stream."""
        while True:
            rows = await self.bus.envelopes_after(self._last_id, BACKFILL_PAGE)
            if rows is None:
                logger.warning("realtime events were trimmed while the subscription was down; clients must resume")
                for client in list(self._clients):
                    client.stop(StopReason.EVENTS_LOST)
                self._clients.clear()
                self._last_id = await self.bus.last_id()
                self._last_key = stream_id_key(self._last_id)
                return
            for raw in rows:
                self.dispatch(WireEvent.parse(raw))
            if len(rows) < BACKFILL_PAGE:
                return

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except (RedisError, OSError):
                pass

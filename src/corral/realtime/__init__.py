"""Realtime events: the envelope, the Redis event bus and (in the API) the owner WebSocket gateway."""

from corral.realtime.bus import EventBus
from corral.realtime.events import Channel, Event, EventDraft, Severity

__all__ = ["Channel", "Event", "EventBus", "EventDraft", "Severity"]
